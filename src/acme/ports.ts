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

export interface AcmeStore {
  saveNonce(nonce: string, expiresAt: Date): Promise<void>;
  /** Deletes the nonce if it exists and is unexpired; true exactly once per nonce, across instances. */
  consumeNonce(nonce: string, now: Date): Promise<boolean>;
  deleteExpiredNonces(now: Date): Promise<number>;

  /** Inserts the account, or returns the one that already has this key (the database decides). */
  createAccount(account: AcmeAccount): Promise<{ account: AcmeAccount; created: boolean }>;
  accountByThumbprint(thumbprint: string): Promise<AcmeAccount | undefined>;
  accountById(id: string): Promise<AcmeAccount | undefined>;
  updateAccount(id: string, changes: { contact?: string[]; status?: AcmeAccount["status"] }): Promise<AcmeAccount>;
}
