/**
 * OpenSSH public keys (RFC 4253 §6.6, RFC 5656, RFC 8709): the `type base64 comment` lines people
 * hand in, the key blobs inside certificates and KRLs, and how Keyward's CA keys in the token sign
 * the way OpenSSH verifies (RFC 8332 rsa-sha2-512, RFC 5656 ECDSA, RFC 8709 Ed25519).
 */
import { createHash, createPublicKey, type KeyObject } from "node:crypto";
import { BadRequestError, PolicyError } from "../errors/index.js";
import { publicKeyProblem } from "../pki/goodkey.js";
import type { KeyType, SigningAlgorithm } from "../pki/key-types.js";
import { SshFormatError, SshReader, SshWriter } from "./wire.js";

/** Key families an SSH profile may allow (`keyTypes`). */
export const SSH_KEY_FAMILIES = ["ed25519", "ecdsa", "rsa"] as const;
export type SshKeyFamily = (typeof SSH_KEY_FAMILIES)[number];

const CURVES = {
  nistp256: { crv: "P-256", bytes: 32 },
  nistp384: { crv: "P-384", bytes: 48 },
  nistp521: { crv: "P-521", bytes: 66 },
} as const;
type Curve = keyof typeof CURVES;

/** A public key as OpenSSH sees it and as Keyward checks it. */
export interface SshPublicKey {
  /** `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`, … */
  algorithm: string;
  family: SshKeyFamily;
  /** Modulus length for RSA, curve size for ECDSA, 256 for Ed25519. */
  bits: number;
  /** The wire blob: `string algorithm` followed by the key's own fields. */
  blob: Buffer;
  /** The key's fields after the algorithm name: what a certificate carries after its nonce. */
  fields: Buffer;
  /** DER SubjectPublicKeyInfo of the same key (blocked keys are SPKI SHA-256 hashes). */
  spki: Buffer;
  /** `SHA256:…` as `ssh-keygen -l` prints it. */
  fingerprint: string;
}

const b64u = (b: Buffer) => b.toString("base64url");

/** `SHA256:<unpadded base64>` of a key blob, as OpenSSH prints fingerprints. */
export function fingerprintOf(blob: Buffer): string {
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** Reads one OpenSSH public key line (`type base64 [comment]`) or a bare base64 blob. */
export function parsePublicKeyLine(input: string): SshPublicKey {
  const line = input.trim();
  if (line.includes("\n")) throw new BadRequestError("publicKey: give one OpenSSH public key line, not several");
  const parts = line.split(/\s+/);
  const [label, encoded] = parts.length >= 2 ? parts : [undefined, parts[0]];
  if (!encoded || !/^[A-Za-z0-9+/]+={0,2}$/.test(encoded))
    throw new BadRequestError("publicKey: not an OpenSSH public key line (`ssh-ed25519 AAAA… comment`)");
  const blob = Buffer.from(encoded, "base64");
  const key = parsePublicKeyBlob(blob);
  if (label !== undefined && label !== key.algorithm)
    throw new BadRequestError(`publicKey: the line says ${label} but the key inside is ${key.algorithm}`);
  return key;
}

/** Reads a key blob; refuses what OpenSSH certificates must not carry (DSA, RSA < 2048, certificates). */
export function parsePublicKeyBlob(blob: Buffer): SshPublicKey {
  let reader: SshReader;
  let algorithm: string;
  try {
    reader = new SshReader(blob);
    algorithm = reader.text("key type");
  } catch {
    throw new BadRequestError("publicKey: the key blob is malformed");
  }
  if (algorithm === "ssh-dss")
    throw new PolicyError("publicKey: DSA keys are refused (1024-bit, SHA-1; removed from OpenSSH 9.8)");
  if (algorithm.includes("-cert-v01@openssh.com"))
    throw new BadRequestError("publicKey: this is a certificate; give the plain public key (the .pub file)");
  if (algorithm.startsWith("sk-"))
    throw new PolicyError(`publicKey: ${algorithm} (FIDO security keys) is not supported yet`);
  try {
    let family: SshKeyFamily;
    let bits: number;
    let keyObject: KeyObject;
    if (algorithm === "ssh-ed25519") {
      const pk = reader.string("Ed25519 key");
      if (pk.length !== 32) throw new SshFormatError(`Ed25519 key of ${pk.length} bytes`);
      family = "ed25519";
      bits = 256;
      keyObject = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: b64u(pk) }, format: "jwk" });
    } else if (algorithm.startsWith("ecdsa-sha2-")) {
      const curve = reader.text("curve") as Curve;
      const spec = CURVES[curve];
      if (!spec || algorithm !== `ecdsa-sha2-${curve}`)
        throw new PolicyError(`publicKey: unsupported ECDSA key ${algorithm} (curve ${curve})`);
      const q = reader.string("EC point");
      if (q.length !== 1 + 2 * spec.bytes || q[0] !== 4) throw new SshFormatError("EC point is not uncompressed");
      family = "ecdsa";
      bits = curve === "nistp521" ? 521 : spec.bytes * 8;
      keyObject = createPublicKey({
        key: {
          kty: "EC",
          crv: spec.crv,
          x: b64u(q.subarray(1, 1 + spec.bytes)),
          y: b64u(q.subarray(1 + spec.bytes)),
        },
        format: "jwk",
      });
    } else if (algorithm === "ssh-rsa") {
      const e = reader.mpint("RSA exponent");
      const n = reader.mpint("RSA modulus");
      family = "rsa";
      bits = n.length * 8 - Math.clz32(n[0]!) + 24;
      if (bits < 2048) throw new PolicyError(`publicKey: RSA keys of ${bits} bits are refused (at least 2048)`);
      keyObject = createPublicKey({ key: { kty: "RSA", n: b64u(n), e: b64u(e) }, format: "jwk" });
      const problem = publicKeyProblem(keyObject);
      if (problem) throw new PolicyError(`publicKey: ${problem}`);
    } else {
      throw new PolicyError(`publicKey: unsupported key type ${algorithm}`);
    }
    reader.end("the public key");
    const nameLength = 4 + Buffer.byteLength(algorithm);
    return {
      algorithm,
      family,
      bits,
      blob: Buffer.from(blob),
      fields: Buffer.from(blob.subarray(nameLength)),
      spki: keyObject.export({ type: "spki", format: "der" }),
      fingerprint: fingerprintOf(blob),
    };
  } catch (error) {
    if (error instanceof PolicyError || error instanceof BadRequestError) throw error;
    throw new BadRequestError(`publicKey: malformed ${algorithm} key (${(error as Error).message})`);
  }
}

/** The OpenSSH key blob of a DER SubjectPublicKeyInfo (Keyward's CA keys, keys of X.509 certificates). */
export function blobFromSpki(spki: Buffer): Buffer {
  const key = createPublicKey({ key: spki, format: "der", type: "spki" });
  const jwk = key.export({ format: "jwk" });
  const w = new SshWriter();
  const bytes = (v: string | undefined) => Buffer.from(v ?? "", "base64url");
  switch (key.asymmetricKeyType) {
    case "ed25519":
      return w.string("ssh-ed25519").string(bytes(jwk.x)).finish();
    case "ec": {
      const curve = ({ "P-256": "nistp256", "P-384": "nistp384", "P-521": "nistp521" } as const)[
        jwk.crv as "P-256" | "P-384" | "P-521"
      ];
      if (!curve) throw new Error(`no OpenSSH form for EC curve ${jwk.crv}`);
      const point = Buffer.concat([Buffer.from([4]), bytes(jwk.x), bytes(jwk.y)]);
      return w.string(`ecdsa-sha2-${curve}`).string(curve).string(point).finish();
    }
    case "rsa":
      return w.string("ssh-rsa").mpint(bytes(jwk.e)).mpint(bytes(jwk.n)).finish();
    default:
      throw new Error(`no OpenSSH form for ${key.asymmetricKeyType} keys`);
  }
}

const caBlobs = new Map<string, Buffer>();

/** blobFromSpki for the CA keys, which sign (and are linted against) every certificate: derived once each. */
export function caKeyBlob(spki: Buffer): Buffer {
  const id = spki.toString("base64");
  let blob = caBlobs.get(id);
  if (!blob) {
    blob = blobFromSpki(spki);
    // A handful of CA keys exist; the bound only keeps a misuse from growing the map.
    if (caBlobs.size < 64) caBlobs.set(id, blob);
  }
  return blob;
}

/** `type base64 comment`, as in an authorized_keys or .pub file. */
export function publicKeyLine(blob: Buffer, comment?: string): string {
  const type = new SshReader(blob).text();
  return `${type} ${blob.toString("base64")}${comment ? ` ${comment}` : ""}`;
}

/**
 * How a CA key of this type signs for OpenSSH: the token's algorithm and the SSH signature name.
 * RSA signs rsa-sha2-512 (ssh-rsa, SHA-1, is refused by OpenSSH ≥ 8.8).
 */
export function caSignatureAlgorithm(keyType: KeyType): { sshName: string; signing: SigningAlgorithm } {
  switch (keyType) {
    case "ed25519":
      return { sshName: "ssh-ed25519", signing: { name: "Ed25519" } };
    case "p256":
      return { sshName: "ecdsa-sha2-nistp256", signing: { name: "ECDSA", hash: "SHA-256" } };
    case "p384":
      return { sshName: "ecdsa-sha2-nistp384", signing: { name: "ECDSA", hash: "SHA-384" } };
    default:
      return { sshName: "rsa-sha2-512", signing: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-512" } };
  }
}

/** The SSH signature blob of a raw token signature (ECDSA r||s becomes two mpints). */
export function encodeSignature(keyType: KeyType, raw: Buffer): Buffer {
  const { sshName } = caSignatureAlgorithm(keyType);
  if (sshName.startsWith("ecdsa-")) {
    const half = raw.length / 2;
    const inner = new SshWriter().mpint(raw.subarray(0, half)).mpint(raw.subarray(half)).finish();
    return new SshWriter().string(sshName).string(inner).finish();
  }
  return new SshWriter().string(sshName).string(raw).finish();
}

/**
 * The CA key types to try, best first: Ed25519 where the token can, else ECDSA P-256, else RSA.
 * One place, so the HSM capability profile can answer here later instead of trying in turn.
 */
export function caKeyTypeCandidates(configured: KeyType | "auto"): KeyType[] {
  return configured === "auto" ? ["ed25519", "p256", "rsa3072"] : [configured];
}
