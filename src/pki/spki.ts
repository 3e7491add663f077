import { createHash, createPublicKey, type JsonWebKey, type KeyObject } from "node:crypto";
import type { KeyType } from "./key-types.js";

/** Recognise the key type of a public key, or undefined for keys Keyward does not handle. */
export function keyTypeOf(key: KeyObject): KeyType | undefined {
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case "ec":
      if (details.namedCurve === "prime256v1") return "p256";
      if (details.namedCurve === "secp384r1") return "p384";
      return undefined;
    case "ed25519":
      return "ed25519";
    case "rsa":
      if (details.modulusLength === 2048) return "rsa2048";
      if (details.modulusLength === 3072) return "rsa3072";
      if (details.modulusLength === 4096) return "rsa4096";
      return undefined;
    default:
      return undefined;
  }
}

/** A readable description such as "RSA 1024" or "EC secp256k1", for error messages. */
export function describeKey(key: KeyObject): string {
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case "rsa":
    case "rsa-pss":
      return `${key.asymmetricKeyType.toUpperCase()} ${details.modulusLength ?? "?"}`;
    case "ec":
      return `EC ${details.namedCurve ?? "unknown curve"}`;
    default:
      return key.asymmetricKeyType ?? "unknown";
  }
}

export function spkiSha256Hex(spkiDer: Uint8Array): string {
  return createHash("sha256").update(spkiDer).digest("hex");
}

/**
 * The exact DER before the key of the SPKIs almost every request carries (an uncompressed P-256 or
 * P-384 point, an Ed25519 key), and the JWK each becomes. Importing such a key from its JWK skips
 * OpenSSL 3's DER decoder framework: a third less CPU for the import (75 vs 112 µs for P-256 in the
 * `issuance` bench), the same on-curve check (a point off the curve is refused either way,
 * `test/unit/spki.test.ts`). Other SPKIs take the decoder.
 */
const JWK_SPKIS: Array<{ prefix: Buffer; jwk: (key: Buffer) => JsonWebKey | undefined }> = [
  { prefix: Buffer.from("3059301306072a8648ce3d020106082a8648ce3d030107034200", "hex"), jwk: ecJwk("P-256") },
  { prefix: Buffer.from("3076301006072a8648ce3d020106052b81040022036200", "hex"), jwk: ecJwk("P-384") },
  {
    prefix: Buffer.from("302a300506032b6570032100", "hex"),
    jwk: (key) => ({ kty: "OKP", crv: "Ed25519", x: key.toString("base64url") }),
  },
];

/** An uncompressed point (0x04 ‖ x ‖ y) as a JWK; anything else is left to the decoder. */
function ecJwk(crv: string) {
  return (point: Buffer): JsonWebKey | undefined => {
    const size = (point.length - 1) / 2;
    if (point[0] !== 0x04) return undefined;
    return {
      kty: "EC",
      crv,
      x: point.subarray(1, 1 + size).toString("base64url"),
      y: point.subarray(1 + size).toString("base64url"),
    };
  };
}

export function spkiFromDer(spkiDer: Uint8Array): KeyObject {
  const der = Buffer.from(spkiDer.buffer, spkiDer.byteOffset, spkiDer.byteLength);
  // Each prefix starts with the SEQUENCE's short-form length: an SPKI of exactly that length has
  // exactly the key the prefix announces after it (no trailing bytes, nothing short).
  if (der.length === (der[1] ?? 0) + 2) {
    for (const { prefix, jwk } of JWK_SPKIS) {
      if (!der.subarray(0, prefix.length).equals(prefix)) continue;
      const key = jwk(der.subarray(prefix.length));
      if (key) return createPublicKey({ key, format: "jwk" });
    }
  }
  return createPublicKey({ key: Buffer.from(spkiDer), format: "der", type: "spki" });
}

/** A standalone ArrayBuffer copy of the bytes: what @peculiar/x509 and pkijs take as BufferSource. */
export function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}
