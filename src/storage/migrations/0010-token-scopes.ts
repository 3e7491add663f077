import type { Kysely } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable("api_tokens")
    .addColumn("scopes", "text", (c) => c.notNull().defaultTo("{}"))
    .execute();
}
