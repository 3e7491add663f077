import { type Kysely, PostgresAdapter, sql } from "kysely";

/**
 * Issue 27: a certificate intent for a blocked key is refused by the database itself, in the
 * intent's own statement, instead of by a read before it. On PostgreSQL that read was one of the
 * ~3.5 round trips of an issuance; here the check is an index probe inside the insert. It also
 * makes the rule hold for every path that records an intent, not only those that remembered to ask.
 *
 * Only new intents (status 'pending') are checked: a restore inserts the issued certificates of a
 * compromised key, whose key is blocked because of them. The error is recognised by its SQLSTATE
 * on PostgreSQL ('KW001', a class no standard code uses) and by its message on SQLite
 * (`certificate-store.ts`, `isBlockedKeyRefusal`).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  if (db.getExecutor().adapter instanceof PostgresAdapter) {
    // A trigger's WHEN cannot hold a subquery: the function probes blocked_keys.
    await sql`create function keyward_refuse_blocked_key() returns trigger language plpgsql as $$
      begin
        if exists (select 1 from blocked_keys where spki_sha256 = new.spki_sha256) then
          raise exception 'keyward: the key is blocked' using errcode = 'KW001';
        end if;
        return new;
      end $$`.execute(db);
    await sql`create trigger certificates_refuse_blocked_key before insert on certificates
      for each row when (new.status = 'pending') execute function keyward_refuse_blocked_key()`.execute(db);
    return;
  }
  await sql`create trigger certificates_refuse_blocked_key before insert on certificates
    when new.status = 'pending' and exists (select 1 from blocked_keys where spki_sha256 = new.spki_sha256)
    begin select raise(abort, 'keyward: the key is blocked'); end`.execute(db);
}
