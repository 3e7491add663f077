import {
  type InsertQueryBuilder,
  type InsertResult,
  type Kysely,
  PostgresAdapter,
  type QueryCreator,
  type Selectable,
} from "kysely";
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

/** The chain's head as this transaction left it, once it holds the head's lock. */
const heads = new WeakMap<Kysely<Database>, { seq: number; hash: string }>();

/**
 * Appends an event to the chain inside the caller's transaction, so a change and its event commit
 * or fail together. The transaction's first append locks the head row (a row lock on PostgreSQL,
 * the database lock on SQLite) and reads it, so concurrent appenders queue instead of forking the
 * chain; later appends in the same transaction (a group commit's batch) already know the head.
 * On PostgreSQL the event and the new head go in one statement: an append costs one round trip,
 * plus one per transaction for the lock. A transaction that fails is rolled back whole (group
 * commit reruns the others in a new one), so a remembered head never outlives its transaction.
 */
export async function appendAudit(
  tx: Kysely<Database>,
  event: AuditEvent,
  /**
   * An insert the event records (a certificate intent), run before the event: on PostgreSQL in the
   * event's own statement, saving its round trip.
   */
  // biome-ignore lint/suspicious/noExplicitAny: an insert into any one table.
  alongside?: (q: QueryCreator<Database>) => InsertQueryBuilder<Database, any, InsertResult>,
): Promise<StoredAuditEvent> {
  const postgres = tx.getExecutor().adapter instanceof PostgresAdapter;
  if (alongside && !postgres) await alongside(tx).execute();
  let head = heads.get(tx);
  if (!head) {
    const row = await tx
      .updateTable("audit_head")
      .set((eb) => ({ seq: eb.ref("seq") }))
      .where("id", "=", 1)
      .returning(["seq", "hash"])
      .executeTakeFirstOrThrow();
    head = { seq: Number(row.seq), hash: row.hash };
  }
  const seq = head.seq + 1;
  const hash = chainHash(head.hash, seq, event);
  const values = {
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
    prev_hash: head.hash,
    hash,
  };
  if (postgres) {
    // Data-modifying CTEs: all writes in one round trip (SQLite has none; its statements cost no trip).
    const moveHead = (q: QueryCreator<Database>) => q.updateTable("audit_head").set({ seq, hash }).where("id", "=", 1);
    // The alongside CTE is never referenced: only the creator's type changes, so it is left as is.
    const creator = (alongside ? tx.with("alongside", alongside) : tx) as unknown as QueryCreator<Database>;
    await creator.with("moved_head", moveHead).insertInto("audit_events").values(values).execute();
  } else {
    await tx.insertInto("audit_events").values(values).execute();
    await tx.updateTable("audit_head").set({ seq, hash }).where("id", "=", 1).execute();
  }
  heads.set(tx, { seq, hash });
  return { ...event, seq, prevHash: head.hash, hash };
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
