import { type KeyType, signingAlgorithmFor } from "../pki/key-types.js";
import { bitString, NULL, oid, sequence } from "../pki/der.js";
import { ecdsaRawToDer } from "../pki/ecdsa-signature.js";
import type { KeyStore } from "./ports.js";

/** AlgorithmIdentifier DER for the signatures a key of this type makes. */
export function signatureAlgorithmIdentifier(keyType: KeyType): Buffer {
  const alg = signingAlgorithmFor(keyType);
  switch (alg.name) {
    case "ECDSA":
      return sequence(
        oid(
          alg.hash === "SHA-384"
            ? "1.2.840.10045.4.3.3"
            : alg.hash === "SHA-512"
              ? "1.2.840.10045.4.3.4"
              : "1.2.840.10045.4.3.2",
        ),
      );
    case "Ed25519":
      return sequence(oid("1.3.101.112"));
    case "RSASSA-PKCS1-v1_5":
      return sequence(
        oid(
          alg.hash === "SHA-384"
            ? "1.2.840.113549.1.1.12"
            : alg.hash === "SHA-512"
              ? "1.2.840.113549.1.1.13"
              : "1.2.840.113549.1.1.11",
        ),
        NULL,
      );
  }
}

/**
 * Signs a DER to-be-signed structure in the token and returns the signed structure
 * `SEQUENCE { tbs, signatureAlgorithm, signature }` (certificates, CRLs, OCSP basic responses).
 */
export async function signStructure(keys: KeyStore, uri: string, keyType: KeyType, tbs: Buffer): Promise<Buffer> {
  return sequence(tbs, ...(await signatureParts(keys, uri, keyType, tbs)));
}

/** The `signatureAlgorithm` and `signatureValue` that follow `tbs` in a signed structure. */
export async function signatureParts(
  keys: KeyStore,
  uri: string,
  keyType: KeyType,
  tbs: Buffer,
): Promise<[Buffer, Buffer]> {
  const alg = signingAlgorithmFor(keyType);
  const raw = await keys.sign(uri, alg, tbs);
  const signature = alg.name === "ECDSA" ? ecdsaRawToDer(raw) : raw;
  return [signatureAlgorithmIdentifier(keyType), bitString(signature)];
}
