// ACME nonces in process memory (one-process deployments): each accepted once, never after it
// expires, never when unknown (RFC 8555 §6.5) — in the store and through the service's checks.
import { exportJWK, FlattenedSign, generateKeyPair } from "jose";
import { describe, expect, it } from "vitest";
import { MemoryNonceStore } from "../../src/acme/memory-nonces.js";
import type { AcmeStore } from "../../src/acme/ports.js";
import { AcmeService } from "../../src/acme/service.js";
import { AcmeUrls } from "../../src/acme/urls.js";
import { acmeNonces } from "../../src/compose.js";
import { SqlNonceStore } from "../../src/storage/index.js";

const t0 = new Date("2026-12-03T12:00:00Z");
const later = (ms: number) => new Date(t0.getTime() + ms);

describe("MemoryNonceStore", () => {
  it("accepts a nonce once; an unknown or replayed nonce never", async () => {
    const store = new MemoryNonceStore();
    await store.save("a", later(60_000));
    expect(await store.consume("unknown", t0)).toBe(false);
    expect(await store.consume("a", t0)).toBe(true);
    expect(await store.consume("a", t0)).toBe(false);
    expect(store.size).toBe(0);
  });

  it("refuses an expired nonce, and sweeps expired ones only", async () => {
    const store = new MemoryNonceStore();
    await store.save("old", later(1000));
    await store.save("young", later(5000));
    expect(await store.consume("old", later(1000))).toBe(false);
    // Refused once expired, and gone: it cannot become good again if the clock goes back.
    expect(await store.consume("old", t0)).toBe(false);
    await store.save("old2", later(1000));
    expect(await store.deleteExpired(later(1000))).toBe(1);
    expect(store.size).toBe(1);
    expect(await store.consume("young", later(4999))).toBe(true);
  });

  it("a sweep also finds expired nonces issued after fresh ones (a clock set back)", async () => {
    const store = new MemoryNonceStore();
    await store.save("fresh", later(10_000));
    await store.save("short", later(1000));
    expect(await store.deleteExpired(later(2000))).toBe(1);
    expect(await store.consume("fresh", later(2000))).toBe(true);
  });

  it("is bounded: past its capacity the oldest unused nonces go", async () => {
    const store = new MemoryNonceStore(3);
    for (const n of ["a", "b", "c", "d", "e"]) await store.save(n, later(60_000));
    expect(store.size).toBe(3);
    expect(await store.consume("a", t0)).toBe(false);
    expect(await store.consume("b", t0)).toBe(false);
    for (const n of ["c", "d", "e"]) expect(await store.consume(n, t0)).toBe(true);
  });
});

describe("AcmeService with memory nonces", () => {
  const urls = new AcmeUrls("https://ca.example");
  const newAccount = urls.url("new-account");
  const setup = () => {
    let now = t0;
    const nonces = new MemoryNonceStore();
    const service = new AcmeService({
      store: {} as AcmeStore,
      nonces,
      clock: { now: () => now },
      urls,
      settings: { nonceLifetimeSeconds: 60, caaIdentities: [], externalAccountRequired: false },
      hmac: { importKey: async () => "", sign: async () => Buffer.alloc(0) },
    });
    const move = (ms: number) => {
      now = later(ms);
    };
    return { service, nonces, move };
  };
  const signed = async (nonce: string) => {
    const { privateKey, publicKey } = await generateKeyPair("ES256");
    return new FlattenedSign(new TextEncoder().encode("{}"))
      .setProtectedHeader({ alg: "ES256", nonce, url: newAccount, jwk: await exportJWK(publicKey) } as never)
      .sign(privateKey);
  };
  const problem = (promise: Promise<unknown>) =>
    promise.then(
      () => "accepted",
      (error: { acmeType: string }) => error.acmeType,
    );

  it("a fresh nonce is accepted once; replayed, unknown or expired it is badNonce", async () => {
    const { service, nonces, move } = setup();
    const nonce = await service.newNonce();
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(nonces.size).toBe(1);
    const body = await signed(nonce);
    expect(await problem(service.authenticate(body, newAccount, { allowJwk: true }))).toBe("accepted");
    expect(await problem(service.authenticate(body, newAccount, { allowJwk: true }))).toBe("badNonce");
    expect(await problem(service.authenticate(await signed("never-issued"), newAccount, { allowJwk: true }))).toBe(
      "badNonce",
    );
    const expiring = await service.newNonce();
    move(60_000);
    expect(await problem(service.authenticate(await signed(expiring), newAccount, { allowJwk: true }))).toBe(
      "badNonce",
    );
    // Unpredictable and unique: 128 random bits each.
    const many = await Promise.all(Array.from({ length: 1000 }, () => service.newNonce()));
    expect(new Set(many).size).toBe(1000);
  });

  it("a badly signed request does not use up its nonce (the signature is checked first)", async () => {
    const { service } = setup();
    const nonce = await service.newNonce();
    const body = await signed(nonce);
    const tampered = { ...body, payload: Buffer.from('{"a":1}').toString("base64url") };
    expect(await problem(service.authenticate(tampered, newAccount, { allowJwk: true }))).toBe("malformed");
    expect(await problem(service.authenticate(body, newAccount, { allowJwk: true }))).toBe("accepted");
  });
});

describe("where compose.ts keeps nonces", () => {
  const database = (dialect: "sqlite" | "postgres") => ({
    dialect,
    db: {} as never,
    relaxed: (async () => 0) as never,
  });
  it("in memory only for one SQLite process; in the database for workers and PostgreSQL", () => {
    expect(acmeNonces(database("sqlite"), { workers: 1 }, false)).toBeInstanceOf(MemoryNonceStore);
    expect(acmeNonces(database("sqlite"), { workers: 4 }, false)).toBeInstanceOf(SqlNonceStore);
    // A worker of `serve --workers`, whatever its own config says.
    expect(acmeNonces(database("sqlite"), { workers: 1 }, true)).toBeInstanceOf(SqlNonceStore);
    expect(acmeNonces(database("postgres"), { workers: 1 }, false)).toBeInstanceOf(SqlNonceStore);
  });
});
