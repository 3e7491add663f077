import { type Kysely, sql } from "kysely";

/**
 * A concluded validation finds the orders waiting on its authorization. They were found by a LIKE
 * over every order's JSON list of authorizations: a scan of the whole table per validation, which
 * grows with every order ever made. An authorization is only ever reused by its own account, so
 * the lookup narrows to the account's pending orders, and this index holds exactly those.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create index acme_orders_pending on acme_orders (account_id) where status = 'pending'`.execute(db);
}
