import { createHash, createPublicKey, type JsonWebKey, KeyObject, webcrypto } from "node:crypto";
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

/** The exact DER before an uncompressed P-256 or P-384 point in the SPKIs almost every request carries. */
const EC_POINT_SPKIS = [
  { prefix: Buffer.from("3059301306072a8648ce3d020106082a8648ce3d030107034200", "hex"), namedCurve: "P-256" },
  { prefix: Buffer.from("3076301006072a8648ce3d020106052b81040022036200", "hex"), namedCurve: "P-384" },
] as const;
const ED25519_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

/**
 * Those prefixes, and an Ed25519 key's, with the JWK each key becomes. Importing such a key from
 * its JWK skips OpenSSL 3's DER decoder framework: a third less CPU for the import (75 vs 112 µs
 * for P-256 in the `issuance` bench), the same on-curve check (a point off the curve is refused
 * either way, `test/unit/spki.test.ts`). Other SPKIs take the decoder.
 */
const JWK_SPKIS: Array<{ prefix: Buffer; jwk: (key: Buffer) => JsonWebKey | undefined }> = [
  ...EC_POINT_SPKIS.map(({ prefix, namedCurve }) => ({ prefix, jwk: ecJwk(namedCurve) })),
  { prefix: ED25519_PREFIX, jwk: (key) => ({ kty: "OKP", crv: "Ed25519", x: key.toString("base64url") }) },
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

/** The SPKI as a Buffer over the same bytes, and whether its outer length is exactly its size. */
function exactDer(spkiDer: Uint8Array): { der: Buffer; exact: boolean } {
  const der = Buffer.from(spkiDer.buffer, spkiDer.byteOffset, spkiDer.byteLength);
  // Each prefix starts with the SEQUENCE's short-form length: an SPKI of exactly that length has
  // exactly the key the prefix announces after it (no trailing bytes, nothing short).
  return { der, exact: der.length === (der[1] ?? 0) + 2 };
}

export function spkiFromDer(spkiDer: Uint8Array): KeyObject {
  const { der, exact } = exactDer(spkiDer);
  if (exact) {
    for (const { prefix, jwk } of JWK_SPKIS) {
      if (!der.subarray(0, prefix.length).equals(prefix)) continue;
      const key = jwk(der.subarray(prefix.length));
      if (key) return createPublicKey({ key, format: "jwk" });
    }
  }
  return createPublicKey({ key: Buffer.from(spkiDer), format: "der", type: "spki" });
}

/**
 * spkiFromDer for a caller that can wait a microtask (the CSR check): an uncompressed P-256 or
 * P-384 point goes in through WebCrypto's raw import, which refuses a point off the curve as the
 * JWK import does, but skips what else the JWK import runs, OpenSSL's full public-key validation
 * (n·Q = O, a scalar multiplication that proves nothing more on these curves of cofactor 1), and
 * gives a key whose first verification is cheaper too. A fresh P-256 key imported and one
 * signature verified with it, node:crypto alone: about a fifth less CPU than through
 * spkiFromDer (110–130 against 139–178 µs, on two machines).
 */
export async function importSpki(spkiDer: Uint8Array): Promise<KeyObject> {
  const { der, exact } = exactDer(spkiDer);
  const ec = exact ? EC_POINT_SPKIS.find(({ prefix }) => der.subarray(0, prefix.length).equals(prefix)) : undefined;
  if (ec && der[ec.prefix.length] === 0x04) {
    const point = der.subarray(ec.prefix.length);
    const algorithm = { name: "ECDSA", namedCurve: ec.namedCurve };
    return KeyObject.from(await webcrypto.subtle.importKey("raw", point, algorithm, true, ["verify"]));
  }
  return spkiFromDer(spkiDer);
}

/** A standalone ArrayBuffer copy of the bytes: what @peculiar/x509 and pkijs take as BufferSource. */
export function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}
