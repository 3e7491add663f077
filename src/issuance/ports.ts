import type { AuditEvent } from "../audit/index.js";
import type { KeyType } from "../pki/key-types.js";

export type CertificateStatus = "pending" | "valid" | "revoked" | "failed";

/** A certificate Keyward issued or intended to issue. `names` are `type:value`, e.g. `dns:a.example`. */
export interface CertificateRecord {
  serial: string;
  caId: string;
  profile: string;
  status: CertificateStatus;
  subject: string;
  names: string[];
  spkiSha256: string;
  keyType: KeyType;
  notBefore: Date;
  notAfter: Date;
  createdAt: Date;
  requestedBy: string | null;
  /** DER certificate once signed. */
  certificate: Buffer | null;
  revokedAt: Date | null;
  revocationReason: number | null;
  /** RFC 5280 §5.3.2: when the key is known or suspected to have been compromised, if given. */
  invalidityDate?: Date | null;
}

export interface CertificateIntent
  extends Omit<CertificateRecord, "status" | "certificate" | "revokedAt" | "revocationReason" | "invalidityDate"> {
  /** The exact TBSCertificate bytes the HSM is about to sign. */
  tbs: Buffer;
}

export interface CertificateFilter {
  /** Substring of the subject or of any name. */
  name?: string;
  status?: "valid" | "revoked" | "expired" | "pending" | "failed";
  profile?: string;
  caId?: string;
  spkiSha256?: string;
  expiresAfter?: Date;
  expiresBefore?: Date;
  limit: number;
  /** Opaque cursor from the previous page (the last serial seen). */
  after?: string;
}

export interface CertificateStore {
  /**
   * Stores the intent durably with its audit event, before the CA key is used (so a signature is
   * never made unaudited); throws DuplicateSerialError when the serial exists and
   * BlockedKeyError when the key is blocked (the database refuses it, migration 0028).
   */
  recordIntent(intent: CertificateIntent, audit: AuditEvent): Promise<void>;
  /**
   * Stores the signed certificate of a pending intent (status becomes valid) and, in the same
   * transaction, its pre-signed OCSP answer.
   */
  markIssued(serial: string, certificate: Buffer, ocspAnswer?: PresignedOcspAnswer): Promise<void>;
  /** Marks a pending intent whose signing failed, so it is never mistaken for an issued one. */
  markFailed(serial: string, audit: AuditEvent): Promise<void>;
  /** Serials of intents still pending since before `createdBefore` (their process died mid-issue). */
  stalePending(createdBefore: Date): Promise<string[]>;
  get(serial: string): Promise<CertificateRecord | undefined>;
  list(filter: CertificateFilter, now: Date): Promise<CertificateRecord[]>;
}

/** A signed OCSP answer for a new certificate, committed with it (RFC 5019 responders pre-sign). */
export interface PresignedOcspAnswer {
  serial: string;
  /** "sha1" or "sha256": the CertID hash the answer is for. */
  hash: string;
  thisUpdate: Date;
  nextUpdate: Date;
  der: Buffer;
}

/**
 * The revocation side of issuance, implemented by the OCSP responder: the "good" answer for a
 * certificate being issued, and the in-memory cache told once the answer has committed.
 */
export interface OcspPresigner {
  answerForNew(serial: string, caId: string): Promise<PresignedOcspAnswer>;
  remember(answer: PresignedOcspAnswer): void;
}
