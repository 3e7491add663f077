import type { Kysely } from "kysely";
import type { Columns } from "./columns.js";

export async function up(db: Kysely<unknown>, { blob }: Columns): Promise<void> {
  await db.schema
    .createTable("cas")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("parent_id", "text", (c) => c.references("cas.id"))
    .addColumn("kind", "text", (c) => c.notNull())
    .addColumn("key_type", "text", (c) => c.notNull())
    .addColumn("key_uri", "text", (c) => c.notNull())
    .addColumn("certificate", blob, (c) => c.notNull())
    .addColumn("subject", "text", (c) => c.notNull())
    .addColumn("spki_sha256", "text", (c) => c.notNull())
    .addColumn("not_before", "text", (c) => c.notNull())
    .addColumn("not_after", "text", (c) => c.notNull())
    .addColumn("is_default", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("created_at", "text", (c) => c.notNull())
    .execute();

  await db.schema
    .createTable("certificates")
    .addColumn("serial", "text", (c) => c.primaryKey())
    .addColumn("ca_id", "text", (c) => c.notNull().references("cas.id"))
    .addColumn("profile", "text", (c) => c.notNull())
    .addColumn("status", "text", (c) => c.notNull())
    .addColumn("subject", "text", (c) => c.notNull())
    .addColumn("names", "text", (c) => c.notNull())
    .addColumn("spki_sha256", "text", (c) => c.notNull())
    .addColumn("key_type", "text", (c) => c.notNull())
    .addColumn("tbs", blob, (c) => c.notNull())
    .addColumn("certificate", blob)
    .addColumn("not_before", "text", (c) => c.notNull())
    .addColumn("not_after", "text", (c) => c.notNull())
    .addColumn("created_at", "text", (c) => c.notNull())
    .addColumn("requested_by", "text")
    .addColumn("revoked_at", "text")
    .addColumn("revocation_reason", "integer")
    .execute();
  await db.schema.createIndex("certificates_spki").on("certificates").column("spki_sha256").execute();
  await db.schema.createIndex("certificates_not_after").on("certificates").column("not_after").execute();
  await db.schema.createIndex("certificates_status").on("certificates").columns(["status", "not_after"]).execute();

  await db.schema
    .createTable("api_tokens")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("role", "text", (c) => c.notNull())
    .addColumn("token_hash", "text", (c) => c.notNull().unique())
    .addColumn("created_at", "text", (c) => c.notNull())
    .addColumn("expires_at", "text")
    .addColumn("last_used_at", "text")
    .addColumn("revoked_at", "text")
    .execute();
}
