import { type Kysely, PostgresAdapter, sql } from "kysely";

/**
 * Migration 0028's rule for SSH certificates: an SSH certificate intent for a blocked key is
 * refused by the database in the intent's own statement, instead of by a read before it (one round
 * trip less per SSH certificate on PostgreSQL; every path that records an SSH intent is checked).
 * As there, only new intents (status 'pending') are checked, and PostgreSQL reuses 0028's function.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  if (db.getExecutor().adapter instanceof PostgresAdapter) {
    await sql`create trigger ssh_certificates_refuse_blocked_key before insert on ssh_certificates
      for each row when (new.status = 'pending') execute function keyward_refuse_blocked_key()`.execute(db);
    return;
  }
  await sql`create trigger ssh_certificates_refuse_blocked_key before insert on ssh_certificates
    when new.status = 'pending' and exists (select 1 from blocked_keys where spki_sha256 = new.spki_sha256)
    begin select raise(abort, 'keyward: the key is blocked'); end`.execute(db);
}
