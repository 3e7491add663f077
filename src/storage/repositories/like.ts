import { type RawBuilder, sql } from "kysely";

/**
 * `column LIKE '%text%'` with the text taken literally: `%`, `_` and the escape character itself
 * would otherwise be wildcards (an `_` in a base64url id matches any character).
 */
export function contains(column: string | RawBuilder<string>, text: string): RawBuilder<boolean> {
  return likeEscaped(column, containsPattern(text));
}

/** `column LIKE pattern`, a backslash escaping (a pattern from containsPattern). */
export function likeEscaped(column: string | RawBuilder<string>, pattern: string): RawBuilder<boolean> {
  const target = typeof column === "string" ? sql.ref(column) : column;
  return sql<boolean>`${target} like ${pattern} escape '\\'`;
}

/** The LIKE pattern that matches `text` anywhere, taken literally. */
export const containsPattern = (text: string) => `%${text.replace(/[\\%_]/g, "\\$&")}%`;
