import type { Kysely } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  // RFC 9773 §5: the certificate (by canonical ARI certID) a new order replaces.
  await db.schema.alterTable("acme_orders").addColumn("replaces", "text").execute();
  await db.schema.createIndex("acme_orders_replaces").on("acme_orders").column("replaces").execute();
  await db.schema.createIndex("acme_orders_expires").on("acme_orders").column("expires_at").execute();
  await db.schema.createIndex("acme_authorizations_expires").on("acme_authorizations").column("expires_at").execute();
  // Windows an administrator forced, e.g. after a key compromise or before a CA rollover.
  await db.schema
    .createTable("acme_renewal_windows")
    .addColumn("serial", "text", (c) => c.primaryKey())
    .addColumn("window_start", "text", (c) => c.notNull())
    .addColumn("window_end", "text", (c) => c.notNull())
    .addColumn("explanation_url", "text")
    .addColumn("set_at", "text", (c) => c.notNull())
    .addColumn("set_by", "text", (c) => c.notNull())
    .execute();
}
