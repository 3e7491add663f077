import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { sql } from "kysely";
import { afterAll, describe, expect, it } from "vitest";
import { type OpenDatabase, openDatabase } from "../../src/storage/index.js";
import { GroupCommit } from "../../src/storage/group-commit.js";
import { testDatabases } from "../helpers/engines.js";

/** Group commit (issuance's writes) on both engines, and what a crash leaves. */
const databases = testDatabases("gc");
const dir = databases.dir;
afterAll(() => databases.cleanup());

const engines = [
  ["sqlite", () => databases.url("sqlite")],
  ["postgres", () => databases.url("postgres")],
] as const;

async function rows(db: OpenDatabase): Promise<string[]> {
  const result = await sql<{ id: string }>`select id from gc_test order by id`.execute(db.db);
  return result.rows.map((r) => r.id);
}

describe.each(engines)("group commit on %s", (_name, url) => {
  it("commits concurrent writes together, and a failing write fails alone", async () => {
    const db = await openDatabase(url());
    try {
      await sql`create table gc_test (id text primary key)`.execute(db.db);
      const writes = new GroupCommit(db.db);
      const ids = Array.from({ length: 40 }, (_, i) => `w${String(i).padStart(2, "0")}`);
      // w07 is written twice: the second copy violates the key and must not take the others down.
      const attempts = [...ids, "w07"].map((id) =>
        writes.run(async (tx) => {
          await sql`insert into gc_test (id) values (${id})`.execute(tx);
          return id;
        }),
      );
      const settled = await Promise.allSettled(attempts);
      expect(settled.filter((s) => s.status === "fulfilled")).toHaveLength(40);
      expect(settled.at(-1)!.status).toBe("rejected");
      expect(await rows(db)).toEqual(ids);
      expect(writes.stats.writes).toBe(40);
      expect(writes.stats.commits).toBeLessThan(10);
    } finally {
      await db.close();
    }
  });

  it("runs a lone `alone` write without BEGIN and COMMIT, and shares a transaction when others join", async () => {
    const db = await openDatabase(url());
    try {
      await sql`create table gc_alone (id text primary key)`.execute(db.db);
      const writes = new GroupCommit(db.db);
      const insert = (id: string) =>
        writes.run(
          async (tx) => {
            await sql`insert into gc_alone (id) values (${id})`.execute(tx);
            return tx.isTransaction;
          },
          { alone: true },
        );
      const before = db.statements();
      expect(await insert("lone")).toBe(false);
      expect(db.statements() - before).toBe(1);
      // Together they still share one transaction (one durable commit for all).
      const together = await Promise.all(["t1", "t2", "t3"].map(insert));
      expect(together).toEqual([true, true, true]);
      // A lone write that fails fails alone and leaves nothing.
      await expect(insert("lone")).rejects.toThrow();
      const stored = await sql<{ id: string }>`select id from gc_alone order by id`.execute(db.db);
      expect(stored.rows.map((r) => r.id)).toEqual(["lone", "t1", "t2", "t3"]);
    } finally {
      await db.close();
    }
  });
});

describe("group commit and a crash", () => {
  it("never acknowledges a write that a SIGKILL then loses", async () => {
    const url = `sqlite:${join(dir, "crash.db")}`;
    const db = await openDatabase(url);
    await sql`create table gc_test (id text primary key)`.execute(db.db);
    await db.close();
    // A writer process (the built code, as `keyward serve` runs it) printing each acknowledged id.
    const script = join(dir, "writer.mjs");
    const dist = resolve(import.meta.dirname, "../../dist/storage");
    writeFileSync(
      script,
      `import { openDatabase } from "${dist}/index.js";
import { GroupCommit } from "${dist}/group-commit.js";
import { sql } from "${resolve(import.meta.dirname, "../../node_modules/kysely/dist/esm/index.js")}";
const db = await openDatabase(${JSON.stringify(url)});
const writes = new GroupCommit(db.db);
let n = 0;
const writer = async () => { for (;;) { const id = "c" + String(n++).padStart(7, "0");
  await writes.run((tx) => sql\`insert into gc_test (id) values (\${id})\`.execute(tx));
  process.stdout.write(id + "\\n"); } };
for (let i = 0; i < 16; i++) void writer();
`,
    );
    const child = spawn(process.execPath, [script], {
      cwd: resolve(import.meta.dirname, "../.."),
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    await new Promise<void>((ok, fail) => {
      child.once("exit", (code) => fail(new Error(`the writer exited early (${code})`)));
      const check = setInterval(() => {
        if (out.split("\n").length > 500) {
          clearInterval(check);
          ok();
        }
      }, 20);
    });
    child.removeAllListeners("exit");
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    const acknowledged = out.split("\n").filter((l) => /^c\d{7}$/.test(l));
    expect(acknowledged.length).toBeGreaterThan(500);
    const reopened = await openDatabase(url);
    try {
      const stored = new Set(await rows(reopened));
      expect(acknowledged.filter((id) => !stored.has(id))).toEqual([]);
    } finally {
      await reopened.close();
    }
  });
});
