import type { AuditEvent, StoredAuditEvent, TreeHead } from "./event.js";

/** A tree head signed with the audit key over treeHeadMessage() (ECDSA as DER, RSA PKCS#1 v1.5, or Ed25519). */
export interface SignedTreeHead extends TreeHead {
  signature: Buffer;
  /** Serial of the audit key's certificate. */
  signerSerial: string;
}

/** A signed tree head as the database keeps it, with the leaf hashes it added since `leavesFrom`. */
export interface StoredTreeHead extends SignedTreeHead {
  leavesFrom: number;
  /** Concatenated 32-byte leaf hashes of events leavesFrom+1 … size; absent for very large batches. */
  leaves?: Buffer;
}

export interface AuditFilter {
  action?: string;
  actor?: string;
  targetId?: string;
  outcome?: string;
  since?: Date;
  until?: Date;
  afterSeq?: number;
  beforeSeq?: number;
  /** Newest first (the console's default view); otherwise in chain order. */
  newestFirst?: boolean;
  limit: number;
}

export interface AuditStore {
  /** Appends one event in a transaction of its own (logins, denied requests). */
  append(event: AuditEvent): Promise<StoredAuditEvent>;
  /** Events in sequence order after `afterSeq`, for verification and export. */
  page(afterSeq: number, limit: number): Promise<StoredAuditEvent[]>;
  search(filter: AuditFilter): Promise<StoredAuditEvent[]>;
  /** The chain head as the database records it: the last sequence number and hash. */
  head(): Promise<{ seq: number; hash: string }>;
  saveTreeHead(head: StoredTreeHead): Promise<void>;
  /** Every stored tree head, smallest first, without their leaves. */
  treeHeads(): Promise<StoredTreeHead[]>;
  /** The leaf hashes a stored tree head added, if it kept them. */
  treeHeadLeaves(size: number): Promise<Buffer | undefined>;
  latestTreeHead(): Promise<StoredTreeHead | undefined>;
  auditKey(): Promise<{ keyUri: string; certificateSerial: string } | undefined>;
  /** Stores the audit key unless one exists (another instance won); returns the stored one. */
  saveAuditKey(key: {
    keyUri: string;
    certificateSerial: string;
    createdAt: Date;
  }): Promise<{ keyUri: string; certificateSerial: string }>;
}
