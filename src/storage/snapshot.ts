import { type Kysely, sql } from "kysely";
import { StorageError } from "../errors/index.js";
import type { OpenDatabase } from "./database.js";
import type { Database } from "./schema.js";

/**
 * Tables in an order where every reference points backwards, so a restore inserts them as listed.
 * Left out: what is only valid with the token or the moment it was made — used nonces, rate-limit
 * counters, sessions, and the rows that name service keys in the old token (audit signer, OCSP
 * responders, revocation-list and import keys: new ones are made on first use).
 */
export const SNAPSHOT_TABLES = [
  // The base URL certificates carry (and the earlier ones CRLs must still name).
  "deployment_settings",
  "cas",
  "certificates",
  "api_tokens",
  "blocked_keys",
  "crl_numbers",
  "crls",
  "crl_due",
  "ocsp_responses",
  // SSH CA key rows (their keys come back with the token, like the CAs'), certificates, KRL numbers.
  "ssh_ca_keys",
  "ssh_certificates",
  "ssh_krls",
  "acme_accounts",
  "acme_orders",
  "acme_authorizations",
  "acme_challenges",
  "acme_eab_keys",
  "acme_renewal_windows",
  "audit_events",
  "audit_head",
  "audit_checkpoints",
  "audit_tree_heads",
  "users",
  "recovery_codes",
  "approvals",
  "approval_votes",
  // Sealed keys: useful wherever the token with their sealing key is (carried or restored).
  "sealed_keys",
  "keys",
  "key_versions",
  "key_distributions",
  "kmip_attributes",
  "escrow_agents",
  "escrow_policies",
  "key_escrows",
  "escrow_shares",
  "escrow_recoveries",
  "escrow_recovery_shares",
] as const satisfies ReadonlyArray<keyof Database>;

/** The tables left out on purpose (see above); a test holds every table to one of the two lists. */
export const SNAPSHOT_LEFT_OUT = [
  "acme_nonces",
  "rate_limit_counters",
  "sessions",
  "scheduler_slots",
  "audit_keys",
  "ocsp_responders",
  "service_signing_keys",
] as const satisfies ReadonlyArray<keyof Database>;

/**
 * SQLite's name-search index (migration 0027: an FTS5 table and the tables FTS5 keeps it in) and
 * its queue (0033): derived from certificates, so left out; a restore's inserts queue every
 * certificate again, and the index is rebuilt from the queue.
 */
export const SNAPSHOT_DERIVED = [
  "certificate_search_pending",
  "certificate_names",
  "certificate_names_config",
  "certificate_names_data",
  "certificate_names_docsize",
  "certificate_names_idx",
] as const;

export type SnapshotTable = (typeof SNAPSHOT_TABLES)[number];
/** Some of one table's rows as JSON (blobs as {"$b64": "…"}): a snapshot is read and restored in chunks. */
export interface SnapshotChunk {
  table: SnapshotTable;
  rows: Record<string, unknown>[];
}
/** A consistent copy being read: the schema it belongs to, then every table's rows, table by table. */
export interface SnapshotReader {
  migration: string;
  chunks(): AsyncGenerator<SnapshotChunk>;
}

/** Rows per chunk: a chunk is one line of a backup's payload, so memory stays flat at any size. */
const CHUNK_ROWS = 500;

const toJson = (row: Record<string, unknown>) =>
  Object.fromEntries(
    Object.entries(row).map(([k, v]) => [
      k,
      Buffer.isBuffer(v) || v instanceof Uint8Array ? { $b64: Buffer.from(v).toString("base64") } : v,
    ]),
  );
const fromJson = (row: Record<string, unknown>) =>
  Object.fromEntries(
    Object.entries(row).map(([k, v]) => [
      k,
      v !== null && typeof v === "object" && "$b64" in v
        ? Buffer.from(String((v as { $b64: string }).$b64), "base64")
        : v,
    ]),
  );

/** The latest migration the database has run: a snapshot restores only into the same schema. */
async function latestMigration(db: Kysely<Database>): Promise<string> {
  const result = await sql<{ name: string }>`SELECT name FROM kysely_migration ORDER BY name DESC LIMIT 1`.execute(db);
  return result.rows[0]?.name ?? "";
}

/**
 * One table's rows without holding them all: SQLite steps one statement (better-sqlite3's
 * iterator); PostgreSQL reads a cursor in the snapshot's transaction.
 */
async function* tableRows(tx: Kysely<Database>, dialect: OpenDatabase["dialect"], table: SnapshotTable) {
  if (dialect === "sqlite") {
    for await (const row of tx.selectFrom(table).selectAll().stream()) yield row as Record<string, unknown>;
    return;
  }
  await sql`DECLARE keyward_snapshot NO SCROLL CURSOR FOR SELECT * FROM ${sql.table(table)}`.execute(tx);
  try {
    for (;;) {
      const { rows } = await sql<
        Record<string, unknown>
      >`FETCH FORWARD ${sql.raw(String(CHUNK_ROWS))} FROM keyward_snapshot`.execute(tx);
      if (rows.length === 0) return;
      yield* rows;
    }
  } finally {
    await sql`CLOSE keyward_snapshot`.execute(tx);
  }
}

/**
 * A consistent logical copy of the database, the same for both engines, read in one transaction
 * (REPEATABLE READ on PostgreSQL; SQLite's transaction is a snapshot) while `use` runs. The
 * snapshot's moment is the migration read, before `use` starts: whatever `use` copies from
 * elsewhere afterwards (the token) is at least as new as every row. `use` must not touch the
 * database otherwise (on SQLite the transaction holds the one connection).
 */
export async function withSnapshot<T>(
  database: OpenDatabase,
  use: (snapshot: SnapshotReader) => Promise<T>,
): Promise<T> {
  const read = async (tx: Kysely<Database>) => {
    const migration = await latestMigration(tx);
    return use({
      migration,
      async *chunks() {
        for (const table of SNAPSHOT_TABLES) {
          let rows: Record<string, unknown>[] = [];
          for await (const row of tableRows(tx, database.dialect, table)) {
            rows.push(toJson(row));
            if (rows.length === CHUNK_ROWS) {
              yield { table, rows };
              rows = [];
            }
          }
          if (rows.length > 0) yield { table, rows };
        }
      },
    });
  };
  const transaction = database.db.transaction();
  return database.dialect === "postgres"
    ? transaction.setIsolationLevel("repeatable read").execute(read)
    : transaction.execute(read);
}

/**
 * Loads a snapshot into an empty database of the same schema, all or nothing: chunks arrive as they
 * are read (a backup's payload is decrypted as it streams), and any error from them — a payload
 * whose tag fails at its end — rolls the whole restore back.
 */
export async function restoreSnapshot(
  database: OpenDatabase,
  migration: string,
  chunks: AsyncIterable<SnapshotChunk>,
): Promise<Record<SnapshotTable, number>> {
  const ours = await latestMigration(database.db);
  if (migration !== ours) {
    throw new StorageError(
      `the backup's schema (${migration}) differs from this Keyward's (${ours}); restore with the version that made it`,
    );
  }
  const sqlite = database.dialect === "sqlite";
  // SQLite: a restore is one transaction of millions of rows landing at random keys in several
  // indexes; with the default 2 MB page cache, pages are spilled to the WAL and rewritten again and
  // again (a 4 GB WAL for a million certificates). A 256 MiB cache while the restore runs: at
  // 300,000 certificates 41–46 s instead of 57–60 s, for ~260 MiB more peak memory (same-hour runs).
  const cacheSize = sqlite
    ? (await sql<{ cache_size: number }>`PRAGMA cache_size`.execute(database.db)).rows[0]
    : undefined;
  if (sqlite) await sql`PRAGMA cache_size = -262144`.execute(database.db);
  try {
    return await database.db.transaction().execute((tx) => insertChunks(tx, chunks));
  } finally {
    if (cacheSize) await sql.raw(`PRAGMA cache_size = ${Number(cacheSize.cache_size)}`).execute(database.db);
  }
}

async function insertChunks(
  tx: Kysely<Database>,
  chunks: AsyncIterable<SnapshotChunk>,
): Promise<Record<SnapshotTable, number>> {
  // The genesis head (sequence 0) that the migration seeds gives way to the backup's head.
  await tx.deleteFrom("audit_head").where("seq", "=", 0).execute();
  const counts = {} as Record<SnapshotTable, number>;
  for (const table of SNAPSHOT_TABLES) {
    const existing = await tx.selectFrom(table).select(sql<number>`count(*)`.as("n")).executeTakeFirst();
    if (Number(existing?.n ?? 0) > 0) throw new StorageError(`restore needs an empty database, but ${table} has rows`);
    counts[table] = 0;
  }
  let position = 0;
  for await (const { table, rows } of chunks) {
    // Tables come in SNAPSHOT_TABLES' order (references point backwards), each once.
    const at = SNAPSHOT_TABLES.indexOf(table);
    if (at < position) throw new StorageError(`the snapshot's rows of ${String(table)} are out of order or unknown`);
    position = at;
    const values = rows.map(fromJson);
    for (let i = 0; i < values.length; i += 200) {
      await tx
        .insertInto(table)
        .values(values.slice(i, i + 200) as never)
        .execute();
    }
    counts[table] += values.length;
  }
  return counts;
}
