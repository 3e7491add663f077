import type { Kysely } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  // A CA whose CRL lacks a revocation (or a release): written in the revocation's own transaction,
  // so a crash before the debounced re-sign cannot lose it. Each change bumps `generation`; a CRL
  // clears the row only if no change came after it started, so nothing is cleared unsigned.
  await db.schema
    .createTable("crl_due")
    .addColumn("ca_id", "text", (c) => c.primaryKey())
    .addColumn("generation", "integer", (c) => c.notNull())
    .addColumn("since", "text", (c) => c.notNull())
    .execute();
}
