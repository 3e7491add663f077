import type { Kysely } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  // A service may authenticate with a client certificate we issued instead of the token secret.
  await db.schema.alterTable("api_tokens").addColumn("client_cert_serial", "text").execute();
  await db.schema
    .createIndex("api_tokens_client_cert")
    .unique()
    .on("api_tokens")
    .column("client_cert_serial")
    .execute();
}
