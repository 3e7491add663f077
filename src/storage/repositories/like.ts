import { type RawBuilder, sql } from "kysely";

/**
 * `column LIKE '%text%'` with the text taken literally: `%`, `_` and the escape character itself
 * would otherwise be wildcards (an `_` in a base64url id matches any character).
 */
export function contains(column: string | RawBuilder<string>, text: string): RawBuilder<boolean> {
  const target = typeof column === "string" ? sql.ref(column) : column;
  return sql<boolean>`${target} like ${`%${text.replace(/[\\%_]/g, "\\$&")}%`} escape '\\'`;
}
