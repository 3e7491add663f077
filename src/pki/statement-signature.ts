import { verify as verifySignature } from "node:crypto";
import { type KeyType, keyFamily, type SigningAlgorithm, signingAlgorithmFor } from "./key-types.js";
import { keyTypeOf, spkiFromDer } from "./spki.js";

/**
 * How Keyward's own statements (audit tree heads, the KMS revoked-key list, backup archives) are
 * signed: with the service key's own type, which follows the token (an RSA-only token signs them
 * with RSA). The hash matches the key as for a CA key, so each statement's JWS `alg` is a standard one.
 */
export function statementAlgorithm(keyType: KeyType): SigningAlgorithm {
  return signingAlgorithmFor(keyType);
}

/** The JWS `alg` (RFC 7518 §3.1, RFC 8037) of a statement signed with a key of this type. */
export function jwsAlgorithmFor(keyType: KeyType): "ES256" | "ES384" | "RS256" | "EdDSA" {
  switch (keyType) {
    case "p256":
      return "ES256";
    case "p384":
      return "ES384";
    case "ed25519":
      return "EdDSA";
    default:
      return "RS256";
  }
}

/** The key type of a service key's certificate's SPKI; an error for a key Keyward never makes. */
export function statementKeyType(spki: Uint8Array): KeyType {
  const keyType = keyTypeOf(spkiFromDer(spki));
  if (!keyType) throw new Error("the signer's key is not a key type Keyward signs statements with");
  return keyType;
}

/**
 * Checks a statement's signature with the signer's public key, whatever its type. ECDSA signatures
 * come as DER (`der`: tree heads, as X.509 carries them) or r‖s (`ieee-p1363`: JWS, backups).
 */
export function verifyStatement(
  spki: Uint8Array,
  data: Uint8Array,
  signature: Uint8Array,
  dsaEncoding: "der" | "ieee-p1363",
): boolean {
  const keyType = statementKeyType(spki);
  const key = spkiFromDer(spki);
  const algorithm = statementAlgorithm(keyType);
  // Ed25519 hashes inside the signature: Node takes no digest name for it.
  const digest = algorithm.name === "Ed25519" ? null : algorithm.hash.replace("-", "").toLowerCase();
  try {
    return verifySignature(digest, data, { key, dsaEncoding }, signature);
  } catch {
    // A signature of the wrong shape for the key (an EC signature under an RSA key) is simply invalid.
    return false;
  }
}

/** The signature in the statement's encoding: ECDSA r‖s from the token becomes DER where asked. */
export function isEcdsa(keyType: KeyType): boolean {
  return keyFamily(keyType) === "ec";
}
