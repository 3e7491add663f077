import { type Compilable, CompiledQuery, type Kysely, type QueryResult, type RawBuilder } from "kysely";
import type { Database } from "./schema.js";

const NAME = Symbol("compiled query parameter");
type Marker = { readonly [NAME]: string };
const isMarker = (value: unknown): value is Marker => typeof value === "object" && value !== null && NAME in value;

/** A query compiled once per database, run with new values (see defineQuery). */
export interface DefinedQuery<P, R> {
  /** Runs on `executor`: a database, or a transaction or connection of one. */
  run(executor: Kysely<Database>, values: P): Promise<QueryResult<R>>;
}

/**
 * A query that requests run every time, built and compiled once per database. Kysely builds an
 * immutable tree (every node frozen) and compiles it to SQL on each execution: in a mix of
 * Keyward's query shapes that was ~15 µs of the ~20 µs a single-row statement cost on SQLite, and
 * an ACME certificate runs 28 of them. Here the tree is built once, with a marker standing for
 * each named value, and a run only puts its values in the markers' places.
 *
 * `build` is given only `p`, whose properties are the markers, and is defined at a module's top
 * level, where no per-call value is in scope: any value the query does not take from `p` is a
 * constant of it. A shape that varies (a list of any length, an optional column) is one definition
 * per shape, or stays an ordinary Kysely query.
 */
export function defineQuery<P extends Record<string, unknown>, R>(
  build: (db: Kysely<Database>, p: P) => Compilable<R>,
): DefinedQuery<P, R> {
  // By adapter: one per database (SQLite or PostgreSQL), shared by its transactions and connections.
  const compiled = new WeakMap<object, (values: P) => CompiledQuery<R>>();
  return {
    async run(executor, values) {
      const adapter = executor.getExecutor().adapter;
      let bind = compiled.get(adapter);
      if (!bind) {
        bind = compile(executor, build);
        compiled.set(adapter, bind);
      }
      return executor.executeQuery(bind(values));
    },
  };
}

/** defineQuery for a statement written as SQL (Kysely's `sql` template), its values taken from `p`. */
export function defineSqlQuery<P extends Record<string, unknown>, R>(
  build: (p: P) => RawBuilder<R>,
): DefinedQuery<P, R> {
  return defineQuery((db, p: P) => ({ compile: () => build(p).compile(db) }));
}

function compile<P extends Record<string, unknown>, R>(
  db: Kysely<Database>,
  build: (db: Kysely<Database>, p: P) => Compilable<R>,
): (values: P) => CompiledQuery<R> {
  const markers = new Proxy({} as P, {
    get: (_target, name) => ({ [NAME]: String(name) }),
    // `values(p)` or `set(p)` would see no columns at all: each value is named.
    ownKeys: () => {
      throw new Error("compiled query: name each of p's values (p has no keys to list)");
    },
  });
  const { sql, parameters } = build(db, markers).compile();
  // Each parameter is a named value of the run or a constant of the query.
  const slots = parameters.map((value) => (isMarker(value) ? value[NAME] : { constant: value }));
  return (values) => {
    const bound = slots.map((slot) => {
      if (typeof slot !== "string") return slot.constant;
      const value = values[slot];
      // undefined would bind as NULL on SQLite: a missing value is the caller's bug, not a NULL.
      if (value === undefined) throw new Error(`compiled query: no value for ${slot}`);
      return value;
    });
    return CompiledQuery.raw(sql, bound) as CompiledQuery<R>;
  };
}

/**
 * defineQuery for a statement whose shape is a count (a multi-row insert's rows): one definition
 * per count up to `most`; beyond it, a query built on each run as usual (`build` then gets the
 * values themselves).
 */
export function defineQueryPerCount<P extends Record<string, unknown>, R>(
  build: (db: Kysely<Database>, p: P, count: number) => Compilable<R>,
  most = 16,
): (count: number) => DefinedQuery<P, R> {
  const byCount = new Map<number, DefinedQuery<P, R>>();
  return (count) => {
    if (count > most) return { run: async (executor, values) => executor.executeQuery(build(executor, values, count)) };
    let query = byCount.get(count);
    if (!query) {
      query = defineQuery((db, p: P) => build(db, p, count));
      byCount.set(count, query);
    }
    return query;
  };
}

/** Rows as one object of values named `<row>.<column>`, as a defineQueryPerCount insert takes them. */
export function rowValues(rows: readonly Record<string, unknown>[]): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  rows.forEach((row, i) => {
    for (const column in row) values[`${i}.${column}`] = row[column];
  });
  return values;
}

/** The rows of a defineQueryPerCount insert, each column's value named as rowValues names it. */
export function rowMarkers<C extends string>(
  p: Record<string, unknown>,
  count: number,
  columns: readonly C[],
): Record<C, unknown>[] {
  return Array.from(
    { length: count },
    (_, i) => Object.fromEntries(columns.map((column) => [column, p[`${i}.${column}`]])) as Record<C, unknown>,
  );
}
