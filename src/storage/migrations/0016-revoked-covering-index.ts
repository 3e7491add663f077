import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  // CRL generation reads every revoked entry of a CA in serial order: a partial index that
  // holds all the columns it needs is read alone, never the (large) certificate rows.
  await db.schema
    .createIndex("certificates_revoked")
    .on("certificates")
    .columns(["ca_id", "serial", "revoked_at", "revocation_reason", "invalidity_date"])
    .where(sql.ref("status"), "=", sql.lit("revoked"))
    .execute();
}
