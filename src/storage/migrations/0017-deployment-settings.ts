import type { Kysely } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  // Properties of the deployment rather than of whichever process reads its config: the base URL
  // that certificates and CRLs carry is stored at init and changed only on purpose (audited).
  await db.schema
    .createTable("deployment_settings")
    .addColumn("name", "text", (c) => c.primaryKey())
    .addColumn("value", "text", (c) => c.notNull())
    .addColumn("updated_at", "text", (c) => c.notNull())
    .execute();
}
