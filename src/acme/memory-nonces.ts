import type { NonceStore } from "./ports.js";

/**
 * Issued nonces a memory store holds at most: 100 000 are a few megabytes. Past that the oldest
 * unused ones go first; a client that held one gets a badNonce and retries with the fresh nonce
 * that answer carries (RFC 8555 §6.5), the same as after a restart.
 */
const CAPACITY = 100_000;

/**
 * ACME nonces in process memory, for a deployment that is one process (SQLite without workers):
 * every request reaches the process that issued the nonce, so the database has nothing to add but
 * two writes per request (a third of the ACME server's statements per certificate). Nonces are
 * unpredictable (the service draws 128 random bits) and accepted once (`consume` deletes before it
 * answers, and JavaScript runs one request at a time); a restart forgets them, which clients
 * handle as any badNonce. Never for instances that share a database: a nonce issued by one
 * would be unknown to the others.
 */
export class MemoryNonceStore implements NonceStore {
  /** Nonce → expiry (epoch ms), in the order issued: the oldest first. */
  private readonly nonces = new Map<string, number>();

  constructor(private readonly capacity = CAPACITY) {}

  /** Nonces held (issued, not yet used or swept). */
  get size(): number {
    return this.nonces.size;
  }

  async save(nonce: string, expiresAt: Date): Promise<void> {
    while (this.nonces.size >= this.capacity) this.nonces.delete(this.nonces.keys().next().value!);
    this.nonces.set(nonce, expiresAt.getTime());
  }

  async consume(nonce: string, now: Date): Promise<boolean> {
    const expiresAt = this.nonces.get(nonce);
    if (expiresAt === undefined) return false;
    this.nonces.delete(nonce);
    return expiresAt > now.getTime();
  }

  async deleteExpired(now: Date): Promise<number> {
    // A full pass, not only the oldest: a clock set back must not keep expired nonces behind fresh ones.
    let deleted = 0;
    for (const [nonce, expiresAt] of this.nonces) {
      if (expiresAt <= now.getTime()) {
        this.nonces.delete(nonce);
        deleted++;
      }
    }
    return deleted;
  }
}
