import { type Kysely, PostgresAdapter, sql } from "kysely";

/**
 * Issue 27: SQLite's name-search index (migration 0027) was kept by a trigger on every insert, so
 * each certificate paid for its FTS5 segment within the issuance's own commit: ~60 trigrams, and a
 * new segment and its merges per group commit: 80–90 µs of CPU per certificate (issuance's
 * statements replayed with and without the trigger), a third of what SQLite spends on one.
 * Indexing a thousand certificates at once costs ~10 µs each.
 *
 * So an insert now only queues its row (`certificate_search_pending`) and the queue is indexed in
 * batches: every two seconds, and before any search (`SqlCertificateStore.indexPendingNames`), so
 * a search still sees every certificate. Deletes and name changes touch the FTS index only for rows
 * it holds; a queued row is indexed with whatever it holds when its turn comes. PostgreSQL's GIN
 * indexes (pending list, `fastupdate`) already batch their own writes: nothing changes there.
 * `test/contract/storage.test.ts` holds the index exact through all of this (FTS5 integrity-check).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  if (db.getExecutor().adapter instanceof PostgresAdapter) return;
  await sql`create table certificate_search_pending (cert_rowid integer primary key)`.execute(db);
  await sql`drop trigger certificate_names_insert`.execute(db);
  await sql`drop trigger certificate_names_update`.execute(db);
  await sql`drop trigger certificate_names_delete`.execute(db);
  await sql`create trigger certificate_names_insert after insert on certificates begin
    insert into certificate_search_pending (cert_rowid) values (new.rowid);
  end`.execute(db);
  // Statements in a trigger run in order: the FTS delete reads the queue before the row leaves it.
  await sql`create trigger certificate_names_delete after delete on certificates begin
    insert into certificate_names (certificate_names, rowid, subject, names)
      select 'delete', old.rowid, old.subject, old.names
      where not exists (select 1 from certificate_search_pending where cert_rowid = old.rowid);
    delete from certificate_search_pending where cert_rowid = old.rowid;
  end`.execute(db);
  await sql`create trigger certificate_names_update after update of subject, names on certificates
    when not exists (select 1 from certificate_search_pending where cert_rowid = old.rowid) begin
    insert into certificate_names (certificate_names, rowid, subject, names)
      values ('delete', old.rowid, old.subject, old.names);
    insert into certificate_names (rowid, subject, names) values (new.rowid, new.subject, new.names);
  end`.execute(db);
}
