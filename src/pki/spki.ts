import { createHash, createPublicKey, type KeyObject } from "node:crypto";
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

export function spkiFromDer(spkiDer: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.from(spkiDer), format: "der", type: "spki" });
}

/** A standalone ArrayBuffer copy of the bytes: what @peculiar/x509 and pkijs take as BufferSource. */
export function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}
