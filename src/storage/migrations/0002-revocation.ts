import type { Kysely } from "kysely";
import type { Columns } from "./columns.js";

export async function up(db: Kysely<unknown>, { blob }: Columns): Promise<void> {
  await db.schema.alterTable("certificates").addColumn("invalidity_date", "text").execute();
  await db.schema.alterTable("cas").addColumn("revoked_at", "text").execute();
  await db.schema.alterTable("cas").addColumn("revocation_reason", "integer").execute();
  await db.schema
    .createIndex("certificates_ca_status")
    .on("certificates")
    .columns(["ca_id", "status", "serial"])
    .execute();
  await db.schema
    .createTable("blocked_keys")
    .addColumn("spki_sha256", "text", (c) => c.primaryKey())
    .addColumn("reason", "text", (c) => c.notNull())
    .addColumn("blocked_at", "text", (c) => c.notNull())
    .addColumn("blocked_by", "text")
    .execute();
  await db.schema
    .createTable("crl_numbers")
    .addColumn("ca_id", "text", (c) => c.primaryKey().references("cas.id"))
    .addColumn("last_number", "bigint", (c) => c.notNull())
    .execute();
  await db.schema
    .createTable("crls")
    .addColumn("ca_id", "text", (c) => c.notNull().references("cas.id"))
    .addColumn("number", "bigint", (c) => c.notNull())
    .addColumn("this_update", "text", (c) => c.notNull())
    .addColumn("next_update", "text", (c) => c.notNull())
    .addColumn("der", blob, (c) => c.notNull())
    .addPrimaryKeyConstraint("crls_pk", ["ca_id", "number"])
    .execute();
  await db.schema
    .createTable("ocsp_responses")
    .addColumn("serial", "text", (c) => c.notNull())
    .addColumn("hash", "text", (c) => c.notNull())
    .addColumn("this_update", "text", (c) => c.notNull())
    .addColumn("next_update", "text", (c) => c.notNull())
    .addColumn("der", blob, (c) => c.notNull())
    .addPrimaryKeyConstraint("ocsp_responses_pk", ["serial", "hash"])
    .execute();
  await db.schema.createIndex("ocsp_responses_this_update").on("ocsp_responses").column("this_update").execute();
  await db.schema
    .createTable("ocsp_responders")
    .addColumn("serial", "text", (c) => c.primaryKey())
    .addColumn("ca_id", "text", (c) => c.notNull().references("cas.id"))
    .addColumn("key_uri", "text", (c) => c.notNull())
    .addColumn("certificate", blob, (c) => c.notNull())
    .addColumn("not_after", "text", (c) => c.notNull())
    .execute();
}
