import { type Kysely, PostgresAdapter, sql } from "kysely";

/**
 * Issue 27: `GET /api/v1/certificates?name=` finds certificates whose subject or names contain a
 * string. A substring has no B-tree order, so it scanned every row (with migration 0026's covering
 * index on SQLite: 0.4–0.6 s at 1,000,000 certificates on a quiet machine, seconds under load).
 * Both engines now keep a trigram index, so a search of three or more characters reads only the
 * certificates that contain its trigrams:
 *
 * - SQLite: an FTS5 table with the trigram tokenizer over certificates' subject and names (external
 *   content: it holds the index, not a copy), kept by triggers, so every writer (issuance, restore,
 *   the seeding of a benchmark) maintains it. A quoted FTS5 phrase of a string is exactly "contains
 *   it" (case-insensitive), `certificate-store.ts` `list`.
 * - PostgreSQL: pg_trgm GIN indexes on `lower(subject)` and `names`, which the existing `like`
 *   query uses as is. pg_trgm is a trusted contrib extension (PostgreSQL 13+); where it cannot be
 *   created (not installed, no privilege) the migration goes on without it and the search scans, as
 *   before. It is created in `public` (where every deployment's schema can find it) and its
 *   operator class is named with that schema.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  if (db.getExecutor().adapter instanceof PostgresAdapter) {
    await sql`savepoint pg_trgm`.execute(db);
    try {
      await sql`create extension if not exists pg_trgm with schema public`.execute(db);
      await sql`release savepoint pg_trgm`.execute(db);
    } catch {
      await sql`rollback to savepoint pg_trgm`.execute(db);
    }
    const found = await sql<{ schema: string }>`
      select n.nspname as schema from pg_extension e join pg_namespace n on n.oid = e.extnamespace
      where e.extname = 'pg_trgm'`.execute(db);
    const schema = found.rows[0]?.schema;
    if (!schema) return;
    const ops = sql.raw(`"${schema.replace(/"/g, '""')}".gin_trgm_ops`);
    await sql`create index certificates_subject_trgm on certificates using gin (lower(subject) ${ops})`.execute(db);
    await sql`create index certificates_names_trgm on certificates using gin (names ${ops})`.execute(db);
    return;
  }
  await sql`create virtual table certificate_names using fts5(
    subject, names, content = 'certificates', content_rowid = 'rowid', tokenize = 'trigram')`.execute(db);
  await sql`create trigger certificate_names_insert after insert on certificates begin
    insert into certificate_names (rowid, subject, names) values (new.rowid, new.subject, new.names);
  end`.execute(db);
  await sql`create trigger certificate_names_delete after delete on certificates begin
    insert into certificate_names (certificate_names, rowid, subject, names)
      values ('delete', old.rowid, old.subject, old.names);
  end`.execute(db);
  await sql`create trigger certificate_names_update after update of subject, names on certificates begin
    insert into certificate_names (certificate_names, rowid, subject, names)
      values ('delete', old.rowid, old.subject, old.names);
    insert into certificate_names (rowid, subject, names) values (new.rowid, new.subject, new.names);
  end`.execute(db);
  // Certificates issued before this migration.
  await sql`insert into certificate_names (certificate_names) values ('rebuild')`.execute(db);
}
