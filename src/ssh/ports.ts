import type { AuditEvent } from "../audit/index.js";
import type { SshCertType } from "./certificate.js";

export type SshCertificateStatus = "pending" | "valid" | "revoked" | "failed";

/** One SSH certificate as stored: recorded (with its exact body) before it is signed. */
export interface SshCertificateRecord {
  /** The uint64 serial in decimal, as `ssh-keygen -L` prints it. */
  serial: string;
  type: SshCertType;
  keyId: string;
  principals: string[];
  profile: string;
  keyAlgorithm: string;
  /** `SHA256:…` of the certified key. */
  fingerprint: string;
  spkiSha256: string;
  /** The certified key's OpenSSH blob. */
  publicKey: Buffer;
  validAfter: Date;
  validBefore: Date;
  status: SshCertificateStatus;
  body: Buffer;
  certificate: Buffer | null;
  requestedBy: string;
  createdAt: Date;
  revokedAt: Date | null;
  revocationReason: string | null;
}

export interface SshCertificateFilter {
  principal?: string;
  keyId?: string;
  fingerprint?: string;
  type?: SshCertType;
  status?: SshCertificateStatus | "expired";
  now: Date;
  limit: number;
  /** Serial (decimal) after which the page starts, in creation order. */
  after?: string;
}

export interface StoredKrl {
  version: bigint;
  generatedAt: Date;
  krl: Buffer;
}

/** What the SSH CA stores; implemented in src/storage. */
export interface SshStore {
  /**
   * The intent with its audit event, in one transaction; a serial already used is a conflict, a
   * blocked key a BlockedKeyError (the database refuses it, migration 0029).
   */
  recordIntent(record: SshCertificateRecord, audit: AuditEvent): Promise<void>;
  markIssued(serial: string, certificate: Buffer): Promise<void>;
  markFailed(serial: string): Promise<void>;
  get(serial: string): Promise<SshCertificateRecord | undefined>;
  list(filter: SshCertificateFilter): Promise<SshCertificateRecord[]>;
  /**
   * Revokes valid certificates (by serial, or every one with a key ID) with the audit event; on
   * `blockKey` also blocks their keys (SPKI SHA-256, shared with X.509 issuance). Returns the serials revoked.
   */
  revoke(
    target: { serial: string } | { keyId: string },
    revocation: { at: Date; reason: string; blockKey: boolean; by: string },
    audit: (serials: string[]) => AuditEvent | undefined,
  ): Promise<string[]>;
  /** Revoked certificates not yet expired at `now` (expired ones are refused by sshd anyway). */
  revokedUnexpired(now: Date): Promise<{ type: SshCertType; serial: string }[]>;
  /** Key blobs of our certificates whose key is blocked (keyCompromise, here or on an X.509 certificate). */
  blockedKeyBlobs(): Promise<Buffer[]>;
  currentKrl(): Promise<StoredKrl | undefined>;
  /** Stores a KRL unless one of that version exists (another instance was first): false then. */
  storeKrl(krl: StoredKrl): Promise<boolean>;
}
