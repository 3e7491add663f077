import { type Compilable, CompiledQuery } from "kysely";
import type { OpenDatabase } from "../../src/storage/index.js";

/**
 * The plan the database makes for a query, as one string: SQLite's `explain query plan`, or
 * PostgreSQL's `explain` with sequential scans priced out (test tables are tiny, so a scan would
 * win there; the question is whether an index applies).
 */
export async function queryPlan(opened: OpenDatabase, query: Compilable): Promise<string> {
  const { sql, parameters } = query.compile();
  const plan =
    opened.dialect === "sqlite"
      ? await opened.db.executeQuery<Record<string, unknown>>(
          CompiledQuery.raw(`explain query plan ${sql}`, [...parameters]),
        )
      : await opened.db.transaction().execute(async (tx) => {
          await tx.executeQuery(CompiledQuery.raw("set local enable_seqscan = off"));
          return tx.executeQuery<Record<string, unknown>>(CompiledQuery.raw(`explain ${sql}`, [...parameters]));
        });
  return plan.rows.map((row) => Object.values(row).join(" ")).join("\n");
}
