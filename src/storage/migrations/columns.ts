import { type RawBuilder, sql } from "kysely";

export type Dialect = "sqlite" | "postgres";

/** Column types whose name differs between the two engines. */
export interface Columns {
  blob: RawBuilder<unknown>;
}

export function columnsFor(dialect: Dialect): Columns {
  return { blob: dialect === "postgres" ? sql`bytea` : sql`blob` };
}
