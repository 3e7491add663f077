import type { AuditEvent, StoredAuditEvent } from "./event.js";

export interface AuditCheckpoint {
  seq: number;
  hash: string;
  at: Date;
  /** DER ECDSA signature over checkpointMessage() by the audit key. */
  signature: Buffer;
  /** Serial of the audit key's certificate. */
  signerSerial: string;
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
  saveCheckpoint(checkpoint: AuditCheckpoint): Promise<void>;
  checkpoints(): Promise<AuditCheckpoint[]>;
  auditKey(): Promise<{ keyUri: string; certificateSerial: string } | undefined>;
  /** Stores the audit key unless one exists (another instance won); returns the stored one. */
  saveAuditKey(key: {
    keyUri: string;
    certificateSerial: string;
    createdAt: Date;
  }): Promise<{ keyUri: string; certificateSerial: string }>;
}
