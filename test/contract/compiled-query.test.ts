import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sql } from "kysely";
import {
  defineQuery,
  defineQueryPerCount,
  defineSqlQuery,
  rowMarkers,
  rowValues,
} from "../../src/storage/compiled-query.js";
import { type OpenDatabase, openDatabase } from "../../src/storage/database.js";
import { testDatabases } from "../helpers/engines.js";

const databases = testDatabases("compiled");
afterAll(() => databases.cleanup());

// Defined once, as the repositories define theirs: compiled for each database on its first run.
const counter = defineQuery((db, p: { key: string; start: string }) =>
  db.selectFrom("rate_limit_counters").select("count").where("key", "=", p.key).where("window_start", "=", p.start),
);
/** A constant ("w") next to named values: the constant stays, each run's values change. */
const setCount = defineQuery((db, p: { key: string; count: number }) =>
  db
    .updateTable("rate_limit_counters")
    .set({ count: p.count })
    .where("key", "=", p.key)
    .where("window_start", "=", "w"),
);
/** The same kind of statement written as SQL: a constant in the text, values from p. */
const addToCount = defineSqlQuery(
  (p: { key: string; by: number }) =>
    sql<{ count: number }>`update rate_limit_counters set count = count + ${p.by}
      where key = ${p.key} and window_start = ${"w"} returning count`,
);
const insertCounters = defineQueryPerCount(
  (db, p: Record<string, unknown>, count) =>
    // biome-ignore lint/suspicious/noExplicitAny: markers stand for the values.
    db.insertInto("rate_limit_counters").values(rowMarkers(p, count, ["key", "window_start", "count"]) as any),
  2,
);

describe.each(["sqlite", "postgres"] as const)("compiled queries on %s", (engine) => {
  let opened: OpenDatabase;
  beforeAll(async () => {
    opened = await openDatabase(databases.url(engine));
  });
  afterAll(async () => {
    await opened?.close();
  });

  const count = async (key: string, start = "w") =>
    (await counter.run(opened.db, { key, start })).rows.map((r) => Number(r.count));

  it("inserts rows of every count, compiled up to `most` and built as usual beyond it", async () => {
    for (const rows of [
      [{ key: "a", window_start: "w", count: 1 }],
      [
        { key: "b", window_start: "w", count: 2 },
        { key: "b", window_start: "v", count: 3 },
      ],
      [
        { key: "c", window_start: "w", count: 4 },
        { key: "d", window_start: "w", count: 5 },
        { key: "e", window_start: "w", count: 6 },
      ],
    ]) {
      const result = await insertCounters(rows.length).run(opened.db, rowValues(rows));
      expect(result.numAffectedRows).toBe(BigInt(rows.length));
    }
    expect([await count("a"), await count("b"), await count("b", "v"), await count("e")]).toEqual([[1], [2], [3], [6]]);
    expect(await count("nothing")).toEqual([]);
  });

  it("binds each run's values and keeps the query's constants, in a transaction too", async () => {
    expect((await setCount.run(opened.db, { key: "a", count: 10 })).numAffectedRows).toBe(1n);
    // The constant window: the "v" row of b is not touched.
    expect((await setCount.run(opened.db, { key: "b", count: 20 })).numAffectedRows).toBe(1n);
    expect([await count("a"), await count("b"), await count("b", "v")]).toEqual([[10], [20], [3]]);
    await expect(
      opened.db.transaction().execute(async (tx) => {
        await setCount.run(tx, { key: "a", count: 11 });
        expect(await counter.run(tx, { key: "a", start: "w" }).then((r) => r.rows[0]?.count)).toBe(11);
        throw new Error("roll back");
      }),
    ).rejects.toThrow("roll back");
    expect(await count("a")).toEqual([10]);
  });

  it("runs a statement written as SQL with each run's values", async () => {
    expect((await addToCount.run(opened.db, { key: "a", by: 5 })).rows.map((r) => Number(r.count))).toEqual([15]);
    expect((await addToCount.run(opened.db, { key: "b", by: 1 })).rows.map((r) => Number(r.count))).toEqual([21]);
    expect([await count("a"), await count("b", "v")]).toEqual([[15], [3]]);
    await expect(addToCount.run(opened.db, { key: "a" } as never)).rejects.toThrow("no value for by");
  });

  it("refuses a missing value, and a builder that lists p's keys, instead of binding NULL or nothing", async () => {
    await expect(setCount.run(opened.db, { key: "a" } as never)).rejects.toThrow("no value for count");
    // biome-ignore lint/suspicious/noExplicitAny: the misuse the proxy refuses.
    const listed = defineQuery((db, p: { key: string }) => db.insertInto("rate_limit_counters").values(p as any));
    await expect(listed.run(opened.db, { key: "x" })).rejects.toThrow("name each of p's values");
    expect(await count("x")).toEqual([]);
  });
});
