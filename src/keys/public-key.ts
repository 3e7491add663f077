import type { JsonWebKey } from "node:crypto";
import { toPem } from "../pki/pem.js";
import { spkiFromDer } from "../pki/spki.js";

export const PUBLIC_KEY_FORMATS = ["pem", "jwk", "ssh"] as const;
export type PublicKeyFormat = (typeof PUBLIC_KEY_FORMATS)[number];

/** SPKI DER as a PEM `PUBLIC KEY` block (what `openssl pkey -pubin` and `dgst -verify` read). */
export function publicKeyPem(spki: Buffer): string {
  return toPem(spki, "PUBLIC KEY");
}

/** The public JWK (RFC 7517) with Keyward's extra members (kid, use, alg when there is one). */
export function publicKeyJwk(spki: Buffer, extra: { kid: string; use: "sig" | "enc"; alg?: string }): JsonWebKey {
  return { ...spkiFromDer(spki).export({ format: "jwk" }), ...extra };
}

/** One line of an OpenSSH authorized_keys file (RFC 4253 §6.6, RFC 5656 §3.1, RFC 8709 §4). */
export function publicKeySsh(spki: Buffer, comment: string): string {
  const jwk = spkiFromDer(spki).export({ format: "jwk" });
  const b = (value: string | undefined) => Buffer.from(value ?? "", "base64url");
  let name: string;
  let fields: Buffer[];
  switch (jwk.kty) {
    case "RSA":
      name = "ssh-rsa";
      fields = [sshString(name), sshMpint(b(jwk.e)), sshMpint(b(jwk.n))];
      break;
    case "OKP":
      name = "ssh-ed25519";
      fields = [sshString(name), sshString(b(jwk.x))];
      break;
    default: {
      const curve = jwk.crv === "P-384" ? "nistp384" : "nistp256";
      name = `ecdsa-sha2-${curve}`;
      fields = [sshString(name), sshString(curve), sshString(Buffer.concat([Buffer.from([4]), b(jwk.x), b(jwk.y)]))];
    }
  }
  return `${name} ${Buffer.concat(fields).toString("base64")} ${comment}`;
}

function sshString(value: string | Buffer): Buffer {
  const bytes = typeof value === "string" ? Buffer.from(value) : value;
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

/** A positive mpint: no leading zeros, one zero byte when the top bit is set. */
function sshMpint(magnitude: Buffer): Buffer {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  const trimmed = magnitude.subarray(i);
  return sshString(trimmed[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}
