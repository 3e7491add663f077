import { type Kysely, sql } from "kysely";
import type { Database } from "./schema.js";

/**
 * Runs writes that may be lost on power failure at the cost of a retry and nothing else (ACME
 * nonces, rate-limit counters, the mark that a challenge's validation started) without waiting for
 * the disk. ACME clients fetch a nonce before
 * almost every request: durable, nonces were 18 of the 29 fsyncs of an ACME certificate (each
 * blocking the event loop). A process crash loses nothing (the write is in the OS); only a power failure within the
 * moment before the next durable commit can, and every later durable commit flushes these too
 * (SQLite's write-ahead log and PostgreSQL's WAL are written in order). `work` is one statement:
 * on PostgreSQL it usually runs without a transaction around it (relaxedPostgres).
 */
export type RelaxedWriter = <T>(work: (db: Kysely<Database>) => Promise<T>) => Promise<T>;

/**
 * PostgreSQL: `relaxedDb` is a pool whose sessions start with synchronous_commit=off
 * (database.ts), so the work's statement commits on its own without waiting for the WAL flush:
 * one round trip. The work is one statement (a nonce, a counter): it needs no transaction.
 */
export function relaxedPostgres(relaxedDb: Kysely<Database>): RelaxedWriter {
  return (work) => work(relaxedDb);
}

/**
 * PostgreSQL behind a pooler in transaction mode (`?prepared=false`): a session setting would
 * reach other clients there, so the work runs in its own transaction with SET LOCAL (four round
 * trips instead of one).
 */
export function relaxedPostgresPooled(db: Kysely<Database>): RelaxedWriter {
  return (work) =>
    db.transaction().execute(async (tx) => {
      await sql`set local synchronous_commit = off`.execute(tx);
      return work(tx);
    });
}

/**
 * SQLite: the one connection is held for the whole call, so no durable transaction runs in
 * between. Auto-checkpoints are off meanwhile: a checkpoint without syncs could copy durable pages
 * into the database file unsynced and let the log be reused, losing them on power failure. The
 * pragmas go straight to the driver: through the query builder they were four more statements.
 */
export function relaxedSqlite(db: Kysely<Database>, sqlite: { exec(sql: string): unknown }): RelaxedWriter {
  return (work) =>
    db.connection().execute(async (connection) => {
      sqlite.exec("pragma synchronous = OFF; pragma wal_autocheckpoint = 0");
      try {
        return await work(connection);
      } finally {
        sqlite.exec("pragma wal_autocheckpoint = 1000; pragma synchronous = FULL");
      }
    });
}
