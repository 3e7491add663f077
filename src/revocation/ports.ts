import type { AuditEvent } from "../audit/index.js";
import type { PresignedOcspAnswer } from "../issuance/ports.js";
export interface RevocationRecord {
  serial: string;
  caId: string;
  revokedAt: Date;
  reason: number;
  invalidityDate: Date | null;
}

export interface BlockedKey {
  spkiSha256: string;
  reason: string;
  blockedAt: Date;
  blockedBy: string | null;
}

export interface StoredCrl {
  caId: string;
  number: number;
  thisUpdate: Date;
  nextUpdate: Date;
  der: Buffer;
}

/** A signed OCSP answer as stored; issuance commits the first one with its certificate. */
export type StoredOcspResponse = PresignedOcspAnswer;

export interface OcspResponderRecord {
  caId: string;
  serial: string;
  keyUri: string;
  certificate: Buffer;
  notAfter: Date;
}

export interface RevocationFilter {
  caId?: string;
  reason?: number;
  since?: Date;
  until?: Date;
  limit: number;
  after?: string;
}

/** Everything revocation needs from storage; each method is one transaction. */
export interface RevocationStore {
  /**
   * Marks a valid (or on-hold) certificate revoked and, for keyCompromise, blocks its key.
   * Returns false when the certificate is not in a revocable state (the caller explains why).
   */
  revoke(
    input: {
      serial: string;
      revokedAt: Date;
      reason: number;
      invalidityDate: Date | null;
      allowFromHold: boolean;
      blockKey?: { spkiSha256: string; reason: string; by: string | null };
    },
    audit: AuditEvent,
  ): Promise<boolean>;
  /** Returns a certificateHold certificate to valid. False when it is not on hold. */
  release(serial: string, audit: AuditEvent): Promise<boolean>;
  blockKey(key: { spkiSha256: string; reason: string; by: string | null; at: Date }, audit: AuditEvent): Promise<void>;
  isKeyBlocked(spkiSha256: string): Promise<BlockedKey | undefined>;
  /** Serials of unexpired valid certificates with this key. */
  unexpiredWithKey(spkiSha256: string, now: Date): Promise<string[]>;
  /** Revoked entries of one CA, in serial order, in pages: memory holds one page at a time. */
  revokedEntries(caId: string, pageSize: number): AsyncIterable<RevocationRecord[]>;
  listRevocations(filter: RevocationFilter): Promise<RevocationRecord[]>;

  /** Allocates the next CRL number for a CA; strictly increasing, never reused. */
  nextCrlNumber(caId: string): Promise<number>;
  /**
   * Stores a signed CRL; `dueGeneration` (read before its entries were) clears the CA's "due"
   * mark unless a later revocation bumped it meanwhile.
   */
  saveCrl(crl: StoredCrl, audit: AuditEvent, dueGeneration?: number): Promise<void>;
  /** The CA's "due" mark, set in the transaction of every revocation or release since its last CRL. */
  crlDue(caId: string): Promise<{ generation: number; since: Date } | undefined>;
  /** Every CA whose CRL is due. */
  dueCrls(): Promise<Array<{ caId: string; since: Date }>>;
  latestCrl(caId: string): Promise<StoredCrl | undefined>;
  /** The number of the newest stored CRL, without its DER (which may be tens of megabytes). */
  latestCrlNumber(caId: string): Promise<number | undefined>;

  saveOcspResponse(response: StoredOcspResponse): Promise<void>;
  /** Several answers in one transaction (one durable commit): the refresh's batches. */
  saveOcspResponses(responses: readonly StoredOcspResponse[]): Promise<void>;
  deleteOcspResponses(serial: string): Promise<void>;
  ocspResponse(serial: string, hash: string): Promise<StoredOcspResponse | undefined>;
  /** Responses whose thisUpdate is before `olderThan` (due for re-signing), oldest first. */
  staleOcspResponses(olderThan: Date, limit: number): Promise<Array<{ serial: string; hash: string }>>;
  /** Serials whose stored answer was (re-)signed at or after `since`: for other instances' caches. */
  ocspSignedSince(since: Date): Promise<string[]>;

  currentResponder(caId: string): Promise<OcspResponderRecord | undefined>;
  saveResponder(record: OcspResponderRecord): Promise<void>;
}
