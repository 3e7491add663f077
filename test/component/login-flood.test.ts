import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startKeyward, type TestKeyward } from "../helpers/keyward.js";
import { createPerson, type Person, SteppingClock } from "../helpers/people.js";

/**
 * Issue 22, finding 3: every login ran scrypt and wrote to the database, lockout was per existing
 * account only, so a flood of bad or unknown-name logins was a CPU sink anyone could open. Failed
 * logins now pass token buckets per source address and for everyone, before any hashing.
 */
let kw: TestKeyward;
const clock = new SteppingClock();
let carol: Person;

beforeAll(async () => {
  // One token a minute per address: real time passing while scrypt runs refills nothing that matters.
  kw = await startKeyward({ clock, overrides: { access: { loginThrottle: { perSourcePerMinute: 1 } } } });
  carol = await createPerson(kw, clock, "carol", "admin");
});

afterAll(async () => {
  await kw?.close();
});

const login = (body: Record<string, unknown>) => kw.api("/api/v1/auth/login", { token: null, body });

describe("a login flood", () => {
  it("is refused per source address with 429 and Retry-After after the burst, without hashing", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) {
      statuses.push(
        (await login({ name: i % 2 ? "nobody" : "carol", password: "wrong password!", otp: "123456" })).status,
      );
    }
    expect(statuses).toEqual(Array(10).fill(401));
    const started = Date.now();
    const refused = await login({ name: "nobody", password: "wrong password!", otp: "123456" });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(((await refused.json()) as { detail: string }).detail).toMatch(/too many failed logins from this address/);
    // The refusal is held back a second (a timer, not CPU), so one connection cannot spin on it.
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    // Answered before anything is read or parsed: not even a body that is not JSON costs more.
    const unread = await fetch(`${kw.url}/api/v1/auth/login`, {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: "x".repeat(20_000),
    });
    expect(unread.status).toBe(429);
    expect(unread.headers.get("content-type")).toBe("application/problem+json");
    expect(Number(unread.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(((await unread.json()) as { instance: string }).instance).toBe(
      `urn:keyward:request:${unread.headers.get("x-request-id")}`,
    );
    // A person with the right password is refused too while the address is throttled…
    expect((await login({ name: "carol", password: carol.password, otp: "000000" })).status).toBe(429);
    // …and gets through once a token came back (one a minute here).
    clock.advance(61_000);
    expect((await login({ name: "carol", password: carol.password, otp: carol.otp() })).status).toBe(200);
  });

  it("is refused for everyone together beyond the global bucket, whatever the addresses", async () => {
    const users = kw.services.users;
    const attempt = (i: number) =>
      users
        .login({ name: `flood-${i}`, password: "wrong password!", otp: "123456" }, { address: `192.0.2.${i % 250}` })
        .then(
          () => "ok",
          (error: Error) => error.constructor.name,
        );
    // 40 at once from 40 addresses: each address is within its own burst, the global burst is 20.
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => attempt(i)));
    expect(results.filter((r) => r === "UnauthorizedError").length).toBeLessThanOrEqual(21);
    expect(results.filter((r) => r === "TooManyRequestsError").length).toBeGreaterThanOrEqual(19);
  });

  it("is audited with a bounded number of events and a summary of the rest", async () => {
    const since = await kw.services.audit.lastSeq();
    const throttled = () => kw.services.audit.search({ action: "auth.login.throttled", afterSeq: since, limit: 1000 });
    clock.advance(11 * 60_000);
    let refused = 0;
    for (let i = 0; i < 30; i++) {
      if ((await login({ name: "nobody", password: "wrong password!", otp: "123456" })).status === 429) refused++;
    }
    expect(refused).toBeGreaterThan(15);
    await new Promise((r) => setTimeout(r, 200));
    // The first 10 refusals are events of their own, the rest wait for the summary.
    expect((await throttled()).length).toBe(10);
    // The window's end writes one summary with the count of the attempts not written one by one.
    clock.advance(61_000);
    const summary = async () =>
      (await kw.services.audit.search({ action: "auth.login.throttled.summary", afterSeq: since, limit: 10 })).find(
        (e) => e.actor.address === "127.0.0.1",
      );
    for (let i = 0; i < 150 && !(await summary()); i++) await new Promise((r) => setTimeout(r, 100));
    expect((await summary())?.details).toMatchObject({ scope: "source", suppressed: refused - 10 });
  });
});
