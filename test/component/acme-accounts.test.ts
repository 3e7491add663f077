import { generateKeyPair, exportJWK, FlattenedSign, type JWK } from "jose";
import acme from "acme-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MemoryNonceStore } from "../../src/acme/index.js";
import { SqlNonceStore } from "../../src/storage/index.js";
import { startKeyward, type TestKeyward } from "../helpers/keyward.js";

let kw: TestKeyward;
let directoryUrl: string;

beforeAll(async () => {
  kw = await startKeyward();
  directoryUrl = `${kw.url}/acme/directory`;
});

afterAll(async () => {
  await kw?.close();
});

async function nonce(): Promise<string> {
  const res = await fetch(`${kw.url}/acme/new-nonce`, { method: "HEAD" });
  return res.headers.get("replay-nonce")!;
}

/** A JWS built by hand with jose, so each header field can be wrong on purpose. */
async function signed(
  url: string,
  payload: unknown,
  header: Record<string, unknown>,
  key: CryptoKey,
): Promise<Record<string, string>> {
  const body = payload === "" ? new Uint8Array() : new TextEncoder().encode(JSON.stringify(payload));
  return (await new FlattenedSign(body)
    .setProtectedHeader({ alg: "ES256", url, ...header } as never)
    .sign(key)) as never;
}

async function post(url: string, body: unknown, contentType = "application/jose+json") {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": contentType },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return {
    res,
    problem: (await res.json().catch(() => ({}))) as { type?: string; detail?: string; algorithms?: string[] },
  };
}

describe("ACME directory and nonces", () => {
  it("serves the directory and fresh nonces (HEAD 200, GET 204, no-store)", async () => {
    const dir = (await (await fetch(directoryUrl)).json()) as Record<string, unknown>;
    expect(dir).toMatchObject({
      newNonce: `${kw.url}/acme/new-nonce`,
      newAccount: `${kw.url}/acme/new-account`,
      newOrder: `${kw.url}/acme/new-order`,
      revokeCert: `${kw.url}/acme/revoke-cert`,
      keyChange: `${kw.url}/acme/key-change`,
      meta: { externalAccountRequired: false },
    });
    const head = await fetch(`${kw.url}/acme/new-nonce`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("cache-control")).toBe("no-store");
    const get = await fetch(`${kw.url}/acme/new-nonce`);
    expect(get.status).toBe(204);
    // RFC 9110 §8.6: no Content-Length on a 204.
    expect(get.headers.get("content-length")).toBeNull();
    expect(get.headers.get("replay-nonce")).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(get.headers.get("replay-nonce")).not.toBe(head.headers.get("replay-nonce"));
  });

  it("adds no nonce for anonymous GETs and 404s (issue 22), only for newNonce and POSTs", async () => {
    // One process on SQLite: the nonces are in its memory (compose.ts), none in the database.
    const nonces = kw.services.acme.nonces;
    expect(nonces).toBeInstanceOf(MemoryNonceStore);
    const rows = async () => (nonces as MemoryNonceStore).size;
    const stored = async () =>
      Number(
        (
          await kw.services.database.db
            .selectFrom("acme_nonces")
            .select((eb) => eb.fn.countAll().as("n"))
            .executeTakeFirstOrThrow()
        ).n,
      );
    const before = await rows();
    const gets = await Promise.all(
      [
        "/acme/directory",
        "/acme/no-such-thing",
        "/acme/order/unknown",
        "/acme/renewal-info/x.y",
        "/acme/cert/00",
      ].flatMap((path) => Array.from({ length: 20 }, () => fetch(`${kw.url}${path}`))),
    );
    expect(gets.some((r) => r.status === 404)).toBe(true);
    for (const res of gets) expect(res.headers.get("replay-nonce")).toBeNull();
    expect(await rows()).toBe(before);
    await nonce();
    const refused = await post(`${kw.url}/acme/new-account`, {});
    expect(refused.res.headers.get("replay-nonce")).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(await rows()).toBe(before + 2);
    expect(await stored()).toBe(0);
  });

  it("keeps nonces in the database where workers share it", async () => {
    const workers = await startKeyward({ overrides: { workers: 2 } });
    try {
      expect(workers.services.acme.nonces).toBeInstanceOf(SqlNonceStore);
      const res = await fetch(`${workers.url}/acme/new-nonce`, { method: "HEAD" });
      const row = await workers.services.database.db
        .selectFrom("acme_nonces")
        .selectAll()
        .where("nonce", "=", res.headers.get("replay-nonce")!)
        .executeTakeFirst();
      expect(row).toBeDefined();
    } finally {
      await workers.close();
    }
  });
});

describe("ACME accounts with acme-client (an unmodified client)", () => {
  it("creates an account, finds it again by key, updates contacts and deactivates it", async () => {
    const accountKey = await acme.crypto.createPrivateEcdsaKey();
    const client = new acme.Client({ directoryUrl, accountKey });
    const account = await client.createAccount({ termsOfServiceAgreed: true, contact: ["mailto:ops@example.com"] });
    expect(account).toMatchObject({ status: "valid", contact: ["mailto:ops@example.com"] });
    const url = client.getAccountUrl();
    expect(url).toMatch(new RegExp(`^${kw.url}/acme/acct/[A-Za-z0-9_-]+$`));

    const again = new acme.Client({ directoryUrl, accountKey });
    await again.createAccount({ onlyReturnExisting: true });
    expect(again.getAccountUrl()).toBe(url);

    const updated = await client.updateAccount({ contact: ["mailto:pki@example.com"] });
    expect(updated.contact).toEqual(["mailto:pki@example.com"]);
    const deactivated = await client.updateAccount({ status: "deactivated" });
    expect(deactivated.status).toBe("deactivated");
    await expect(client.updateAccount({ contact: [] })).rejects.toThrow(/account .* is deactivated/);
  });

  it("creates RSA accounts too (RS256)", async () => {
    const client = new acme.Client({ directoryUrl, accountKey: await acme.crypto.createPrivateRsaKey(2048) });
    expect(await client.createAccount({ termsOfServiceAgreed: true })).toMatchObject({ status: "valid" });
  });
});

describe("ACME JWS negatives: each refusal has the exact problem type", () => {
  let key: CryptoKey;
  let jwk: JWK;
  const newAccount = () => `${kw.url}/acme/new-account`;

  beforeAll(async () => {
    const pair = await generateKeyPair("ES256");
    key = pair.privateKey as CryptoKey;
    jwk = await exportJWK(pair.publicKey);
  });

  it("a replayed nonce is badNonce, with a fresh Replay-Nonce to retry with", async () => {
    const n = await nonce();
    const first = await post(
      newAccount(),
      await signed(newAccount(), { termsOfServiceAgreed: true }, { nonce: n, jwk }, key),
    );
    expect(first.res.status).toBe(201);
    const replay = await post(
      newAccount(),
      await signed(newAccount(), { termsOfServiceAgreed: true }, { nonce: n, jwk }, key),
    );
    expect(replay.res.status).toBe(400);
    expect(replay.problem.type).toBe("urn:ietf:params:acme:error:badNonce");
    expect(replay.res.headers.get("replay-nonce")).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(replay.res.headers.get("content-type")).toContain("application/problem+json");
  });

  it("a url that is not the request URL is unauthorized", async () => {
    const jws = await signed(`${kw.url}/acme/elsewhere`, {}, { nonce: await nonce(), jwk }, key);
    const { res, problem } = await post(newAccount(), jws);
    expect(res.status).toBe(403);
    expect(problem.type).toBe("urn:ietf:params:acme:error:unauthorized");
  });

  it("alg none and HS256 are badSignatureAlgorithm, listing the accepted algorithms", async () => {
    for (const alg of ["none", "HS256"]) {
      const header = Buffer.from(JSON.stringify({ alg, nonce: await nonce(), url: newAccount(), jwk })).toString(
        "base64url",
      );
      const { res, problem } = await post(newAccount(), { protected: header, payload: "", signature: "" });
      expect(res.status).toBe(400);
      expect(problem.type).toBe("urn:ietf:params:acme:error:badSignatureAlgorithm");
      expect(problem.algorithms).toEqual(["ES256", "ES384", "ES512", "RS256", "EdDSA"]);
    }
  });

  it("jwk and kid together, a general JWS, bad base64url and a bad signature are malformed", async () => {
    const both = await post(
      newAccount(),
      await signed(newAccount(), {}, { nonce: await nonce(), jwk, kid: `${kw.url}/acme/acct/x` }, key),
    );
    expect(both.problem.type).toBe("urn:ietf:params:acme:error:malformed");
    expect(both.problem.detail).toBe('the JWS protected header must have exactly one of "jwk" and "kid"');

    const jws = await signed(newAccount(), {}, { nonce: await nonce(), jwk }, key);
    const general = await post(newAccount(), {
      payload: jws.payload,
      signatures: [{ protected: jws.protected, signature: jws.signature }],
    });
    expect(general.problem.detail).toBe("only the flattened JWS serialization is accepted, not the general one");

    const badB64 = await post(newAccount(), { ...jws, payload: "***" });
    expect(badB64.problem).toMatchObject({
      type: "urn:ietf:params:acme:error:malformed",
      detail: 'the JWS "payload" is not base64url',
    });

    const tampered = await signed(newAccount(), { termsOfServiceAgreed: true }, { nonce: await nonce(), jwk }, key);
    const other = await signed(newAccount(), { termsOfServiceAgreed: false }, { nonce: await nonce(), jwk }, key);
    const forged = await post(newAccount(), { ...tampered, payload: other.payload });
    expect(forged.problem).toMatchObject({
      type: "urn:ietf:params:acme:error:malformed",
      detail: "the JWS signature does not verify",
    });
  });

  it("an unknown kid is accountDoesNotExist; onlyReturnExisting for a new key too", async () => {
    const url = `${kw.url}/acme/acct/nobody`;
    const unknown = await post(url, await signed(url, "", { nonce: await nonce(), kid: url }, key));
    expect(unknown.problem.type).toBe("urn:ietf:params:acme:error:accountDoesNotExist");
    const fresh = await generateKeyPair("ES256");
    const only = await post(
      newAccount(),
      await signed(
        newAccount(),
        { onlyReturnExisting: true },
        { nonce: await nonce(), jwk: await exportJWK(fresh.publicKey) },
        fresh.privateKey as CryptoKey,
      ),
    );
    expect(only.problem.type).toBe("urn:ietf:params:acme:error:accountDoesNotExist");
  });

  it("the wrong content type is malformed with 415, an oversized body 413", async () => {
    const jws = await signed(newAccount(), {}, { nonce: await nonce(), jwk }, key);
    const wrongType = await post(newAccount(), jws, "application/json");
    expect(wrongType.res.status).toBe(415);
    expect(wrongType.problem.type).toBe("urn:ietf:params:acme:error:malformed");
    const huge = await post(newAccount(), { ...jws, payload: "A".repeat(100_000) });
    expect(huge.res.status).toBe(413);
    expect(huge.problem.type).toBe("urn:ietf:params:acme:error:malformed");
  });

  it("refuses a body that is not a JSON object or array, a charset other than UTF-8, and compression", async () => {
    const jws = await signed(newAccount(), {}, { nonce: await nonce(), jwk }, key);
    const text = await post(newAccount(), "nope");
    expect(text.res.status).toBe(400);
    expect(text.problem).toMatchObject({
      type: "urn:ietf:params:acme:error:malformed",
      detail: expect.stringMatching(/JSON/),
    });
    // JSON's strict reading: a bare string is JSON, but never an ACME request.
    expect((await post(newAccount(), '"a"')).res.status).toBe(400);
    const latin1 = await post(newAccount(), jws, "application/jose+json; charset=iso-8859-1");
    expect(latin1.res.status).toBe(415);
    expect(latin1.problem.detail).toMatch(/UTF-8/);
    const gzip = await fetch(newAccount(), {
      method: "POST",
      headers: { "content-type": "application/jose+json", "content-encoding": "gzip" },
      body: JSON.stringify(jws),
    });
    expect(gzip.status).toBe(415);
    // A refused request still hands out a fresh nonce (RFC 8555 §6.5), and the link to the directory.
    expect(gzip.headers.get("replay-nonce")).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(gzip.headers.get("link")).toBe(`<${directoryUrl}>;rel="index"`);
  });

  it("a badly percent-encoded id in the URL is malformed (400), not a server error", async () => {
    const url = `${kw.url}/acme/order/a%zz`;
    const { res, problem } = await post(
      url,
      await signed(url, "", { nonce: await nonce(), kid: `${kw.url}/acme/acct/x` }, key),
    );
    expect(res.status).toBe(400);
    expect(problem.type).toBe("urn:ietf:params:acme:error:malformed");
    expect(problem.detail).toMatch(/percent-encoding/);
  });

  it("a non-mailto contact is unsupportedContact", async () => {
    const fresh = await generateKeyPair("ES256");
    const { problem } = await post(
      newAccount(),
      await signed(
        newAccount(),
        { termsOfServiceAgreed: true, contact: ["tel:+15555550100"] },
        { nonce: await nonce(), jwk: await exportJWK(fresh.publicKey) },
        fresh.privateKey as CryptoKey,
      ),
    );
    expect(problem.type).toBe("urn:ietf:params:acme:error:unsupportedContact");
  });
});
