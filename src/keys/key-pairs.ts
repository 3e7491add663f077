import { createHash } from "node:crypto";
import { BadRequestError, ConflictError } from "../errors/index.js";
import { ecdsaRawToDer } from "../pki/ecdsa-signature.js";
import type { HashName, KeyType } from "../pki/key-types.js";
import {
  KEY_PAIR_ALGORITHMS,
  type KeyAlgorithm,
  type KeyPairAlgorithm,
  type KeyPairMechanism,
  type ManagedKey,
  type SecretKeyAlgorithm,
} from "./ports.js";

export function isKeyPairAlgorithm(algorithm: KeyAlgorithm): algorithm is KeyPairAlgorithm {
  return (KEY_PAIR_ALGORITHMS as readonly string[]).includes(algorithm);
}

export function isKeyPair(key: Pick<ManagedKey, "algorithm">): key is ManagedKey & { algorithm: KeyPairAlgorithm } {
  return isKeyPairAlgorithm(key.algorithm);
}

/** The token key type of a key-pair algorithm (the same types the CA's keys are made with). */
export const KEY_TYPE_OF: Record<KeyPairAlgorithm, KeyType> = {
  "ECDSA-P256": "p256",
  "ECDSA-P384": "p384",
  Ed25519: "ed25519",
  "RSA-2048": "rsa2048",
  "RSA-3072": "rsa3072",
  "RSA-4096": "rsa4096",
};

/** The secret-key algorithm of a key that must be a secret key (escrow, backup, import). */
export function secretAlgorithm(key: ManagedKey, what: string): SecretKeyAlgorithm {
  if (isKeyPair(key)) throw new ConflictError(keyPairNeverLeaves(key, what));
  return key.algorithm as SecretKeyAlgorithm;
}

/** Why escrow, distribution, backup wrapping or import do not apply to a key pair. */
export function keyPairNeverLeaves(key: Pick<ManagedKey, "name" | "algorithm">, what: string): string {
  return `key ${key.name} is a ${key.algorithm} key pair: its private half is generated in the token as non-extractable and never leaves it, so it cannot be ${what}`;
}

/**
 * Signature algorithms by their JOSE names (RFC 7518, RFC 8037): what `sign` takes and answers.
 * ECDSA signs with the hash that matches its curve; RSA with PKCS#1 v1.5 or PSS (salt = hash length).
 */
export const SIGNATURE_ALGORITHMS = [
  "ES256",
  "ES384",
  "EdDSA",
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
] as const;
export type SignatureAlgorithm = (typeof SIGNATURE_ALGORITHMS)[number];

interface SignatureSpec {
  /** null: pure EdDSA, which signs the message itself. */
  hash: HashName | null;
  mechanism: KeyPairMechanism;
}

const HASH_BYTES: Record<HashName, number> = { "SHA-256": 32, "SHA-384": 48, "SHA-512": 64 };
const NODE_HASH: Record<HashName, string> = { "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512" };

/** What the token signs for these bytes: their digest, or (pure EdDSA) the bytes themselves. */
export function tokenInput(spec: SignatureSpec, data: Buffer): Buffer {
  return spec.hash ? createHash(NODE_HASH[spec.hash]).update(data).digest() : data;
}

/** The token's signature in its usual encoding: ECDSA as DER Ecdsa-Sig-Value (X.509, CMS, openssl). */
export function derSignature(spec: SignatureSpec, raw: Buffer): Buffer {
  return spec.mechanism.name === "ECDSA" ? ecdsaRawToDer(raw) : raw;
}

const SPECS: Record<SignatureAlgorithm, SignatureSpec> = {
  ES256: { hash: "SHA-256", mechanism: { name: "ECDSA" } },
  ES384: { hash: "SHA-384", mechanism: { name: "ECDSA" } },
  EdDSA: { hash: null, mechanism: { name: "Ed25519" } },
  RS256: { hash: "SHA-256", mechanism: { name: "RSA-PKCS1", hash: "SHA-256" } },
  RS384: { hash: "SHA-384", mechanism: { name: "RSA-PKCS1", hash: "SHA-384" } },
  RS512: { hash: "SHA-512", mechanism: { name: "RSA-PKCS1", hash: "SHA-512" } },
  PS256: { hash: "SHA-256", mechanism: { name: "RSA-PSS", hash: "SHA-256", saltLength: 32 } },
  PS384: { hash: "SHA-384", mechanism: { name: "RSA-PSS", hash: "SHA-384", saltLength: 48 } },
  PS512: { hash: "SHA-512", mechanism: { name: "RSA-PSS", hash: "SHA-512", saltLength: 64 } },
};

const RSA_SIGNATURES: SignatureAlgorithm[] = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"];

/** The signature algorithms a key of this algorithm makes; the first is its default. */
export function signatureAlgorithmsFor(algorithm: KeyPairAlgorithm): SignatureAlgorithm[] {
  switch (algorithm) {
    case "ECDSA-P256":
      return ["ES256"];
    case "ECDSA-P384":
      return ["ES384"];
    case "Ed25519":
      return ["EdDSA"];
    default:
      return RSA_SIGNATURES;
  }
}

/** The spec of the requested (or default) signature algorithm, refused when the key cannot make it. */
export function signatureSpec(
  key: ManagedKey & { algorithm: KeyPairAlgorithm },
  requested: string | undefined,
): SignatureSpec & { algorithm: SignatureAlgorithm } {
  const allowed = signatureAlgorithmsFor(key.algorithm);
  const algorithm = (requested ?? allowed[0]) as SignatureAlgorithm;
  if (!allowed.includes(algorithm)) {
    throw new BadRequestError(
      `key ${key.name} is ${key.algorithm} and signs with ${allowed.join(", ")}, not ${requested}`,
    );
  }
  return { algorithm, ...SPECS[algorithm] };
}

/** Checks a caller-made digest's length against the algorithm's hash. */
export function checkDigest(spec: SignatureSpec & { algorithm: SignatureAlgorithm }, digest: Buffer): void {
  if (spec.hash === null) {
    throw new BadRequestError(
      "Ed25519 (pure EdDSA, RFC 8032) signs the message itself, not a digest: send message instead of digest",
    );
  }
  if (digest.length !== HASH_BYTES[spec.hash]) {
    throw new BadRequestError(
      `${spec.algorithm} signs a ${spec.hash} digest of ${HASH_BYTES[spec.hash]} bytes; this digest has ${digest.length}`,
    );
  }
}

/** What a version may do by state: only active versions sign or decrypt new requests. */
export function requireKeyPair(key: ManagedKey, purpose: "sign" | "decrypt", operation: string): void {
  if (!isKeyPair(key)) {
    throw new BadRequestError(`key ${key.name} is a ${key.algorithm} secret key: ${operation} needs a key pair`);
  }
  if (key.purpose !== purpose) {
    throw new BadRequestError(
      `key ${key.name} is a ${key.algorithm} key pair of purpose ${key.purpose}: ${operation} needs purpose ${purpose}`,
    );
  }
}
