import { type Kysely, PostgresAdapter } from "kysely";

/**
 * Issue 27: listing certificates (`GET /api/v1/certificates`, filtered, in serial order, a page at
 * a time) read whole rows, each carrying its TBS and DER (~1 KB), for every row a filter looks at:
 * a name search read the whole table (1.3 s at 100,000 certificates on SQLite), an expiry window
 * sorted all its rows by serial. The listing now picks a page of serials from an index first and
 * reads only those rows (certificate-store.ts `list`).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // An expiry window in serial order: read from the index alone (index-only on PostgreSQL too).
  await db.schema.createIndex("certificates_expiry").on("certificates").columns(["not_after", "serial"]).execute();
  await db.schema.dropIndex("certificates_not_after").execute();
  // SQLite: every column a filter may test, in serial order, so a name search scans this index
  // (~150 bytes a row) instead of the table. PostgreSQL caps an index entry at ~2.7 KB, which a
  // certificate with many names would pass, so it gets no such index (a trigram index would be
  // its way to fast substring search; not done).
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) {
    await db.schema
      .createIndex("certificates_listing")
      .on("certificates")
      .columns(["serial", "status", "not_after", "profile", "ca_id", "spki_sha256", "subject", "names"])
      .execute();
  }
}
