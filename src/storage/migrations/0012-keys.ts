import type { Kysely } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("keys")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("name", "text", (c) => c.notNull().unique())
    .addColumn("algorithm", "text", (c) => c.notNull())
    .addColumn("purpose", "text", (c) => c.notNull())
    .addColumn("distributable", "integer", (c) => c.notNull())
    .addColumn("rotation_days", "integer")
    .addColumn("cryptoperiod_days", "integer")
    .addColumn("tags", "text", (c) => c.notNull())
    .addColumn("created_at", "text", (c) => c.notNull())
    .execute();
  await db.schema
    .createTable("key_versions")
    .addColumn("key_id", "text", (c) => c.notNull().references("keys.id"))
    .addColumn("version", "integer", (c) => c.notNull())
    // pkcs11: URI of the secret in the token; never the secret.
    .addColumn("key_uri", "text", (c) => c.notNull())
    .addColumn("state", "text", (c) => c.notNull())
    .addColumn("created_at", "text", (c) => c.notNull())
    .addColumn("deactivate_at", "text")
    .addColumn("destroy_after", "text")
    .addColumn("destroyed_at", "text")
    .addPrimaryKeyConstraint("key_versions_pk", ["key_id", "version"])
    .execute();
}
