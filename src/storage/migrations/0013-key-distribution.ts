import type { Kysely } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  // What happens to a key when a certificate it was distributed to is revoked.
  await db.schema
    .alterTable("keys")
    .addColumn("on_recipient_revoked", "text", (c) => c.notNull().defaultTo("flag"))
    .execute();
  await db.schema
    .createTable("key_distributions")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("key_id", "text", (c) => c.notNull().references("keys.id"))
    .addColumn("version", "integer", (c) => c.notNull())
    .addColumn("format", "text", (c) => c.notNull())
    .addColumn("recipient_serial", "text", (c) => c.notNull())
    .addColumn("recipient_subject", "text", (c) => c.notNull())
    .addColumn("recipient_spki_sha256", "text", (c) => c.notNull())
    .addColumn("recipient_not_after", "text", (c) => c.notNull())
    .addColumn("created_at", "text", (c) => c.notNull())
    .addColumn("created_by", "text", (c) => c.notNull())
    .addColumn("exposed_at", "text")
    .addColumn("exposure_reason", "text")
    .execute();
  // Activation date of a version created in pre-activation (NIST SP 800-57 §7).
  await db.schema.alterTable("key_versions").addColumn("activate_at", "text").execute();
  await db.schema.createIndex("key_distributions_key").on("key_distributions").column("key_id").execute();
  await db.schema
    .createIndex("key_distributions_recipient")
    .on("key_distributions")
    .column("recipient_serial")
    .execute();
  // Keys Keyward signs its own statements with (e.g. the key revocation list), by purpose.
  await db.schema
    .createTable("service_signing_keys")
    .addColumn("purpose", "text", (c) => c.primaryKey())
    .addColumn("key_uri", "text", (c) => c.notNull())
    .addColumn("certificate_serial", "text", (c) => c.notNull())
    .addColumn("created_at", "text", (c) => c.notNull())
    .execute();
}
