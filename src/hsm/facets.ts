/**
 * What the token does for each kind of consumer. The adapter (Pkcs11Hsm) is a session core with
 * one facet per kind, and each module receives only the facet it needs: signing keys go to the
 * signer alone (CA keys) — everyone else signs with Keyward's own service keys through the
 * signer's ServiceKeys port; key pairs (objects labelled `kms-…` only) to the KMS; secret keys to
 * the KMS, escrow, people's TOTP seeds and ACME EAB; wrapping to the KMS (distribution, import),
 * escrow and backup.
 */
import type { HashName, KeyType, SigningAlgorithm } from "../pki/key-types.js";
import type { CmsSealedKey, RecipientPublicKey, SealedImport } from "./key-wrapping.js";

export interface GeneratedKeyPair {
  /** RFC 7512 URI of the private key. */
  uri: string;
  /** DER SubjectPublicKeyInfo of the new key. */
  spki: Buffer;
}

export interface KeyAttributes {
  token: boolean;
  private: boolean;
  sensitive: boolean;
  extractable: boolean;
  alwaysSensitive: boolean;
  neverExtractable: boolean;
}

export type SecretKeyAlgorithm = "AES-128" | "AES-256" | "HMAC-SHA256";

/** Key pairs in the token: generated there, private half sensitive and never extractable. */
export interface SigningKeys {
  /**
   * Refuses a key type the token cannot generate or sign with (HsmUnsupportedError naming the
   * missing mechanism and the key types it can do), before anything is generated.
   */
  checkKeyType(keyType: KeyType): void;
  /**
   * `unwrap`: a key that only receives keys sealed to it (BYOK import), never signs; `decrypt`: an
   * RSA key that only decrypts (KMS key pairs of purpose decrypt).
   */
  generateKeyPair(keyType: KeyType, label: string, usage?: KeyPairUsage): Promise<GeneratedKeyPair>;
  /** DER SubjectPublicKeyInfo of the key pair the private-key URI names. */
  publicKey(uri: string): Promise<Buffer>;
  /** ECDSA answers raw r||s, as WebCrypto does. */
  sign(uri: string, algorithm: SigningAlgorithm, data: Uint8Array): Promise<Buffer>;
  keyAttributes(uri: string): Promise<KeyAttributes>;
  destroyKeyPair(uri: string): Promise<void>;
}

export type KeyPairUsage = "sign" | "unwrap" | "decrypt";

/** How a KMS key pair signs; ECDSA and RSA take a digest, Ed25519 (pure EdDSA) the message. */
export type KeyPairMechanism =
  | { name: "ECDSA" }
  | { name: "RSA-PKCS1"; hash: HashName }
  | { name: "RSA-PSS"; hash: HashName; saltLength: number }
  | { name: "Ed25519" };

export type OaepHash = "SHA-256" | "SHA-1";

/**
 * Applications' key pairs (the KMS): made like CA keys and used by URI, for objects labelled
 * `kms-…` only, so this facet can never sign with a CA or service key.
 */
export interface KeyPairs {
  generateKeyPair(keyType: KeyType, label: string, usage: "sign" | "decrypt"): Promise<GeneratedKeyPair>;
  publicKey(uri: string): Promise<Buffer>;
  /** ECDSA answers raw r||s. */
  sign(uri: string, mechanism: KeyPairMechanism, input: Buffer): Promise<Buffer>;
  /** Checks a signature with the public half in the token; false when it does not verify. */
  verify(uri: string, mechanism: KeyPairMechanism, input: Buffer, signature: Buffer): Promise<boolean>;
  /** RSAES-OAEP with MGF1 of the same hash and an empty label. */
  decrypt(uri: string, hash: OaepHash, ciphertext: Buffer): Promise<Buffer>;
  /** The OAEP hashes the token can decrypt with (probed once with this key), strongest first. */
  oaepHashes(uri: string): Promise<OaepHash[]>;
  keyAttributes(uri: string): Promise<KeyAttributes>;
  destroyKeyPair(uri: string): Promise<void>;
}

/** Symmetric secrets in the token, used by URI only. */
export interface SecretKeys {
  /** Always sensitive; extractable only for keys that may be distributed (wrapped). */
  generateSecretKey(algorithm: SecretKeyAlgorithm, label: string, options: { extractable: boolean }): Promise<string>;
  /** A KMS secret from a registered value (KMIP Register): sensitive, extractable only when distributable. */
  storeSecretKey(
    algorithm: SecretKeyAlgorithm,
    label: string,
    value: Buffer,
    options: { extractable: boolean },
  ): Promise<string>;
  /** A shared HMAC secret shown to someone once (EAB key, TOTP seed), then used only by handle. */
  importHmacKey(value: Buffer, label: string): Promise<string>;
  /** Ciphertext with the 16-byte tag appended. */
  aesGcmEncrypt(uri: string, iv: Buffer, aad: Buffer, plaintext: Buffer): Promise<Buffer>;
  aesGcmDecrypt(uri: string, iv: Buffer, aad: Buffer, ciphertextAndTag: Buffer): Promise<Buffer>;
  hmacSha256(uri: string, data: Uint8Array): Promise<Buffer>;
  /** TOTP (RFC 6238) as authenticator apps compute it. */
  hmacSha1(uri: string, data: Uint8Array): Promise<Buffer>;
  destroySecretKey(uri: string): Promise<void>;
  secretKeyAttributes(uri: string): Promise<{ sensitive: boolean; extractable: boolean; token: boolean }>;
}

/** Keys in and out of the token, never in plaintext except where a documented format needs it. */
export interface Wrapping {
  /** BYOK: opens a key sealed to an import key pair into a new token object; returns its URI. */
  importSecretKey(
    importKeyUri: string,
    sealed: SealedImport,
    target: { algorithm: SecretKeyAlgorithm; label: string; extractable: boolean },
  ): Promise<string>;
  /** Escrow and backup: the key wrapped (AES-KW) under a one-time secret. */
  wrapSecretKeyUnder(uri: string, wrappingKey: Buffer): Promise<Buffer>;
  unwrapSecretKeyUnder(
    wrapped: Buffer,
    wrappingKey: Buffer,
    target: { algorithm: SecretKeyAlgorithm; label: string; extractable: boolean },
  ): Promise<string>;
  /** Distribution: a (distributable) key sealed for a CMS recipient inside the token. */
  sealKeyForCms(uri: string, recipient: RecipientPublicKey, sharedInfo: Buffer): Promise<CmsSealedKey>;
  /** Distribution as JWE: the key's value in host memory; the caller zeroes it. */
  exportSecretKey(uri: string): Promise<Buffer>;
}
