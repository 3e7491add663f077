import type { AuditEvent } from "../audit/index.js";
import type { KeyType, SigningAlgorithm } from "../pki/key-types.js";

/** What the CA needs from a key store: the HSM's signing-keys facet (over the online and offline tokens). */
export interface KeyStore {
  /** Throws when the token cannot make (or sign with) keys of this type, naming the types it can. */
  checkKeyType(keyType: KeyType): void | Promise<void>;
  /** `unwrap`: a key that only receives keys sealed to it (BYOK import), never signs. */
  generateKeyPair(keyType: KeyType, label: string, usage?: "sign" | "unwrap"): Promise<{ uri: string; spki: Buffer }>;
  publicKey(uri: string): Promise<Buffer>;
  sign(uri: string, algorithm: SigningAlgorithm, data: Uint8Array): Promise<Buffer>;
  destroyKeyPair(uri: string): Promise<void>;
}

export interface CaRecord {
  id: string;
  parentId: string | null;
  kind: "root" | "intermediate";
  keyType: KeyType;
  keyUri: string;
  /** DER certificate. */
  certificate: Buffer;
  subject: string;
  spkiSha256: string;
  notBefore: Date;
  notAfter: Date;
  /** The intermediate that signs profiles naming no issuer. */
  isDefault: boolean;
  createdAt: Date;
  /** Set when the parent CA revoked this CA (it then issues nothing more). */
  revokedAt: Date | null;
  revocationReason: number | null;
}

/** An earlier base URL, and until when certificates carrying it can still be valid. */
export interface PreviousBaseUrl {
  url: string;
  until: Date;
}

export interface CaStore {
  list(): Promise<CaRecord[]>;
  get(id: string): Promise<CaRecord | undefined>;
  /**
   * Inserts CAs with their audit events in one transaction; fails on an existing id. At init the
   * deployment's base URL is stored in the same transaction.
   */
  insert(records: CaRecord[], audit: AuditEvent[], baseUrl?: string): Promise<void>;
  /** The base URL stored at init (or set since), undefined for a database from before it was stored. */
  baseUrl(): Promise<string | undefined>;
  /** Stores a new base URL with its audit event, and the earlier ones CRLs must still name. */
  setBaseUrl(url: string, audit: AuditEvent, previous: PreviousBaseUrl[]): Promise<void>;
  /** Base URLs that certificates not yet expired still carry (empty unless the base URL changed). */
  previousBaseUrls(): Promise<PreviousBaseUrl[]>;
  /** Makes `id` the only default intermediate. */
  setDefault(id: string, audit: AuditEvent): Promise<void>;
  /** Marks a CA revoked (and no longer default); false when it already was. */
  revoke(id: string, at: Date, reason: number, audit: AuditEvent): Promise<boolean>;
}
