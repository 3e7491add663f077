import { type Kysely, PostgresAdapter, type QueryCreator, type Selectable, sql } from "kysely";
import {
  type AuditEvent,
  type AuditFilter,
  type AuditStore,
  canonicalJson,
  chainHash,
  type StoredAuditEvent,
  type StoredTreeHead,
} from "../../audit/index.js";
import type { AuditEventsTable, AuditTreeHeadsTable, Database } from "../schema.js";
import { type DefinedQuery, defineQuery, defineSqlQuery } from "../compiled-query.js";

/** The chain's head as this transaction left it, once it holds the head's lock. */
const heads = new WeakMap<Kysely<Database>, { seq: number; hash: string }>();

/**
 * The head this process last saw, per database (keyed by the Kysely adapter, which a database's
 * transactions share): a guess, never trusted. An append that guesses moves the head only if it
 * is still exactly that (seq and hash, compared under the row lock), so a wrong guess — another
 * instance appended, a transaction rolled back — costs one statement that writes nothing.
 *
 * Guessing pays only while guesses are mostly right: alone, a hit costs 1 round trip and a miss 5
 * (the miss, then BEGIN, lock, append, COMMIT) against 4 without guessing, so it pays above a 1/4
 * hit rate; in a transaction a hit saves the lock (1 against 2) and a miss adds one, above 1/2.
 * Instances of a fleet appending at once make most guesses wrong: the rate is followed (decaying)
 * and below the threshold every 16th append still guesses, to notice when it is right again.
 */
class HeadGuess {
  head: { seq: number; hash: string } | undefined;
  private hits = 1;
  private tries = 1;
  private skipped = 0;

  /** The head to try, or undefined to lock and read it. */
  take(threshold: number): { seq: number; hash: string } | undefined {
    if (!this.head) return undefined;
    if (this.hits / this.tries >= threshold || ++this.skipped >= 16) return this.head;
    return undefined;
  }

  outcome(hit: boolean): void {
    this.skipped = 0;
    this.tries = this.tries * 0.9 + 1;
    this.hits = this.hits * 0.9 + (hit ? 1 : 0);
  }
}
const guesses = new WeakMap<object, HeadGuess>();
function guessFor(adapter: object): HeadGuess {
  let guess = guesses.get(adapter);
  if (!guess) {
    guess = new HeadGuess();
    guesses.set(adapter, guess);
  }
  return guess;
}

/** A row inserted by the event's own statement on PostgreSQL (a certificate intent). */
export interface AlongsideRow {
  into: keyof Database & string;
  row: Record<string, unknown>;
}

/**
 * Appends an event to the chain inside the caller's transaction, so a change and its event commit
 * or fail together. The transaction's first append locks the head row (a row lock on PostgreSQL,
 * the database lock on SQLite) and reads it, so concurrent appenders queue instead of forking the
 * chain; later appends in the same transaction (a group commit's batch) already know the head.
 * On PostgreSQL the event and the new head go in one statement: an append costs one round trip,
 * plus one per transaction for the lock — none when the head is where this process last saw it
 * (the statement's update takes the lock). A transaction that fails is rolled back whole (group
 * commit reruns the others in a new one), so a remembered head never outlives its transaction.
 *
 * Given the database itself rather than a transaction (PostgreSQL only; group commit's lone write),
 * the append is one autocommitted statement when the guessed head is right — the statement is the
 * transaction, durable once it returns — and otherwise opens a transaction of its own.
 */
export async function appendAudit(
  tx: Kysely<Database>,
  event: AuditEvent,
  /** An insert the event records, run before the event: on PostgreSQL in the event's own statement. */
  alongside?: AlongsideRow,
): Promise<StoredAuditEvent> {
  const adapter = tx.getExecutor().adapter;
  const postgres = adapter instanceof PostgresAdapter;
  if (!tx.isTransaction) {
    if (!postgres) throw new Error("appendAudit outside a transaction is for PostgreSQL only");
    const guess = guessFor(adapter).take(1 / 4);
    const appended = guess && (await appendIfHeadIs(tx, guess, event, alongside));
    return appended ?? tx.transaction().execute((t) => appendAudit(t, event, alongside));
  }
  if (alongside && !postgres) await insertAlongside(alongside).run(tx, alongside.row);
  let head = heads.get(tx);
  if (!head && postgres) {
    const guess = guessFor(adapter).take(1 / 2);
    const appended = guess && (await appendIfHeadIs(tx, guess, event, alongside));
    if (appended) {
      heads.set(tx, { seq: appended.seq, hash: appended.hash });
      return appended;
    }
  }
  if (!head) {
    const row = (await lockHead.run(tx, {})).rows[0];
    if (!row) throw new Error("the audit head row is missing");
    head = { seq: Number(row.seq), hash: row.hash };
  }
  const seq = head.seq + 1;
  const hash = chainHash(head.hash, seq, event);
  const values = eventRow(event, seq, head.hash, hash);
  if (postgres) {
    // Data-modifying CTEs: all writes in one round trip (SQLite has none; its statements cost no trip).
    const moveHead = (q: QueryCreator<Database>) => q.updateTable("audit_head").set({ seq, hash }).where("id", "=", 1);
    // The alongside CTE is never referenced: only the creator's type changes, so it is left as is.
    const creator = (alongside
      ? tx.with("alongside", (q) => insertRow(q, alongside))
      : tx) as unknown as QueryCreator<Database>;
    await creator.with("moved_head", moveHead).insertInto("audit_events").values(values).execute();
    guessFor(adapter).head = { seq, hash };
  } else {
    await insertEvent.run(tx, values);
    await moveHead.run(tx, { seq, hash });
  }
  heads.set(tx, { seq, hash });
  return { ...event, seq, prevHash: head.hash, hash };
}

// biome-ignore lint/suspicious/noExplicitAny: an insert into whichever table the caller names.
const insertRow = (q: QueryCreator<Database>, { into, row }: AlongsideRow) => q.insertInto(into).values(row as any);

/** Reads the head under the transaction's lock: the update takes the row lock (SQLite: the database's). */
const lockHead = defineQuery((db) =>
  db
    .updateTable("audit_head")
    .set((eb) => ({ seq: eb.ref("seq") }))
    .where("id", "=", 1)
    .returning(["seq", "hash"]),
);
const insertEvent = defineQuery((db, p: ReturnType<typeof eventRow>) =>
  db.insertInto("audit_events").values({
    seq: p.seq,
    at: p.at,
    action: p.action,
    actor_id: p.actor_id,
    actor_name: p.actor_name,
    actor_kind: p.actor_kind,
    request_id: p.request_id,
    address: p.address,
    target_type: p.target_type,
    target_id: p.target_id,
    outcome: p.outcome,
    details: p.details,
    prev_hash: p.prev_hash,
    hash: p.hash,
  }),
);
const moveHead = defineQuery((db, p: { seq: number; hash: string }) =>
  db.updateTable("audit_head").set({ seq: p.seq, hash: p.hash }).where("id", "=", 1),
);

/** SQLite's insert of an alongside row, one definition per table and columns (a handful). */
const alongsideInserts = new Map<string, DefinedQuery<Record<string, unknown>, unknown>>();
function insertAlongside({ into, row }: AlongsideRow): DefinedQuery<Record<string, unknown>, unknown> {
  const columns = Object.keys(row);
  const shape = `${into}(${columns.join()})`;
  let insert = alongsideInserts.get(shape);
  if (!insert) {
    insert = defineQuery((db, p: Record<string, unknown>) =>
      // biome-ignore lint/suspicious/noExplicitAny: as insertRow.
      db.insertInto(into).values(Object.fromEntries(columns.map((column) => [column, p[column]])) as any),
    );
    alongsideInserts.set(shape, insert);
  }
  return insert;
}

function eventRow(event: AuditEvent, seq: number, prevHash: string, hash: string) {
  return {
    seq,
    at: event.at.toISOString(),
    action: event.action,
    actor_id: event.actor.id,
    actor_name: event.actor.name,
    actor_kind: event.actor.kind,
    request_id: event.actor.requestId ?? null,
    address: event.actor.address ?? null,
    target_type: event.target?.type ?? null,
    target_id: event.target?.id ?? null,
    outcome: event.outcome,
    details: canonicalJson(event.details ?? {}),
    prev_hash: prevHash,
    hash,
  };
}

/**
 * PostgreSQL, one statement: move the head from `guess` to the event, insert the event and the
 * alongside row — each insert selects from the head's update, so when the head was not `guess`
 * nothing at all is written. Under READ COMMITTED a concurrent append makes this update wait for
 * its commit and then re-check the condition against the new head, so the chain cannot fork.
 */
async function appendIfHeadIs(
  db: Kysely<Database>,
  guess: { seq: number; hash: string },
  event: AuditEvent,
  alongside: AlongsideRow | undefined,
): Promise<StoredAuditEvent | undefined> {
  const seq = guess.seq + 1;
  const hash = chainHash(guess.hash, seq, event);
  const values = eventRow(event, seq, guess.hash, hash);
  // Selecting parameters from the CTE: PostgreSQL types them by the target columns.
  // biome-ignore lint/suspicious/noExplicitAny: the CTE is not in the schema's types.
  const fromMovedHead = (q: any, row: Record<string, unknown>) =>
    q
      .selectFrom("moved_head")
      // biome-ignore lint/suspicious/noExplicitAny: as above.
      .select((eb: any) => Object.entries(row).map(([column, value]) => eb.val(value).as(column)));
  // biome-ignore lint/suspicious/noExplicitAny: CTEs that refer to each other are beyond the types.
  let creator: any = db.with("moved_head", (q) =>
    q
      .updateTable("audit_head")
      .set({ seq, hash })
      .where("id", "=", 1)
      .where("seq", "=", guess.seq)
      .where("hash", "=", guess.hash)
      .returning("seq"),
  );
  if (alongside) {
    const columns = Object.keys(alongside.row);
    creator = creator.with("alongside", (q: QueryCreator<Database>) =>
      // biome-ignore lint/suspicious/noExplicitAny: as above.
      (q.insertInto(alongside.into) as any).columns(columns).expression(fromMovedHead(q, alongside.row)),
    );
  }
  const result = await creator
    .insertInto("audit_events")
    .columns(Object.keys(values))
    .expression(fromMovedHead(db, values))
    .executeTakeFirst();
  const known = guessFor(db.getExecutor().adapter);
  const hit = Number(result?.numInsertedOrUpdatedRows ?? 0) === 1;
  known.outcome(hit);
  if (!hit) {
    // Known wrong: the transaction that follows locks and reads the head, and remembers it.
    known.head = undefined;
    return undefined;
  }
  known.head = { seq, hash };
  return { ...event, seq, prevHash: guess.hash, hash };
}

/**
 * PostgreSQL, one autocommitted statement: events that were ready together (group commit's
 * intents), each with its alongside row, all into one table, appended after the head this process
 * last saw. The rows travel as one JSON array per table, turned back into typed rows by
 * jsonb_populate_recordset (bytea as "\x…" hex). True when all were written; false when there was
 * no guess or it was wrong (nothing written): the caller then appends them the usual way.
 */
export async function appendAllIfHeadIs(
  db: Kysely<Database>,
  entries: { event: AuditEvent; alongside: AlongsideRow }[],
): Promise<boolean> {
  const known = guessFor(db.getExecutor().adapter);
  const guess = known.take(1 / 4);
  const into = entries[0]?.alongside.into;
  if (!guess || !into || entries.some((e) => e.alongside.into !== into)) return false;
  let head = guess;
  const events = entries.map(({ event }) => {
    const seq = head.seq + 1;
    const hash = chainHash(head.hash, seq, event);
    const row = eventRow(event, seq, head.hash, hash);
    head = { seq, hash };
    return row;
  });
  const rows = entries.map((e) => e.alongside.row);
  const result = await appendTogetherQuery(into, Object.keys(rows[0]!), Object.keys(events[0]!)).run(db, {
    seq: head.seq,
    hash: head.hash,
    guessSeq: guess.seq,
    guessHash: guess.hash,
    rows: jsonRows(rows),
    events: jsonRows(events),
  });
  const hit = Number(result.numAffectedRows ?? 0) === entries.length;
  known.outcome(hit);
  known.head = hit ? head : undefined;
  return hit;
}

/** Rows as jsonb_populate_recordset reads them: a JSON array of objects, bytea as "\\x…" hex. */
function jsonRows(rows: readonly Record<string, unknown>[]): string {
  return JSON.stringify(
    rows.map((row) => {
      const out: Record<string, unknown> = {};
      for (const column in row) {
        const value = row[column];
        out[column] = Buffer.isBuffer(value) ? `\\x${value.toString("hex")}` : value;
      }
      return out;
    }),
  );
}

type AppendTogether = { seq: number; hash: string; guessSeq: number; guessHash: string; rows: string; events: string };
/**
 * appendAllIfHeadIs's statement, one definition per alongside table and columns (a handful): built
 * by Kysely on every group commit it cost ~145 µs (31 column references; a microbenchmark).
 */
const appendsTogether = new Map<string, DefinedQuery<AppendTogether, unknown>>();
function appendTogetherQuery(
  into: string,
  columns: readonly string[],
  eventColumns: readonly string[],
): DefinedQuery<AppendTogether, unknown> {
  const shape = `${into}(${columns.join()}) audit_events(${eventColumns.join()})`;
  let query = appendsTogether.get(shape);
  if (!query) {
    const insert = (table: string, names: readonly string[], json: unknown) =>
      sql`insert into ${sql.table(table)} (${sql.join(names.map((c) => sql.ref(c)))})
      select ${sql.join(names.map((c) => sql.ref(`r.${c}`)))}
      from moved_head, jsonb_populate_recordset(null::${sql.table(table)}, ${json}::jsonb) r`;
    query = defineSqlQuery(
      (p: AppendTogether) => sql`
        with moved_head as (
          update audit_head set seq = ${p.seq}, hash = ${p.hash}
          where id = 1 and seq = ${p.guessSeq} and hash = ${p.guessHash} returning seq),
        alongside as (${insert(into, columns, p.rows)})
        ${insert("audit_events", eventColumns, p.events)}`,
    );
    appendsTogether.set(shape, query);
  }
  return query;
}

/**
 * Group commit's `together` for writes made by appendAudit's `alongside` (certificate and SSH
 * certificate intents) on PostgreSQL: the rows ready together, in one statement with their audit
 * events. A head that moved (another instance appended) wrote nothing: group commit then appends
 * them in a transaction instead, as it would have without this.
 */
export async function appendTogether(db: Kysely<Database>, items: unknown[]): Promise<undefined[]> {
  const entries = items as { event: AuditEvent; alongside: AlongsideRow }[];
  if (!(await appendAllIfHeadIs(db, entries))) throw new Error("the audit head is not where this process left it");
  return entries.map(() => undefined);
}

/** Runs `work` and appends its event in one transaction; `event` may depend on the work's result. */
export function withAudit<T>(
  db: Kysely<Database>,
  event: AuditEvent | ((result: T) => AuditEvent | undefined),
  work: (tx: Kysely<Database>) => Promise<T>,
): Promise<T> {
  return db.transaction().execute(async (tx) => {
    const result = await work(tx);
    const e = typeof event === "function" ? event(result) : event;
    if (e) await appendAudit(tx, e);
    return result;
  });
}

function toEvent(row: Selectable<AuditEventsTable>): StoredAuditEvent {
  return {
    seq: Number(row.seq),
    at: new Date(row.at),
    action: row.action,
    actor: {
      id: row.actor_id,
      name: row.actor_name,
      kind: row.actor_kind as StoredAuditEvent["actor"]["kind"],
      ...(row.request_id ? { requestId: row.request_id } : {}),
      ...(row.address ? { address: row.address } : {}),
    },
    ...(row.target_type && row.target_id ? { target: { type: row.target_type, id: row.target_id } } : {}),
    outcome: row.outcome as StoredAuditEvent["outcome"],
    details: JSON.parse(row.details),
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

function toTreeHead(r: Selectable<AuditTreeHeadsTable>): StoredTreeHead {
  return {
    size: Number(r.size),
    rootHash: r.root_hash,
    at: new Date(r.at),
    signature: Buffer.from(r.signature),
    signerSerial: r.signer_serial,
    leavesFrom: Number(r.leaves_from),
    ...(r.leaves ? { leaves: Buffer.from(r.leaves) } : {}),
  };
}

export class SqlAuditStore implements AuditStore {
  constructor(private readonly db: Kysely<Database>) {}

  append(event: AuditEvent): Promise<StoredAuditEvent> {
    return this.db.transaction().execute((tx) => appendAudit(tx, event));
  }

  async page(afterSeq: number, limit: number): Promise<StoredAuditEvent[]> {
    const rows = await this.db
      .selectFrom("audit_events")
      .selectAll()
      .where("seq", ">", afterSeq)
      .orderBy("seq")
      .limit(limit)
      .execute();
    return rows.map(toEvent);
  }

  async search(filter: AuditFilter): Promise<StoredAuditEvent[]> {
    let query = this.db.selectFrom("audit_events").selectAll();
    if (filter.action) query = query.where("action", "=", filter.action);
    if (filter.actor) query = query.where("actor_name", "=", filter.actor);
    if (filter.targetId) query = query.where("target_id", "=", filter.targetId);
    if (filter.outcome) query = query.where("outcome", "=", filter.outcome);
    if (filter.since) query = query.where("at", ">=", filter.since.toISOString());
    if (filter.until) query = query.where("at", "<", filter.until.toISOString());
    if (filter.afterSeq !== undefined) query = query.where("seq", ">", filter.afterSeq);
    if (filter.beforeSeq !== undefined) query = query.where("seq", "<", filter.beforeSeq);
    const rows = await query
      .orderBy("seq", filter.newestFirst ? "desc" : "asc")
      .limit(filter.limit)
      .execute();
    return rows.map(toEvent);
  }

  async head(): Promise<{ seq: number; hash: string }> {
    const row = await this.db
      .selectFrom("audit_head")
      .select(["seq", "hash"])
      .where("id", "=", 1)
      .executeTakeFirstOrThrow();
    return { seq: Number(row.seq), hash: row.hash };
  }

  async saveTreeHead(h: StoredTreeHead): Promise<void> {
    await this.db
      .insertInto("audit_tree_heads")
      .values({
        size: h.size,
        root_hash: h.rootHash,
        at: h.at.toISOString(),
        signature: h.signature,
        signer_serial: h.signerSerial,
        leaves_from: h.leavesFrom,
        leaves: h.leaves ?? null,
      })
      // Two instances signing the same size sign the same root: the first row stands.
      .onConflict((oc) => oc.column("size").doNothing())
      .execute();
  }

  async treeHeads(): Promise<StoredTreeHead[]> {
    const rows = await this.db
      .selectFrom("audit_tree_heads")
      .select(["size", "root_hash", "at", "signature", "signer_serial", "leaves_from"])
      .orderBy("size")
      .execute();
    return rows.map((r) => toTreeHead({ ...r, leaves: null }));
  }

  async treeHeadLeaves(size: number): Promise<Buffer | undefined> {
    const row = await this.db
      .selectFrom("audit_tree_heads")
      .select("leaves")
      .where("size", "=", size)
      .executeTakeFirst();
    return row?.leaves ? Buffer.from(row.leaves) : undefined;
  }

  async latestTreeHead(): Promise<StoredTreeHead | undefined> {
    const row = await this.db
      .selectFrom("audit_tree_heads")
      .select(["size", "root_hash", "at", "signature", "signer_serial", "leaves_from"])
      .orderBy("size", "desc")
      .limit(1)
      .executeTakeFirst();
    return row && toTreeHead({ ...row, leaves: null });
  }

  async auditKey() {
    const row = await this.db.selectFrom("audit_keys").selectAll().orderBy("id", "desc").executeTakeFirst();
    return row && { keyUri: row.key_uri, certificateSerial: row.certificate_serial };
  }

  /** Stores a new audit key unless another instance stored one first; returns the one that counts. */
  async saveAuditKey(key: { keyUri: string; certificateSerial: string; createdAt: Date }) {
    const last = await this.db.selectFrom("audit_keys").select("id").orderBy("id", "desc").executeTakeFirst();
    await this.db
      .insertInto("audit_keys")
      .values({
        id: (last ? Number(last.id) : 0) + 1,
        key_uri: key.keyUri,
        certificate_serial: key.certificateSerial,
        created_at: key.createdAt.toISOString(),
      })
      .onConflict((oc) => oc.column("id").doNothing())
      .execute();
    return (await this.auditKey())!;
  }
}
