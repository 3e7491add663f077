import type { Kysely } from "kysely";
import type { Columns } from "./columns.js";

export async function up(db: Kysely<unknown>, columns: Columns): Promise<void> {
  // kms.protection sealed (issue 21): secret keys a token cannot hold, kept only wrapped (RSA-OAEP)
  // by a token key pair. Deleting a row destroys the key: there is no other copy.
  await db.schema
    .createTable("sealed_keys")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("algorithm", "text", (c) => c.notNull())
    .addColumn("kek_uri", "text", (c) => c.notNull())
    .addColumn("oaep_hash", "text", (c) => c.notNull())
    .addColumn("wrapped", columns.blob, (c) => c.notNull())
    .addColumn("extractable", "integer", (c) => c.notNull())
    .addColumn("created_at", "text", (c) => c.notNull())
    .execute();
}
