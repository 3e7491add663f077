import { afterAll, describe, expect, it } from "vitest";
import { TokenService } from "../../src/access/index.js";
import type { Clock } from "../../src/clock/index.js";
import { UnauthorizedError } from "../../src/errors/index.js";
import { createNotifier, type OpenDatabase, openDatabase, SqlTokenStore } from "../../src/storage/index.js";
import { testDatabases } from "../helpers/engines.js";
import { testActor } from "../helpers/keyward.js";

/**
 * Issue 27: serving instances hold authenticated API tokens in memory (one database round trip less
 * per API request). Two instances on one database, as a fleet on PostgreSQL or `serve --workers`
 * on one SQLite file: a token revoked through one is refused by the other at once.
 */
const databases = testDatabases("tokcache");
afterAll(() => databases.cleanup());

/** A clock tests move by hand (the TTL is counted on it). */
function manualClock(): Clock & { advance(ms: number): void } {
  let now = Date.now();
  return {
    now: () => new Date(now),
    advance(ms) {
      now += ms;
    },
  };
}

async function instance(url: string, cache: ConstructorParameters<typeof TokenService>[0]["cache"], clock?: Clock) {
  const database = await openDatabase(url);
  const notices = createNotifier(database, url);
  const tokens = new TokenService({
    store: new SqlTokenStore(database.db),
    clock: clock ?? { now: () => new Date() },
    notices,
    cache,
  });
  const watch = tokens.watch();
  watch.start();
  return {
    database,
    tokens,
    close: async () => {
      watch.stop();
      await notices.close();
      await database.close();
    },
  };
}

/** Statements the work sent to the database (0: answered from memory). */
async function statementsFor(database: OpenDatabase, work: () => Promise<unknown>): Promise<number> {
  const before = database.statements();
  await work();
  return database.statements() - before;
}

/** Keeps asking until the token is refused; how long that took (ms), or -1 when it never was. */
async function refusedWithin(tokens: TokenService, secret: string, ms: number): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < ms) {
    const refused = await tokens.authenticate(secret).then(
      () => false,
      (error) => error instanceof UnauthorizedError,
    );
    if (refused) return Date.now() - started;
    await new Promise((r) => setTimeout(r, 20));
  }
  return -1;
}

describe.each([
  // PostgreSQL: the other instance's sweep is slowed to a minute, so only the notice can be in time.
  ["postgres", { sweepMs: 60_000 }],
  // SQLite has no notices: the sweep (each second) is what reaches the other process.
  ["sqlite", {}],
] as const)("API token cache on %s", (engine, otherCache) => {
  it("answers a known token from memory, and refuses it on another instance soon after a revocation", async () => {
    const url = databases.url(engine, "revoke");
    const [one, other] = [await instance(url, {}), await instance(url, otherCache)];
    try {
      const { token: secret, record } = await one.tokens.create({ role: "requester" }, testActor);
      expect((await other.tokens.authenticate(secret)).id).toBe(record.id);
      // The second request costs no statement: the token is held.
      expect(await statementsFor(other.database, () => other.tokens.authenticate(secret))).toBe(0);
      expect(other.tokens.cached).toBe(1);
      // Let the LISTEN be registered before the notice goes out (subscribe runs in the background).
      await new Promise((r) => setTimeout(r, 200));

      await one.tokens.revoke(record.id, testActor);
      // The revoking instance itself refuses at once.
      await expect(one.tokens.authenticate(secret)).rejects.toThrow(UnauthorizedError);
      const took = await refusedWithin(other.tokens, secret, 3000);
      expect(took).toBeGreaterThanOrEqual(0);
      expect(took).toBeLessThan(engine === "postgres" ? 1000 : 2500);
      expect(other.tokens.cached).toBe(0);
    } finally {
      await one.close();
      await other.close();
    }
  });
});

describe("API token cache bounds", () => {
  it("reads storage again after the TTL, holds at most `entries` tokens, and nothing before watch()", async () => {
    const url = databases.url("sqlite", "bounds");
    const clock = manualClock();
    const database = await openDatabase(url);
    try {
      const unwatched = new TokenService({ store: new SqlTokenStore(database.db), clock });
      const { token: secret } = await unwatched.create({ role: "auditor" }, testActor);
      await unwatched.authenticate(secret);
      expect(await statementsFor(database, () => unwatched.authenticate(secret))).toBeGreaterThan(0);
      expect(unwatched.cached).toBe(0);

      const tokens = new TokenService({
        store: new SqlTokenStore(database.db),
        clock,
        cache: { entries: 2, ttlMs: 30_000 },
      });
      const watch = tokens.watch();
      watch.start();
      try {
        await tokens.authenticate(secret);
        expect(await statementsFor(database, () => tokens.authenticate(secret))).toBe(0);
        clock.advance(30_001);
        expect(await statementsFor(database, () => tokens.authenticate(secret))).toBeGreaterThan(0);

        const more: string[] = [];
        for (let i = 0; i < 3; i++) more.push((await unwatched.create({ role: "auditor" }, testActor)).token);
        for (const t of more) await tokens.authenticate(t);
        expect(tokens.cached).toBe(2);
        // The oldest went first: the newest two are answered from memory, the first is read again.
        expect(await statementsFor(database, () => tokens.authenticate(more[2]!))).toBe(0);
        expect(await statementsFor(database, () => tokens.authenticate(more[0]!))).toBeGreaterThan(0);
        // Unknown tokens are never held.
        await expect(tokens.authenticate(`kw_${"A".repeat(43)}`)).rejects.toThrow(UnauthorizedError);
        expect(tokens.cached).toBe(2);
      } finally {
        watch.stop();
      }
    } finally {
      await database.close();
    }
  });
});
