import { createHash } from "node:crypto";
import type { Kysely } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { up as saltLegacyCodes } from "../../src/storage/migrations/0024-recovery-code-salts.js";
import type { Database } from "../../src/storage/schema.js";
import { testDatabases } from "../helpers/engines.js";
import { startKeyward, type TestKeyward } from "../helpers/keyward.js";
import { createPerson, type Person, SteppingClock } from "../helpers/people.js";

/**
 * Issue 22, finding 6: recovery codes were stored as their unsalted SHA-256, so a copy of the
 * database matched them against a table, and equal codes showed. Now scrypt over that digest with
 * a salt per person; codes stored the old way are wrapped in place by migration 0024 and still work.
 */
const databases = testDatabases("recoverycodes");
afterAll(() => databases.cleanup());

const digest = (code: string) => createHash("sha256").update(code.replace(/-/g, "")).digest("hex");

describe.each(["sqlite", "postgres"] as const)("recovery codes stored on %s", (engine) => {
  let kw: TestKeyward;
  const clock = new SteppingClock();
  let ann: Person;
  const db = (): Kysely<Database> => kw.services.database.db;
  const rowsOf = (userId: string) =>
    db().selectFrom("recovery_codes").selectAll().where("user_id", "=", userId).execute();
  const login = (person: Person, recoveryCode: string) =>
    kw.api("/api/v1/auth/login", {
      token: null,
      body: { name: person.name, password: person.password, recoveryCode },
    });

  beforeAll(async () => {
    kw = await startKeyward({ clock, overrides: { database: { url: databases.url(engine) } } });
    ann = await createPerson(kw, clock, "ann", "admin");
  }, 120_000);
  afterAll(() => kw?.close());

  it("are salted slow hashes: no code's SHA-256 is in the database, two people's salts differ", async () => {
    const rows = await rowsOf(ann.id);
    expect(rows).toHaveLength(10);
    const stored = rows.map((r) => r.code_hash).join("\n");
    for (const code of ann.recoveryCodes) {
      expect(stored).not.toContain(digest(code));
      expect(stored).not.toContain(code.replace(/-/g, ""));
    }
    for (const row of rows)
      expect(row.code_hash).toMatch(/^scrypt\$16384\$8\$1\$[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/=]{44}$/);
    const salt = (hash: string) => hash.split("$")[4];
    // One salt per person, so a login costs one derivation whatever the number of codes left.
    expect(new Set(rows.map((r) => salt(r.code_hash))).size).toBe(1);
    const bob = await createPerson(kw, clock, "bob", "auditor");
    expect(salt((await rowsOf(bob.id))[0]!.code_hash)).not.toBe(salt(rows[0]!.code_hash));
  });

  it("log in once each, typed in any case and with spaces; a wrong or used one does not", async () => {
    const code = ann.recoveryCodes[3]!;
    expect((await login(ann, "aaaa-bbbb-cccc")).status).toBe(401);
    const typed = ` ${code.toUpperCase().replace(/-/g, " ")} `;
    expect((await login(ann, typed)).status).toBe(200);
    expect((await login(ann, code)).status).toBe(401);
    const used = (await rowsOf(ann.id)).filter((r) => r.used_at !== null);
    expect(used).toHaveLength(1);
  });

  it("stored before as unsalted SHA-256: wrapped in place by the migration, and still working", async () => {
    const cy = await createPerson(kw, clock, "cy", "admin");
    // The form of before: the code's SHA-256, one row each.
    await db().deleteFrom("recovery_codes").where("user_id", "=", cy.id).execute();
    for (const code of cy.recoveryCodes) {
      await db()
        .insertInto("recovery_codes")
        .values({ user_id: cy.id, code_hash: digest(code), used_at: null })
        .execute();
    }
    await saltLegacyCodes(db() as Kysely<unknown>);
    const rows = await rowsOf(cy.id);
    expect(rows).toHaveLength(10);
    const all = (await db().selectFrom("recovery_codes").select("code_hash").execute()).map((r) => r.code_hash);
    expect(all.filter((h) => /^[0-9a-f]{64}$/.test(h))).toEqual([]);
    for (const code of cy.recoveryCodes) expect(all.join("\n")).not.toContain(digest(code));
    expect((await login(cy, cy.recoveryCodes[7]!)).status).toBe(200);
    expect((await login(cy, cy.recoveryCodes[7]!)).status).toBe(401);
    // Running it again changes nothing: salted rows are left as they are.
    await saltLegacyCodes(db() as Kysely<unknown>);
    expect((await rowsOf(cy.id)).map((r) => r.code_hash).sort()).toEqual(rows.map((r) => r.code_hash).sort());
  });
});
