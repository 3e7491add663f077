import type { Kysely } from "kysely";
import type { NonceStore } from "../../acme/ports.js";
import type { RelaxedWriter } from "../relaxed.js";
import type { Database } from "../schema.js";

/**
 * ACME nonces in the database, for instances that share it (workers, a PostgreSQL fleet): a nonce
 * one instance issued is accepted once by whichever instance the client's next request reaches.
 */
export class SqlNonceStore implements NonceStore {
  constructor(
    private readonly db: Kysely<Database>,
    /** A lost nonce is a badNonce the client retries (RFC 8555 §6.5): no need to wait for the disk. */
    private readonly relaxed: RelaxedWriter,
  ) {}

  async save(nonce: string, expiresAt: Date): Promise<void> {
    await this.relaxed((db) =>
      db.insertInto("acme_nonces").values({ nonce, expires_at: expiresAt.toISOString() }).execute(),
    );
  }

  async consume(nonce: string, now: Date): Promise<boolean> {
    // The delete is the check: of two instances racing for one nonce, one deletes the row. The
    // next durable commit (a state-changing request makes one at once) makes the deletion durable.
    const result = await this.relaxed((db) =>
      db
        .deleteFrom("acme_nonces")
        .where("nonce", "=", nonce)
        .where("expires_at", ">", now.toISOString())
        .executeTakeFirst(),
    );
    return Number(result.numDeletedRows) === 1;
  }

  async deleteExpired(now: Date): Promise<number> {
    const result = await this.db
      .deleteFrom("acme_nonces")
      .where("expires_at", "<=", now.toISOString())
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
