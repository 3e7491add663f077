import type { Kysely } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("acme_orders")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("account_id", "text", (c) => c.notNull().references("acme_accounts.id"))
    .addColumn("status", "text", (c) => c.notNull())
    .addColumn("identifiers", "text", (c) => c.notNull())
    .addColumn("authorization_ids", "text", (c) => c.notNull())
    .addColumn("profile", "text", (c) => c.notNull())
    .addColumn("expires_at", "text", (c) => c.notNull())
    .addColumn("created_at", "text", (c) => c.notNull())
    .addColumn("certificate_serial", "text")
    .addColumn("error", "text")
    .execute();
  await db.schema.createIndex("acme_orders_account").on("acme_orders").column("account_id").execute();
  await db.schema
    .createTable("acme_authorizations")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("account_id", "text", (c) => c.notNull().references("acme_accounts.id"))
    .addColumn("identifier_type", "text", (c) => c.notNull())
    .addColumn("identifier_value", "text", (c) => c.notNull())
    .addColumn("wildcard", "integer", (c) => c.notNull())
    .addColumn("status", "text", (c) => c.notNull())
    .addColumn("expires_at", "text", (c) => c.notNull())
    .execute();
  await db.schema
    .createTable("acme_challenges")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("authorization_id", "text", (c) => c.notNull().references("acme_authorizations.id"))
    .addColumn("type", "text", (c) => c.notNull())
    .addColumn("token", "text", (c) => c.notNull())
    .addColumn("status", "text", (c) => c.notNull())
    .addColumn("validated_at", "text")
    .addColumn("error", "text")
    .execute();
  await db.schema.createIndex("acme_challenges_authz").on("acme_challenges").column("authorization_id").execute();
}
