import { chmodSync, existsSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import SqliteDatabase from "better-sqlite3";
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql } from "kysely";
import pg from "pg";
import { StorageError } from "../errors/index.js";
import { type Dialect, migrations } from "./migrations/index.js";
import { isStalePlan, StatementNames } from "./prepared-statements.js";
import { type RelaxedWriter, relaxedPostgres, relaxedPostgresPooled, relaxedSqlite } from "./relaxed.js";
import type { Database } from "./schema.js";

export interface OpenDatabase {
  db: Kysely<Database>;
  dialect: Dialect;
  /** For writes whose loss on power failure costs only a retry (see relaxed.ts). */
  relaxed: RelaxedWriter;
  /** PostgreSQL schema chosen by the URL, if any. */
  schema?: string;
  /** Readiness: one round trip (SELECT 1); throws when the database does not answer. */
  ping(): Promise<void>;
  /**
   * Statements sent since the database was opened (BEGIN, COMMIT and savepoints included). On
   * PostgreSQL each is one round trip to the server; on SQLite one statement run. Read by metrics
   * (`keyward_db_statements_total`), the bench and the tests that bound the cost of a certificate.
   */
  statements(): number;
  close(): Promise<void>;
}

/**
 * Opens `sqlite:<path>` (embedded default) or `postgres://…` and brings the schema up to date.
 * A `schema` query parameter on a PostgreSQL URL selects (and creates) a schema, so test files
 * and deployments can share one database.
 */
export async function openDatabase(url: string): Promise<OpenDatabase> {
  const opened = url.startsWith("sqlite:") ? openSqlite(url.slice("sqlite:".length)) : await openPostgres(url);
  try {
    // With several schemas in one database, Kysely must look for its own tables in ours only.
    const migrator = new Migrator({
      db: opened.db,
      provider: migrations(opened.dialect),
      ...(opened.schema ? { migrationTableSchema: opened.schema } : {}),
    });
    const { error } = await migrator.migrateToLatest();
    if (error) throw error;
  } catch (error) {
    await opened.close();
    throw new StorageError(`database migration failed: ${(error as Error).message}`, error);
  }
  return { ...opened, ping: async () => void (await sql`SELECT 1`.execute(opened.db)) };
}

/** A plain counter the adapters bump once per statement (a closure: no Prometheus cost per query). */
function statementCounter() {
  let count = 0;
  return { bump: () => void count++, read: () => count };
}

function openSqlite(path: string): Omit<OpenDatabase, "ping"> {
  const counter = statementCounter();
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  let sqlite: SqliteDatabase.Database;
  try {
    sqlite = new SqliteDatabase(path);
  } catch (error) {
    throw new StorageError(`cannot open SQLite database ${path}: ${(error as Error).message}`, error);
  }
  // Owner-only whatever the umask (or an older Keyward) made it; SQLite gives the WAL and SHM files
  // the database file's mode, and any that exist already are fixed here too.
  if (path !== ":memory:") {
    for (const file of [path, `${path}-wal`, `${path}-shm`]) if (existsSync(file)) chmodSync(file, 0o600);
  }
  sqlite.pragma("journal_mode = WAL");
  // FULL: a commit is on disk before we answer (revocations and issuance must survive power loss).
  sqlite.pragma("synchronous = FULL");
  sqlite.pragma("busy_timeout = 10000");
  sqlite.pragma("foreign_keys = ON");
  const db = new Kysely<Database>({
    dialect: new SqliteDialect({ database: withStatementCache(sqlite, counter.bump) }),
  });
  return {
    db,
    dialect: "sqlite",
    relaxed: relaxedSqlite(db, sqlite),
    statements: counter.read,
    close: () => db.destroy(),
  };
}

/**
 * Kysely prepares every query afresh; better-sqlite3 statements can be reused, and preparing is a
 * measurable share of each request. Statements run synchronously, so reuse cannot interleave.
 */
function withStatementCache(sqlite: SqliteDatabase.Database, counted: () => void) {
  const cache = new Map<string, SqliteDatabase.Statement>();
  return {
    close: () => sqlite.close(),
    // Kysely asks for a statement each time it runs one, so this is also where they are counted.
    prepare(sql: string) {
      counted();
      let statement = cache.get(sql);
      if (!statement) {
        statement = sqlite.prepare(sql);
        // Queries with IN-lists or other variable shapes could grow this without bound.
        if (cache.size >= 500) cache.delete(cache.keys().next().value!);
        cache.set(sql, statement);
      }
      return statement;
    },
  };
}

async function openPostgres(url: string): Promise<Omit<OpenDatabase, "ping">> {
  if (!/^postgres(ql)?:\/\//.test(url)) {
    throw new StorageError('database url must start with "sqlite:" or "postgres://"');
  }
  const parsed = new URL(url);
  const schema = parsed.searchParams.get("schema");
  parsed.searchParams.delete("schema");
  // `prepared=false` sends every statement unnamed (parsed and planned each time): the bench's A/B.
  const prepared = parsed.searchParams.get("prepared") !== "false";
  parsed.searchParams.delete("prepared");
  if (schema !== null && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new StorageError("database url: schema must be a lowercase SQL identifier");
  }
  const counter = statementCounter();
  const names = prepared ? new StatementNames() : undefined;
  // Every query the pool's clients send is one round trip (pg waits for ReadyForQuery).
  class CountingClient extends pg.Client {
    /** Names whose statement on this connection went stale (see isStalePlan): run unnamed here. */
    private readonly stale = new Set<string>();
    /** Transaction status from the last ReadyForQuery: "I" idle, "T" in a transaction, "E" failed. */
    private status = "I";

    // biome-ignore lint/suspicious/noExplicitAny: pg's constructor takes a config or a string.
    constructor(config?: any) {
      super(config);
      // biome-ignore lint/suspicious/noExplicitAny: the connection is not in pg's public types.
      (this as any).connection.on("readyForQuery", (message: { status: string }) => {
        this.status = message.status;
      });
    }

    // biome-ignore lint/suspicious/noExplicitAny: pg's query() has a dozen overloads; this counts and names.
    override query(...args: any[]): any {
      counter.bump();
      // biome-ignore lint/suspicious/noExplicitAny: as above.
      const send = super.query as (...a: any[]) => any;
      // Kysely sends query(text, values) and awaits the promise; anything else passes through.
      const [text, values] = args;
      const name = names && args.length === 2 && typeof text === "string" ? names.nameFor(text) : undefined;
      if (!name || this.stale.has(name)) return send.apply(this, args);
      return send.call(this, { name, text, values }).catch((error: unknown) => {
        if (!isStalePlan(error)) throw error;
        // The server keeps the stale statement under this name; this connection stops using it.
        this.stale.add(name);
        // Outside a transaction the statement can simply run again; inside one the transaction
        // is aborted and the error goes to whoever retries it.
        if (this.status === "I") return send.call(this, text, values);
        throw error;
      });
    }
  }
  const searchPath = schema ? `-c search_path=${schema}` : "";
  const kysely = (max: number, options: string) =>
    new Kysely<Database>({
      dialect: new PostgresDialect({
        pool: new pg.Pool({
          Client: CountingClient,
          connectionString: parsed.toString(),
          max,
          ...(options ? { options } : {}),
        }),
      }),
    });
  const db = kysely(10, searchPath);
  // Relaxed writes (relaxed.ts) on sessions that commit without waiting for the WAL flush: each is
  // one autocommitted statement, one round trip, where BEGIN, SET LOCAL and COMMIT around it made
  // four. Not behind a transaction pooler (`prepared=false`), where sessions are shared.
  const relaxedDb = prepared ? kysely(4, `-c synchronous_commit=off ${searchPath}`.trim()) : undefined;
  try {
    if (schema) {
      // Instances starting together race to create the schema; losing that race is fine.
      await sql
        .raw(`CREATE SCHEMA IF NOT EXISTS "${schema}"`)
        .execute(db)
        .catch((error: { code?: string }) => {
          if (error.code !== "23505" && error.code !== "42P06") throw error;
        });
    }
  } catch (error) {
    await Promise.all([db.destroy(), relaxedDb?.destroy()]);
    throw new StorageError(`cannot connect to PostgreSQL: ${(error as Error).message}`, error);
  }
  return {
    db,
    dialect: "postgres",
    relaxed: relaxedDb ? relaxedPostgres(relaxedDb) : relaxedPostgresPooled(db),
    ...(schema ? { schema } : {}),
    statements: counter.read,
    close: async () => {
      await Promise.all([db.destroy(), relaxedDb?.destroy()]);
    },
  };
}
