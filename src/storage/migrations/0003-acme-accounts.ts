import type { Kysely } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("acme_nonces")
    .addColumn("nonce", "text", (c) => c.primaryKey())
    .addColumn("expires_at", "text", (c) => c.notNull())
    .execute();
  await db.schema.createIndex("acme_nonces_expiry").on("acme_nonces").column("expires_at").execute();
  await db.schema
    .createTable("acme_accounts")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("thumbprint", "text", (c) => c.notNull().unique())
    .addColumn("jwk", "text", (c) => c.notNull())
    .addColumn("status", "text", (c) => c.notNull())
    .addColumn("contact", "text", (c) => c.notNull())
    .addColumn("created_at", "text", (c) => c.notNull())
    .execute();
}
