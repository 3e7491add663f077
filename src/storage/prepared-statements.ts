import { createHash } from "node:crypto";

/** Distinct statement texts named at most (IN-lists and the like give a query many texts). */
const MAX_NAMED = 500;

/** Statements worth preparing: data reads and writes, never DDL, `set local` or BEGIN/COMMIT. */
const DML = /^\s*(select|insert|update|delete|with)\b/i;

/**
 * Names for PostgreSQL statements, by a hash of their SQL text. node-pg sends a named statement's
 * Parse once per connection and only Bind/Execute afterwards, so PostgreSQL parses, analyses and
 * (once it settles on a generic plan) plans each of Keyward's queries once per connection instead
 * of on every execution — CPU that, on a machine shared with the database, Keyward's own work
 * competes with.
 *
 * Shared by all connections of a pool: a name always stands for the same text. Texts beyond
 * MAX_NAMED run unnamed, which bounds what each connection keeps prepared on the server.
 */
export class StatementNames {
  private readonly names = new Map<string, string | null>();

  constructor(private readonly limit = MAX_NAMED) {}

  /** The name to prepare `text` under, or undefined to run it unnamed (parsed every time). */
  nameFor(text: string): string | undefined {
    let name = this.names.get(text);
    if (name === undefined) {
      name =
        DML.test(text) && this.names.size < this.limit
          ? `kw_${createHash("sha256").update(text).digest("hex").slice(0, 32)}`
          : null;
      if (name !== null || this.names.size < this.limit) this.names.set(text, name);
    }
    return name ?? undefined;
  }

  /** Texts named so far (tests). */
  get size(): number {
    let named = 0;
    for (const name of this.names.values()) if (name) named++;
    return named;
  }
}

/**
 * PostgreSQL keeps a prepared statement's result columns: when a schema change alters them (a
 * column added to a table read with `SELECT *`, another instance migrating during a rolling
 * upgrade), every later execution fails with this error until the statement is deallocated.
 * Other plan changes (indexes, new columns not returned) PostgreSQL handles by replanning.
 */
export function isStalePlan(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: string; message?: string };
  return code === "0A000" && /cached plan must not change result type/.test(message ?? "");
}
