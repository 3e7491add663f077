import type { Kysely } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  // KMIP custom attributes (x-…) that clients add to a key: text values, indexed like KMIP's, gone
  // with the key. Keyward's own attributes (name, state, …) are the key's columns, never here.
  await db.schema
    .createTable("kmip_attributes")
    .addColumn("key_id", "text", (c) => c.notNull().references("keys.id").onDelete("cascade"))
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("idx", "integer", (c) => c.notNull())
    .addColumn("value", "text", (c) => c.notNull())
    .addPrimaryKeyConstraint("kmip_attributes_pk", ["key_id", "name", "idx"])
    .execute();
}
