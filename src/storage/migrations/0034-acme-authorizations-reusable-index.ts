import { type Kysely, sql } from "kysely";

/**
 * A new order reuses the account's valid authorization of a name (RFC 8555 §7.1.4). The lookup had
 * only the expiry index to go by: a range scan over every authorization, of every account, that
 * had not expired yet, on each new order — a cost that grew with the CA's ACME traffic. This
 * index holds only valid authorizations, by account and name, so the lookup reads the few rows it
 * may return; pending authorizations (most of those written) are not in it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create index acme_authorizations_reusable on acme_authorizations (account_id, identifier_value)
    where status = 'valid'`.execute(db);
}
