import { type Kysely, sql } from "kysely";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GroupCommit } from "../../src/storage/group-commit.js";
import type { Database } from "../../src/storage/schema.js";
import { type OpenDatabase, openDatabase } from "../../src/storage/index.js";
import { PG_URL, testDatabases } from "../helpers/engines.js";

/**
 * Issue 27: on PostgreSQL Keyward names its statements so each connection parses and plans them once.
 * PostgreSQL's own view of the session (pg_prepared_statements) is the witness, not Keyward's
 * counters: the statement is there under a kw_ name, and its plan counts grow with each execution
 * (an unnamed statement would be parsed again and never show up there).
 */
const databases = testDatabases("prep");
let prepared: OpenDatabase;
let unnamed: OpenDatabase;
let admin: pg.Client;
const schema = () => prepared.schema!;

beforeAll(async () => {
  prepared = await openDatabase(databases.url("postgres", "named"));
  unnamed = await openDatabase(`${databases.url("postgres", "unnamed")}&prepared=false`);
  admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  for (const db of [prepared, unnamed]) {
    await db.db
      .insertInto("deployment_settings")
      .values({ name: "probe", value: "one", updated_at: "2026-12-03T00:00:00Z" })
      .execute();
  }
});

afterAll(async () => {
  await prepared?.close();
  await unnamed?.close();
  await admin?.end();
  await databases.cleanup();
});

interface PreparedRow {
  name: string;
  statement: string;
  generic_plans: string;
  custom_plans: string;
}

/** Runs `work` and then reads pg_prepared_statements on the same connection. */
async function onOneConnection<T>(
  db: Kysely<Database>,
  work: (conn: Kysely<Database>) => Promise<T>,
): Promise<{ result: T; statements: PreparedRow[] }> {
  return db.connection().execute(async (conn) => {
    const result = await work(conn);
    const statements = (
      await sql<PreparedRow>`SELECT name, statement, generic_plans, custom_plans FROM pg_prepared_statements`.execute(
        conn,
      )
    ).rows;
    return { result, statements };
  });
}

const readProbe = (conn: Kysely<Database>) =>
  conn.selectFrom("deployment_settings").selectAll().where("name", "=", "probe").executeTakeFirstOrThrow();

describe("prepared statements on PostgreSQL", () => {
  it("a query runs as a statement the connection prepared once, under a name from its text", async () => {
    const compiled = prepared.db
      .selectFrom("deployment_settings")
      .selectAll()
      .where("name", "=", "probe")
      .compile().sql;
    const { result, statements } = await onOneConnection(prepared.db, async (conn) => {
      for (let i = 0; i < 6; i++) await readProbe(conn);
      return readProbe(conn);
    });
    expect(result.value).toBe("one");
    const mine = statements.filter((s) => s.statement === compiled);
    expect(mine).toHaveLength(1);
    expect(mine[0]!.name).toMatch(/^kw_[0-9a-f]{32}$/);
    // Seven executions of one prepared statement (PostgreSQL counts each plan it used).
    expect(Number(mine[0]!.generic_plans) + Number(mine[0]!.custom_plans)).toBeGreaterThanOrEqual(7);
    // BEGIN/COMMIT, DDL and `set local` are never prepared, only reads and writes.
    for (const s of statements) expect(s.statement).toMatch(/^\s*(select|insert|update|delete|with)\b/i);
  });

  it("prepared=false (the bench's A/B) sends every statement unnamed", async () => {
    const { result, statements } = await onOneConnection(unnamed.db, readProbe);
    expect(result.value).toBe("one");
    expect(statements).toEqual([]);
  });

  it("relaxed writes: one round trip on their own sessions; behind a pooler (prepared=false) SET LOCAL in a transaction", async () => {
    const setting = (db: OpenDatabase) =>
      db.relaxed(
        async (q) =>
          (await sql<{ s: string }>`select current_setting('synchronous_commit') as s`.execute(q)).rows[0]!.s,
      );
    for (const [db, roundTrips] of [
      [prepared, 1],
      [unnamed, 4],
    ] as const) {
      expect(await setting(db)).toBe("off");
      const before = db.statements();
      await setting(db);
      expect(db.statements() - before).toBe(roundTrips);
      // Durable writes still wait for the WAL flush: the relaxed setting stays where it was set.
      expect(
        (await sql<{ s: string }>`select current_setting('synchronous_commit') as s`.execute(db.db)).rows[0]!.s,
      ).toBe("on");
    }
  });

  it("a query prepared before a schema change still answers after it, with the new column", async () => {
    await onOneConnection(prepared.db, readProbe);
    // What a migration by another instance does: the prepared SELECT * now has another result type.
    await admin.query(`ALTER TABLE "${schema()}".deployment_settings ADD COLUMN probe_extra text DEFAULT 'x'`);
    await admin.query(`CREATE INDEX probe_extra_idx ON "${schema()}".deployment_settings (probe_extra)`);
    const { result } = await onOneConnection(prepared.db, async (conn) => {
      const rows = [];
      // Every pooled connection that prepared it before gets the same answer.
      for (let i = 0; i < 3; i++) rows.push(await readProbe(conn));
      return rows;
    });
    for (const row of result) expect(row).toMatchObject({ value: "one", probe_extra: "x" });
    // And through the pool, on whichever connection.
    expect(await readProbe(prepared.db)).toMatchObject({ value: "one", probe_extra: "x" });
  });

  it("inside a transaction a stale statement fails that transaction once, and the next one works", async () => {
    await onOneConnection(prepared.db, readProbe);
    await admin.query(`ALTER TABLE "${schema()}".deployment_settings ADD COLUMN probe_more text DEFAULT 'y'`);
    const attempt = () => prepared.db.transaction().execute((tx) => readProbe(tx));
    const outcomes: string[] = [];
    for (let i = 0; i < 12; i++) {
      outcomes.push(
        await attempt().then(
          (row) => (row as { probe_more?: string }).probe_more ?? "no column",
          (e) => `error ${e.code}`,
        ),
      );
    }
    // At most one failure per pooled connection that had it prepared (here: one), then the new shape.
    expect(outcomes.filter((o) => o.startsWith("error")).length).toBeLessThanOrEqual(1);
    for (const o of outcomes) expect(["y", "error 0A000"]).toContain(o);
    expect(outcomes.at(-1)).toBe("y");
  });

  it("group commit runs a write again when its statement went stale, instead of failing it", async () => {
    const group = new GroupCommit(prepared.db);
    // A text of its own: the tests above left readProbe unnamed on the connections they used.
    const read = (conn: Kysely<Database>) =>
      conn
        .selectFrom("deployment_settings")
        .selectAll()
        .where("name", "=", "probe")
        .where("value", "=", "one")
        .executeTakeFirstOrThrow();
    expect((await group.run(read)).value).toBe("one");
    await admin.query(`ALTER TABLE "${schema()}".deployment_settings ADD COLUMN probe_third text DEFAULT 'z'`);
    const rows = await Promise.all(Array.from({ length: 4 }, () => group.run(read)));
    for (const row of rows) expect(row).toMatchObject({ value: "one", probe_third: "z" });
  });
});
