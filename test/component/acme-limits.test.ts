import { exportJWK, FlattenedSign, generateKeyPair } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startKeyward, type TestKeyward } from "../helpers/keyward.js";

/**
 * A Keyward with small ACME rate limits. Requests are signed by hand: acme-client waits out
 * Retry-After on rateLimited, which is right for a client and too slow for a test.
 */
let kw: TestKeyward;

beforeAll(async () => {
  kw = await startKeyward({
    overrides: { acme: { rateLimits: { ordersPerAccountPerHour: 3, ordersPerDomainPerHour: 5 } } },
  });
});

afterAll(async () => {
  await kw?.close();
});

async function nonce(): Promise<string> {
  return (await fetch(`${kw.url}/acme/new-nonce`, { method: "HEAD" })).headers.get("replay-nonce")!;
}

async function post(url: string, payload: unknown, header: Record<string, unknown>, key: CryptoKey) {
  const jws = await new FlattenedSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: "ES256", url, nonce: await nonce(), ...header } as never)
    .sign(key);
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/jose+json" },
    body: JSON.stringify(jws),
  });
}

async function account(): Promise<{ kid: string; key: CryptoKey }> {
  const pair = await generateKeyPair("ES256");
  const res = await post(
    `${kw.url}/acme/new-account`,
    { termsOfServiceAgreed: true },
    { jwk: await exportJWK(pair.publicKey) },
    pair.privateKey as CryptoKey,
  );
  expect(res.status).toBe(201);
  return { kid: res.headers.get("location")!, key: pair.privateKey as CryptoKey };
}

const order = (a: { kid: string; key: CryptoKey }, name: string) =>
  post(`${kw.url}/acme/new-order`, { identifiers: [{ type: "dns", value: name }] }, { kid: a.kid }, a.key);

describe("ACME rate limits", () => {
  it("refuses orders past the per-account limit with rateLimited (429) and Retry-After", async () => {
    const a = await account();
    for (let i = 0; i < 3; i++) expect((await order(a, `a${i}.limits.example.com`)).status).toBe(201);
    const res = await order(a, "a9.limits.example.com");
    expect(res.status).toBe(429);
    const problem = (await res.json()) as { type: string; detail: string };
    expect(problem.type).toBe("urn:ietf:params:acme:error:rateLimited");
    expect(problem.detail).toMatch(/^too many new orders for this account \(limit 3 per hour\); retry after \d+ s$/);
    const retryAfter = Number(res.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(3600);
    expect(problem).not.toHaveProperty("retryAfter");
  });

  it("counts orders per registered domain across accounts, atomically under concurrency", async () => {
    const accounts = await Promise.all(Array.from({ length: 4 }, () => account()));
    const statuses = await Promise.all(
      accounts.flatMap((a, i) => [0, 1].map((j) => order(a, `d${i}-${j}.shared.example.org`).then((r) => r.status))),
    );
    // 8 orders under example.org with a limit of 5 per hour: exactly 5 are accepted.
    expect(statuses.filter((s) => s === 201)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(3);
  });

  it("charges an order for every registered domain it names, and refuses it for the one over its limit", async () => {
    const [a, b, c] = await Promise.all(Array.from({ length: 3 }, () => account()));
    for (const [who, i] of [
      [a, 0],
      [a, 1],
      [a, 2],
      [b, 3],
      [b, 4],
    ] as const)
      expect((await order(who!, `m${i}.multi.example.net`)).status).toBe(201);
    const both = await post(
      `${kw.url}/acme/new-order`,
      {
        identifiers: [
          { type: "dns", value: "x.other.example" },
          { type: "dns", value: "m9.multi.example.net" },
        ],
      },
      { kid: c!.kid },
      c!.key,
    );
    expect(both.status).toBe(429);
    expect(((await both.json()) as { detail: string }).detail).toMatch(
      /^too many new orders for example\.net \(limit 5/,
    );
    // The refused order counted once for other.example too: four more fit under its limit of 5, not five.
    const d = await account();
    for (let i = 0; i < 2; i++) expect((await order(c!, `o${i}.other.example`)).status).toBe(201);
    for (let i = 2; i < 4; i++) expect((await order(d, `o${i}.other.example`)).status).toBe(201);
    expect((await order(d, "o4.other.example")).status).toBe(429);
  });
});
