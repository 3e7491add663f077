import type { AuditEvent } from "../audit/index.js";
import type { JWK } from "jose";

export interface AcmeAccount {
  id: string;
  /** RFC 7638 thumbprint of the account key: unique, so one key has one account. */
  thumbprint: string;
  jwk: JWK;
  status: "valid" | "deactivated" | "revoked";
  contact: string[];
  createdAt: Date;
}

/**
 * Where issued nonces wait for their one use (RFC 8555 §6.5). Every instance that may receive the
 * next request of a client must see the nonce: process memory for one process, the database when
 * several share it (compose.ts chooses).
 */
export interface NonceStore {
  save(nonce: string, expiresAt: Date): Promise<void>;
  /** Removes the nonce if it exists and is unexpired; true exactly once per nonce, across instances. */
  consume(nonce: string, now: Date): Promise<boolean>;
  deleteExpired(now: Date): Promise<number>;
}

export interface AcmeStore {
  /** Inserts the account, or returns the one that already has this key (the database decides). */
  createAccount(account: AcmeAccount, audit: AuditEvent): Promise<{ account: AcmeAccount; created: boolean }>;
  accountByThumbprint(thumbprint: string): Promise<AcmeAccount | undefined>;
  accountById(id: string): Promise<AcmeAccount | undefined>;
  updateAccount(
    id: string,
    changes: { contact?: string[]; status?: AcmeAccount["status"] },
    audit: AuditEvent,
  ): Promise<AcmeAccount>;
  saveEabKey(key: { kid: string; name: string; keyUri: string; createdAt: Date }, audit: AuditEvent): Promise<void>;
  eabKey(kid: string): Promise<{ kid: string; keyUri: string; accountId: string | null } | undefined>;
  /** Binds an unused EAB key to an account; false when it was already used (the database decides). */
  claimEabKey(kid: string, accountId: string, at: Date, audit: AuditEvent): Promise<boolean>;
  /** Replaces the account key; false when another account already has the new key (unique thumbprint). */
  changeAccountKey(id: string, jwk: JWK, thumbprint: string, audit: AuditEvent): Promise<boolean>;
}

export type OrderStatus = "pending" | "ready" | "processing" | "valid" | "invalid";
export type AuthzStatus = "pending" | "valid" | "invalid" | "deactivated" | "expired" | "revoked";
export type ChallengeStatus = "pending" | "processing" | "valid" | "invalid";

export interface Identifier {
  type: "dns" | "ip";
  value: string;
}

export interface AcmeOrder {
  id: string;
  accountId: string;
  status: OrderStatus;
  identifiers: Identifier[];
  authorizationIds: string[];
  profile: string;
  expiresAt: Date;
  createdAt: Date;
  certificateSerial: string | null;
  error: unknown | null;
  /** ARI certID (canonical form) of the certificate this order replaces (RFC 9773 §5). */
  replaces: string | null;
}

export interface RenewalWindow {
  start: Date;
  end: Date;
  explanationUrl: string | null;
}

export interface AcmeChallenge {
  id: string;
  authorizationId: string;
  type: "http-01" | "dns-01" | "tls-alpn-01";
  token: string;
  status: ChallengeStatus;
  validatedAt: Date | null;
  error: unknown | null;
}

export interface AcmeAuthorization {
  id: string;
  accountId: string;
  identifier: Identifier;
  wildcard: boolean;
  status: AuthzStatus;
  expiresAt: Date;
  challenges: AcmeChallenge[];
}

/** `accountId` is the authorization's: only its own account's orders can be waiting on it. */
export type ValidationOutcome = { challengeId: string; authorizationId: string; accountId: string; at: Date } & (
  | { valid: true; validUntil: Date }
  | { valid: false; error: unknown }
);

export interface AcmeOrderStore {
  /** Stores an order with its new authorizations and challenges in one transaction. */
  createOrder(order: AcmeOrder, authorizations: AcmeAuthorization[]): Promise<void>;
  order(id: string): Promise<AcmeOrder | undefined>;
  authorization(id: string): Promise<AcmeAuthorization | undefined>;
  /** The authorization (with all its challenges) that this challenge belongs to. */
  authorizationOfChallenge(challengeId: string): Promise<AcmeAuthorization | undefined>;
  challenge(id: string): Promise<AcmeChallenge | undefined>;
  /**
   * Marks a pending challenge processing; false when it no longer was pending (another request
   * started it). Not waited onto disk: lost to a power failure, the challenge is pending again and
   * the client's next POST starts its validation anew.
   */
  startValidation(challengeId: string): Promise<boolean>;
  /** Moves a challenge (and its authorization) from one state to another; false when it was not in `from`. */
  setChallenge(
    id: string,
    from: ChallengeStatus[],
    to: ChallengeStatus,
    error: unknown | null,
    at: Date,
  ): Promise<boolean>;
  setAuthorization(id: string, status: AuthzStatus, expiresAt?: Date): Promise<void>;
  /**
   * Marks a ready order processing; false when it no longer was ready (another request is
   * finalizing it). Not waited onto disk, like startValidation: nothing is issued before the
   * certificate's intent is durable, and that commit carries this mark with it; lost to a power
   * failure before then, the order is ready again and the client may finalize anew.
   */
  startFinalizing(orderId: string): Promise<boolean>;
  /** Moves an order from one state to another; false when it was not `from` (the database decides). */
  setOrder(
    id: string,
    from: OrderStatus,
    changes: { status: OrderStatus; certificateSerial?: string; error?: unknown },
  ): Promise<boolean>;
  /**
   * Records a validation's outcome in one transaction: the challenge (still processing), its
   * authorization, and the pending orders this makes ready (all their authorizations valid) or
   * invalid. False when the challenge was no longer processing: then nothing changes.
   */
  concludeValidation(outcome: ValidationOutcome): Promise<boolean>;
  /** A valid authorization of the account for this identifier that is still good at `until`. */
  reusableAuthorization(
    accountId: string,
    identifier: Identifier,
    wildcard: boolean,
    until: Date,
  ): Promise<string | undefined>;
  /** Ids of the account's orders that are not yet finished (RFC 8555 §7.1.2.1), newest first. */
  ordersOfAccount(accountId: string, limit: number): Promise<string[]>;
  /** Whether one of the account's orders produced the certificate with this serial. */
  accountOwnsCertificate(accountId: string, serial: string): Promise<boolean>;
  /** Whether an order other than `exceptOrderId` that replaces this certID was finalized. */
  isReplaced(certId: string, exceptOrderId?: string): Promise<boolean>;
  /**
   * Forces the renewal window of the given certificates, or of every unexpired valid certificate
   * of a CA; returns how many certificates it now applies to.
   */
  forceRenewalWindow(
    target: { serials: string[] } | { caId: string },
    window: RenewalWindow,
    at: Date,
    audit: AuditEvent,
  ): Promise<number>;
  renewalWindow(serial: string): Promise<RenewalWindow | undefined>;
  /** Deletes orders, authorizations and challenges that expired before `before`; returns the rows removed. */
  deleteExpired(before: Date): Promise<number>;
}
