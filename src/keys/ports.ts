import type { AuditEvent } from "../audit/index.js";
import type { CmsSealedKey, KeyPairMechanism, OaepHash, RecipientPublicKey, SealedImport } from "../hsm/index.js";
import type { KeyType } from "../pki/key-types.js";
import type { KeyState } from "./lifecycle.js";

export const SECRET_KEY_ALGORITHMS = ["AES-128", "AES-256", "HMAC-SHA256"] as const;
export type SecretKeyAlgorithm = (typeof SECRET_KEY_ALGORITHMS)[number];
/** Key pairs: the private half generated in the token, sensitive and never extractable. */
export const KEY_PAIR_ALGORITHMS = ["ECDSA-P256", "ECDSA-P384", "Ed25519", "RSA-2048", "RSA-3072", "RSA-4096"] as const;
export type KeyPairAlgorithm = (typeof KEY_PAIR_ALGORITHMS)[number];
export const KEY_ALGORITHMS = [...SECRET_KEY_ALGORITHMS, ...KEY_PAIR_ALGORITHMS] as const;
export type KeyAlgorithm = (typeof KEY_ALGORITHMS)[number];
/** encrypt, mac, wrap: secret keys; sign, decrypt: key pairs (decrypt: RSA only). */
export const KEY_PURPOSES = ["encrypt", "mac", "wrap", "sign", "decrypt"] as const;
export type KeyPurpose = (typeof KEY_PURPOSES)[number];
export type { KeyPairMechanism, OaepHash };

/** What a recipient certificate's revocation does to the keys it received. */
export const RECIPIENT_POLICIES = ["flag", "rotate", "compromise"] as const;
export type RecipientPolicy = (typeof RECIPIENT_POLICIES)[number];

export interface KeyVersion {
  keyId: string;
  version: number;
  /** pkcs11: URI of the secret in the token; the key material itself is never stored here. */
  keyUri: string;
  state: KeyState;
  createdAt: Date;
  /** Set on versions created in pre-activation: the scheduler activates them then. */
  activateAt: Date | null;
  /** End of the version's cryptoperiod: the scheduler deactivates it then. */
  deactivateAt: Date | null;
  /** Set while a destruction is scheduled; cancellable until then. */
  destroyAfter: Date | null;
  destroyedAt: Date | null;
  /** Key pairs: the version's DER SubjectPublicKeyInfo (null for secret keys). */
  publicKey: Buffer | null;
  /** Key pairs: the serial of the certificate Keyward issued for this version, if any. */
  certificateSerial: string | null;
}

export interface ManagedKey {
  id: string;
  name: string;
  algorithm: KeyAlgorithm;
  purpose: KeyPurpose;
  /** Only distributable keys are extractable (wrappable) in the token. */
  distributable: boolean;
  rotationDays: number | null;
  cryptoperiodDays: number | null;
  tags: string[];
  /** flag: mark the distributions exposed; rotate: also rotate and deactivate the version; compromise: mark it compromised. */
  onRecipientRevoked: RecipientPolicy;
  /** Decrypt key pairs: the RSA-OAEP hash this token decrypts with (found when the key was made). */
  oaepHash: OaepHash | null;
  /** Key pairs: the profile each new version is certified with at rotation (null: not certified). */
  certifyProfile: string | null;
  createdAt: Date;
  versions: KeyVersion[];
}

export interface KeyStore {
  /** ConflictError when the name is taken. */
  create(key: ManagedKey, audit: AuditEvent): Promise<void>;
  get(id: string): Promise<ManagedKey | undefined>;
  list(): Promise<ManagedKey[]>;
  addVersion(version: KeyVersion, audit: AuditEvent): Promise<void>;
  /** Conditional on the current state; false when it was no longer `from`. */
  updateVersion(
    keyId: string,
    version: number,
    from: KeyState,
    changes: Partial<Pick<KeyVersion, "state" | "destroyAfter" | "destroyedAt">>,
    audit: AuditEvent,
  ): Promise<boolean>;
  setPolicy(keyId: string, onRecipientRevoked: RecipientPolicy, audit: AuditEvent): Promise<void>;
  replaceVersionUri(keyId: string, version: number, keyUri: string, audit: AuditEvent): Promise<void>;
  /** Records the certificate issued for a key pair's version. */
  setVersionCertificate(keyId: string, version: number, serial: string, audit: AuditEvent): Promise<void>;
  setCertifyProfile(keyId: string, profile: string | null, audit: AuditEvent): Promise<void>;
  /** ConflictError when the name is taken. */
  rename(keyId: string, name: string, audit: AuditEvent): Promise<void>;
  /** Versions whose scheduled destruction is due. */
  dueForDestruction(now: Date): Promise<KeyVersion[]>;
  /** Pre-activation versions whose activation date has come. */
  dueForActivation(now: Date): Promise<KeyVersion[]>;
  /** Active versions past their cryptoperiod. */
  pastCryptoperiod(now: Date): Promise<KeyVersion[]>;
}

/**
 * The token's secret-key operations, one interface per part of the KMS that uses them; keys are
 * used by URI only. The factory takes them from the HSM's secret-key and wrapping facets.
 */
/** Lifecycle: a version's object is made at create/rotate and destroyed at the end of its life. */
export interface SecretKeyLifecycleOps {
  generateSecretKey(algorithm: SecretKeyAlgorithm, label: string, options: { extractable: boolean }): Promise<string>;
  /** A secret from a value a client registered (KMIP Register). */
  storeSecretKey(
    algorithm: SecretKeyAlgorithm,
    label: string,
    value: Buffer,
    options: { extractable: boolean },
  ): Promise<string>;
  destroySecretKey(uri: string): Promise<void>;
}

/** Lifecycle of key pairs: the same versions and states, other token objects. */
export interface KeyPairLifecycleOps {
  generateKeyPair(keyType: KeyType, label: string, usage: "sign" | "decrypt"): Promise<{ uri: string; spki: Buffer }>;
  destroyKeyPair(uri: string): Promise<void>;
  /** The OAEP hashes the token decrypts with (probed with this key), strongest first. */
  oaepHashes(uri: string): Promise<OaepHash[]>;
}

/** Data plane of key pairs: signatures and RSA-OAEP decryption in the token. */
export interface KeyPairCryptoOps {
  sign(uri: string, mechanism: KeyPairMechanism, input: Buffer): Promise<Buffer>;
  /** With the version's public half in the token; false when the signature does not verify. */
  verify(uri: string, mechanism: KeyPairMechanism, input: Buffer, signature: Buffer): Promise<boolean>;
  decrypt(uri: string, hash: OaepHash, ciphertext: Buffer): Promise<Buffer>;
}

/** Data plane: what encrypt/decrypt and MAC do with a version's object. */
export interface SecretKeyCryptoOps {
  aesGcmEncrypt(uri: string, iv: Buffer, aad: Buffer, plaintext: Buffer): Promise<Buffer>;
  aesGcmDecrypt(uri: string, iv: Buffer, aad: Buffer, ciphertextAndTag: Buffer): Promise<Buffer>;
  hmacSha256(uri: string, data: Uint8Array): Promise<Buffer>;
}

/** BYOK: opens a key sealed to the import key into a new token object; destroys it if unrecorded. */
export interface SecretKeyImportOps {
  /** Returns the new object's URI. */
  importSecretKey(
    importKeyUri: string,
    sealed: SealedImport,
    target: { algorithm: SecretKeyAlgorithm; label: string; extractable: boolean },
  ): Promise<string>;
  destroySecretKey(uri: string): Promise<void>;
}

/** One key version wrapped to one recipient certificate: the exposure record. */
export interface Distribution {
  id: string;
  keyId: string;
  version: number;
  /** kmip: the raw key given to a KMIP client (Get), the client certificate is the recipient. */
  format: "cms" | "jwe" | "kmip";
  recipientSerial: string;
  recipientSubject: string;
  recipientSpkiSha256: string;
  recipientNotAfter: Date;
  createdAt: Date;
  /** The principal who asked for it. */
  createdBy: string;
  /** Set when the recipient certificate was revoked (or the holder otherwise lost control). */
  exposedAt: Date | null;
  exposureReason: string | null;
}

export interface DistributionStore {
  record(distribution: Distribution, audit: AuditEvent): Promise<void>;
  list(keyId: string): Promise<Distribution[]>;
  /** Unflagged distributions whose recipient certificate is now revoked (not merely on hold). */
  toRevokedRecipients(): Promise<Distribution[]>;
  /** False when it was already flagged (another instance got there first). */
  markExposed(id: string, at: Date, reason: string, audit: AuditEvent): Promise<boolean>;
}

/** Token operations for distribution; the key is named by URI and sealed inside where the token can. */
export interface KeyWrappingOps {
  sealKeyForCms(uri: string, recipient: RecipientPublicKey, sharedInfo: Buffer): Promise<CmsSealedKey>;
  exportSecretKey(uri: string): Promise<Buffer>;
}
