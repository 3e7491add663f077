import { type Kysely, sql } from "kysely";
import type { RelaxedWriter } from "../relaxed.js";
import type { Database } from "../schema.js";
import { defineQueryPerCount, rowMarkers, rowValues } from "../compiled-query.js";

/** Adds one to each key's counter in a window, creating those that do not exist yet. */
const incrementKeys = defineQueryPerCount((db, p: Record<string, unknown>, count) =>
  db
    .insertInto("rate_limit_counters")
    .values(
      rowMarkers(p, count, ["key", "window_start"]).map((row) => ({
        key: row.key as string,
        window_start: row.window_start as string,
        count: 1,
      })),
    )
    .onConflict((oc) => oc.columns(["key", "window_start"]).doUpdateSet({ count: sql`rate_limit_counters.count + 1` }))
    .returning(["key", "count"]),
);

/** Fixed-window counters; an increment is one statement, so instances sharing a database agree. */
export class SqlRateLimitStore {
  constructor(
    private readonly db: Kysely<Database>,
    /** Counters: one lost on power failure only lets a client a little more through. */
    private readonly relaxed: RelaxedWriter,
  ) {}

  async increment(keys: string[], windowStart: Date): Promise<number[]> {
    const start = windowStart.toISOString();
    const values = rowValues(keys.map((key) => ({ key, window_start: start })));
    const { rows } = await this.relaxed((db) => incrementKeys(keys.length).run(db, values));
    // RETURNING promises no order.
    const counts = new Map(rows.map((row) => [row.key, Number(row.count)]));
    return keys.map((key) => counts.get(key)!);
  }

  async deleteBefore(windowStart: Date): Promise<void> {
    await this.db.deleteFrom("rate_limit_counters").where("window_start", "<", windowStart.toISOString()).execute();
  }
}
