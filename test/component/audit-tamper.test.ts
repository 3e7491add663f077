import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Sqlite from "better-sqlite3";
import { type Kysely, type Selectable, sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AuditEvent, chainHash } from "../../src/audit/index.js";
import type { AuditEventsTable, Database } from "../../src/storage/schema.js";
import { keyward } from "../helpers/cli.js";
import { testDatabases } from "../helpers/engines.js";
import { opensslCsr, startKeyward, type TestKeyward } from "../helpers/keyward.js";

/**
 * Issue 22, finding 1: what someone with write access to the database can do to the audit log,
 * each detected by `audit verify` and blamed on the right event (sequence number, action, time).
 * The forger here is careful: after every change the hash chain is recomputed and the chain head
 * row fixed, so only the signed tree heads (in the database and the witness file) can tell.
 */
type Row = Selectable<AuditEventsTable>;

const databases = testDatabases("audittamper");
afterAll(() => databases.cleanup());

describe.each(["sqlite", "postgres"] as const)("a tampered audit log on %s", (engine) => {
  let kw: TestKeyward;
  const db = (): Kysely<Database> => kw.services.database.db;
  /** Events signed in three rounds: a tree head after each, so heads bracket the damage. */
  const rounds: number[] = [];
  let original: { events: Row[]; head: { seq: number; hash: string }; heads: Record<string, unknown>[] };

  beforeAll(async () => {
    kw = await startKeyward({ overrides: { database: { url: databases.url(engine) } } });
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 4; i++) {
        const { csr } = opensslCsr(kw.dir, `r${round}-${i}`);
        expect((await kw.api("/api/v1/certificates", { body: { csr, profile: "server" } })).status).toBe(201);
      }
      const head = await kw.services.audit.treeHead();
      rounds.push(head!.size);
    }
    original = {
      events: await db().selectFrom("audit_events").selectAll().orderBy("seq").execute(),
      head: await db().selectFrom("audit_head").select(["seq", "hash"]).executeTakeFirstOrThrow(),
      heads: await db().selectFrom("audit_tree_heads").selectAll().execute(),
    };
    expect((await verify()).ok).toBe(true);
  }, 120_000);

  afterAll(async () => {
    await kw?.close();
  });

  const verify = () => kw.services.audit.verify({ witness: kw.config.audit.witness });

  async function restore(): Promise<void> {
    await db().deleteFrom("audit_events").execute();
    await db().deleteFrom("audit_tree_heads").execute();
    for (const row of original.events) await db().insertInto("audit_events").values(row).execute();
    for (const row of original.heads)
      await db()
        .insertInto("audit_tree_heads")
        .values(row as never)
        .execute();
    await db().updateTable("audit_head").set(original.head).execute();
    expect((await verify()).ok).toBe(true);
  }

  /** Replaces the log from `from` on with `rows`, renumbered and re-chained as a careful forger would. */
  async function rewrite(from: number, rows: Row[]): Promise<void> {
    await db().deleteFrom("audit_events").where("seq", ">=", from).execute();
    let prev = original.events.find((r) => Number(r.seq) === from - 1)?.hash ?? "0".repeat(64);
    let seq = from;
    for (const row of rows) {
      const hash = chainHash(prev, seq, toEvent(row));
      await db()
        .insertInto("audit_events")
        .values({ ...row, seq, prev_hash: prev, hash })
        .execute();
      prev = hash;
      seq++;
    }
    await db()
      .updateTable("audit_head")
      .set({ seq: seq - 1, hash: prev })
      .execute();
  }

  const tail = (seq: number) => original.events.filter((r) => Number(r.seq) >= seq);
  const at = (seq: number) => original.events.find((r) => Number(r.seq) === seq)!;
  /** An event in the middle round: heads before and after it. */
  const k = () => rounds[0]! + 2;

  it("an altered event, its chain recomputed: named by the head that covered it", async () => {
    await rewrite(
      k(),
      tail(k()).map((r) => (Number(r.seq) === k() ? { ...r, actor_name: "mallory" } : r)),
    );
    const result = await verify();
    expect(result.ok).toBe(false);
    expect(result.problem).toMatchObject({
      seq: k(),
      kind: "altered",
      event: { action: at(k()).action, at: at(k()).at },
    });
    await restore();
  });

  it("a deleted event, the later ones renumbered", async () => {
    await rewrite(k(), tail(k() + 1));
    const result = await verify();
    // The event now at k is the one that followed the deleted one: k is where the log departs.
    expect(result.problem).toMatchObject({ seq: k(), kind: "altered", event: { action: at(k() + 1).action } });
    await restore();
  });

  it("a deleted event, the gap left", async () => {
    await db().deleteFrom("audit_events").where("seq", "=", k()).execute();
    expect((await verify()).problem).toMatchObject({ seq: k(), kind: "missing" });
    await restore();
  });

  it("an inserted event", async () => {
    const forged = { ...at(k()), action: "certificate.revoke", actor_name: "mallory" };
    await rewrite(k(), [forged, ...tail(k())]);
    expect((await verify()).problem).toMatchObject({
      seq: k(),
      kind: "altered",
      event: { action: "certificate.revoke" },
    });
    await restore();
  });

  it("two events swapped, blamed on the first of them, not a neighbour", async () => {
    await rewrite(k(), [at(k() + 1), at(k()), ...tail(k() + 2)]);
    expect((await verify()).problem).toMatchObject({
      seq: k(),
      kind: "altered",
      event: { action: at(k() + 1).action },
    });
    await restore();
  });

  it("every tree head deleted from the database: the witness still tells, and brackets the altered event", async () => {
    await db().deleteFrom("audit_tree_heads").execute();
    const deleted = await verify();
    expect(deleted.ok).toBe(false);
    expect(deleted.problems.filter((p) => p.kind === "tree-head")).toHaveLength(rounds.length);
    expect(deleted.problem!.detail).toMatch(/tree head of size \d+ signed at .* is missing from the database/);

    // With no stored leaf hashes the heads can only bracket the change: the round that holds it.
    await rewrite(
      k(),
      tail(k()).map((r) => (Number(r.seq) === k() ? { ...r, actor_name: "mallory" } : r)),
    );
    const altered = await verify();
    expect(altered.problem).toMatchObject({ seq: rounds[0]! + 1, kind: "altered" });
    expect(altered.problem!.detail).toContain(`events ${rounds[0]! + 1} to ${rounds[1]}`);
    await restore();
  });

  it("one tree head deleted from the database, the witness intact: named by its size and time", async () => {
    const head = original.heads.find((h) => Number(h.size) === rounds[1])!;
    await db().deleteFrom("audit_tree_heads").where("size", "=", rounds[1]!).execute();
    const result = await verify();
    expect(result.ok).toBe(false);
    const missing = result.problems.filter((p) => p.kind === "tree-head");
    expect(missing).toHaveLength(1);
    expect(missing[0]!.detail).toContain(`tree head of size ${rounds[1]} signed at `);
    expect(missing[0]!.detail).toContain(new Date(String(head.at)).toISOString());
    expect(missing[0]!.detail).toContain("is missing from the database");
    await restore();
  });

  it("a tree head altered, forged or unsigned", async () => {
    await db()
      .updateTable("audit_tree_heads")
      .set({ root_hash: "00".repeat(32) })
      .where("size", "=", rounds[1]!)
      .execute();
    expect((await verify()).problems).toContainEqual(expect.objectContaining({ seq: rounds[1], kind: "signature" }));
    await restore();
    await db()
      .updateTable("audit_tree_heads")
      .set({ signature: Buffer.alloc(0) })
      .where("size", "=", rounds[2]!)
      .execute();
    expect((await verify()).problems).toContainEqual(expect.objectContaining({ seq: rounds[2], kind: "signature" }));
    await restore();
  });

  it("the tail truncated before the witness's last head", async () => {
    const keep = rounds[1]! + 1;
    await db().deleteFrom("audit_events").where("seq", ">", keep).execute();
    await db().deleteFrom("audit_tree_heads").where("size", ">", keep).execute();
    await db()
      .updateTable("audit_head")
      .set({ seq: keep, hash: at(keep).hash })
      .execute();
    const result = await verify();
    expect(result.problem).toMatchObject({ seq: keep + 1, kind: "missing" });
    expect(result.problem!.detail).toContain(`the log ends at event ${keep}, but the tree head of size ${rounds[2]}`);
    await restore();
  });

  it("events older than the interval that no signed head covers", async () => {
    // Appended as a database writer would, an hour back, after the last head.
    const last = original.events.at(-1)!;
    const old = { ...last, action: "key.decrypt", at: new Date(Date.now() - 3_600_000).toISOString() };
    await rewrite(Number(last.seq) + 1, [old]);
    const result = await verify();
    expect(result.problem).toMatchObject({
      seq: Number(last.seq) + 1,
      kind: "uncovered",
      event: { action: "key.decrypt" },
    });
    await restore();
    // No head at all and no witness: the whole log is uncovered.
    await db().deleteFrom("audit_tree_heads").execute();
    const minuteAgo = new Date(Date.now() - 60_000).toISOString();
    await rewrite(
      1,
      original.events.map((r) => ({ ...r, at: minuteAgo })),
    );
    const none = await kw.services.audit.verify({ witness: join(kw.dir, "empty-witness.log") }).catch((e) => e);
    expect(none).toBeInstanceOf(Error);
    writeFileSync(join(kw.dir, "empty-witness.log"), "");
    expect((await kw.services.audit.verify({ witness: join(kw.dir, "empty-witness.log") })).problem).toMatchObject({
      seq: 1,
      kind: "uncovered",
    });
    await restore();
  });

  it("`keyward audit verify --witness` on a copy exits 1 naming the event; --since-sth proves growth", async () => {
    // SQLite: a copy of the file; PostgreSQL: the schema itself (restored afterwards).
    const copy = join(kw.dir, "copy.db");
    if (engine === "sqlite") await sql`VACUUM INTO ${copy}`.execute(db());
    const env = { KEYWARD_DATABASE_URL: engine === "sqlite" ? `sqlite:${copy}` : databases.url("postgres") };
    const witness = kw.config.audit.witness;
    const witnessCopy = join(kw.dir, "witness-copy.log");
    copyFileSync(witness, witnessCopy);
    // A head an outside auditor kept: the first one.
    const kept = join(kw.dir, "kept-sth.json");
    writeFileSync(kept, readFileSync(witness, "utf8").split("\n")[0]!);

    const clean = await keyward(kw.token, ["audit", "verify", "--witness", witnessCopy, "--since-sth", kept], env);
    expect(clean.stdout).toMatch(/^OK: \d+ events, 3 signed tree heads, 3 in the witness/m);
    expect(clean.code).toBe(0);

    if (engine === "sqlite") {
      const forger = new Sqlite(copy);
      forger.prepare("UPDATE audit_events SET actor_name = 'mallory' WHERE seq = ?").run(k());
      forger.close();
    } else {
      await db().updateTable("audit_events").set({ actor_name: "mallory" }).where("seq", "=", k()).execute();
    }
    const broken = await keyward(kw.token, ["audit", "verify", "--witness", witnessCopy], env);
    expect(broken.code).toBe(1);
    expect(broken.stdout).toContain(
      `BROKEN at event ${k()} (altered): event ${k()} (${at(k()).action} at ${at(k()).at})`,
    );
    if (engine === "postgres") await restore();
  });
});

function toEvent(row: Row): AuditEvent {
  return {
    action: row.action,
    actor: {
      id: row.actor_id,
      name: row.actor_name,
      kind: row.actor_kind as never,
      ...(row.request_id ? { requestId: row.request_id } : {}),
      ...(row.address ? { address: row.address } : {}),
    },
    ...(row.target_type && row.target_id ? { target: { type: row.target_type, id: row.target_id } } : {}),
    outcome: row.outcome as never,
    details: JSON.parse(row.details),
    at: new Date(row.at),
  };
}
