import type { AuditEvent } from "../audit/index.js";
import type { CmsSealedKey, RecipientPublicKey, SealedImport } from "../hsm/index.js";
import type { KeyState } from "./lifecycle.js";

export const KEY_ALGORITHMS = ["AES-128", "AES-256", "HMAC-SHA256"] as const;
export type KeyAlgorithm = (typeof KEY_ALGORITHMS)[number];
export const KEY_PURPOSES = ["encrypt", "mac", "wrap"] as const;
export type KeyPurpose = (typeof KEY_PURPOSES)[number];

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
  generateSecretKey(algorithm: KeyAlgorithm, label: string, options: { extractable: boolean }): Promise<string>;
  destroySecretKey(uri: string): Promise<void>;
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
    target: { algorithm: KeyAlgorithm; label: string; extractable: boolean },
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
