import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { opensslCsr, openssl, startKeyward, type TestKeyward, testActor } from "../helpers/keyward.js";

let kw: TestKeyward;

beforeAll(async () => {
  kw = await startKeyward();
});

afterAll(async () => {
  await kw?.close();
});

async function certificateCount(): Promise<number> {
  const rows = await kw.services.database.db
    .selectFrom("certificates")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .executeTakeFirstOrThrow();
  return Number(rows.n);
}

interface ProblemDoc {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
}

/** Sends a request that must be refused: checks the problem document and that nothing was stored. */
async function expectProblem(request: Promise<Response>, status: number, detail: string | RegExp): Promise<ProblemDoc> {
  const before = await certificateCount();
  const res = await request;
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toMatch(/^application\/problem\+json/);
  const problem = (await res.json()) as ProblemDoc;
  expect(problem.status).toBe(status);
  expect(problem.type).toMatch(/^urn:keyward:problem:/);
  if (typeof detail === "string") expect(problem.detail).toBe(detail);
  else expect(problem.detail).toMatch(detail);
  expect(JSON.stringify(problem)).not.toMatch(/at .*\.(ts|js):\d+/);
  expect(await certificateCount()).toBe(before);
  return problem;
}

const post = (body: unknown, init: { token?: string | null; headers?: Record<string, string> } = {}) =>
  kw.api("/api/v1/certificates", { body, ...init });

describe("bad CSRs are refused precisely and store nothing", () => {
  it("garbage instead of a CSR", async () => {
    await expectProblem(post({ csr: "hello", profile: "server" }), 400, /the CSR must be PEM/);
    await expectProblem(
      post({
        csr: "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
        profile: "server",
      }),
      400,
      "the CSR is not a DER-encoded PKCS#10 CertificationRequest: expected a CertificationRequest SEQUENCE",
    );
  });

  it("a CSR whose signature does not verify", async () => {
    const { csr } = opensslCsr(kw.dir, "tampered");
    const der = Buffer.from(csr.replace(/-----[^-]+-----|\s/g, ""), "base64");
    der[der.length - 5]! ^= 0x01; // flip a bit inside the signature value
    const pem = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString("base64")}\n-----END CERTIFICATE REQUEST-----\n`;
    const p = await expectProblem(
      post({ csr: pem, profile: "server" }),
      400,
      /the CSR signature (does not verify|cannot be checked)/,
    );
    expect(p.type).toBe("urn:keyward:problem:badCSR");
  });

  it("an RSA-1024 key", async () => {
    const { csr } = opensslCsr(kw.dir, "weak", { key: ["-newkey", "rsa:1024"] });
    const p = await expectProblem(
      post({ csr, profile: "server" }),
      400,
      "the CSR key (RSA 1024) is not accepted; keys must be RSA 2048/3072/4096, ECDSA P-256/P-384 or Ed25519",
    );
    expect(p.type).toBe("urn:keyward:problem:policyViolation");
  });

  it("an unsupported curve", async () => {
    const { csr } = opensslCsr(kw.dir, "k256", { key: ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp256k1"] });
    await expectProblem(post({ csr, profile: "server" }), 400, /the CSR key \(EC secp256k1\) is not accepted/);
  });

  it("a wildcard where the profile forbids it, and a misplaced wildcard", async () => {
    const { csr } = opensslCsr(kw.dir, "wild", { subj: "/CN=wild", san: "DNS:*.example.com" });
    await expectProblem(
      post({ csr, profile: "client" }),
      400,
      'DNS name "*.example.com": wildcards are not allowed by this profile',
    );
    const misplaced = opensslCsr(kw.dir, "wild2", { subj: "/CN=wild2", san: "DNS:www.*.example.com" });
    await expectProblem(
      post({ csr: misplaced.csr, profile: "server" }),
      400,
      'DNS name "www.*.example.com": a wildcard is allowed only as the whole leftmost label',
    );
  });

  it("a bad IP, a non-ASCII name, a forbidden name and a CN outside the SANs", async () => {
    const uni = opensslCsr(kw.dir, "uni", { subj: "/CN=uni", san: "DNS:bücher.example" });
    await expectProblem(
      post({ csr: uni.csr, profile: "server" }),
      400,
      /^DNS name ".+" is not ASCII; use its IDNA A-label form \(xn--/,
    );
    const forbidden = opensslCsr(kw.dir, "forbidden", { subj: "/CN=printer.local", san: "DNS:printer.local" });
    await expectProblem(
      post({ csr: forbidden.csr, profile: "server" }),
      400,
      'DNS name "printer.local" is forbidden by policy',
    );
    const cn = opensslCsr(kw.dir, "cn", { subj: "/CN=other.example.com", san: "DNS:cn.example.com" });
    await expectProblem(
      post({ csr: cn.csr, profile: "server" }),
      400,
      'the CSR\'s CN "other.example.com" is not one of the requested names (cn.example.com)',
    );
    const email = opensslCsr(kw.dir, "mail", {
      subj: "/CN=mail.example.com",
      san: "DNS:mail.example.com,email:a@example.com",
    });
    await expectProblem(
      post({ csr: email.csr, profile: "server" }),
      400,
      'profile "server" does not allow email names (allowed: dns, ip); got "a@example.com"',
    );
  });

  it("an unknown or internal profile", async () => {
    const { csr } = opensslCsr(kw.dir, "prof");
    await expectProblem(
      post({ csr, profile: "nope" }),
      400,
      'unknown profile "nope"; profiles are server, client, kmip-client, recipient',
    );
    await expectProblem(post({ csr, profile: "ocsp-responder" }), 400, /^unknown profile "ocsp-responder"/);
  });

  it("a validity above the profile's maximum", async () => {
    const { csr } = opensslCsr(kw.dir, "long");
    await expectProblem(
      post({ csr, profile: "server", validityDays: 400 }),
      400,
      "validity of 400 days exceeds the profile's maximum of 397 days",
    );
  });
});

describe("bad requests are refused precisely", () => {
  it("an oversized body gets 413", async () => {
    const csr = `-----BEGIN CERTIFICATE REQUEST-----\n${"A".repeat(100_000)}\n-----END CERTIFICATE REQUEST-----`;
    await expectProblem(post({ csr, profile: "server" }), 413, "the request body exceeds the limit of 65536 bytes");
  });

  it("invalid JSON, missing fields, unknown fields and the wrong content type", async () => {
    await expectProblem(post("{not json"), 400, "the request body is not valid JSON");
    await expectProblem(post({ profile: "server" }), 400, /^invalid request body: csr: /);
    const { csr } = opensslCsr(kw.dir, "extra");
    await expectProblem(post({ csr, profile: "server", admin: true }), 400, /^invalid request body: .*admin/);
    await expectProblem(
      post("csr=x", { headers: { "content-type": "application/x-www-form-urlencoded" } }),
      415,
      "the request body must be application/json, got application/x-www-form-urlencoded",
    );
  });

  it("a compressed body, another charset, JSON that is not an object, a bad percent-encoding", async () => {
    // The admin API reads its bodies itself (answered before express): these are its decisions.
    const { csr } = opensslCsr(kw.dir, "encodings");
    const json = JSON.stringify({ csr, profile: "server" });
    await expectProblem(
      post(json, { headers: { "content-encoding": "gzip" } }),
      415,
      "the request body's encoding or charset is not supported",
    );
    await expectProblem(
      post(json, { headers: { "content-type": "application/json; charset=iso-8859-1" } }),
      415,
      "the request body's encoding or charset is not supported",
    );
    expect((await post(json, { headers: { "content-type": "application/json; charset=UTF-8" } })).status).toBe(201);
    await expectProblem(post("42"), 400, "the request body is not valid JSON");
    await expectProblem(post("[]"), 400, /^invalid request body: /);
    // An empty JSON body is {} (as express's parser read it): the missing fields are named.
    await expectProblem(
      kw.api("/api/v1/certificates", { method: "POST", body: "" }),
      400,
      /^invalid request body: csr: /,
    );
    // The token first: an anonymous caller learns nothing about a route's inputs.
    await expectProblem(kw.api("/api/v1/certificates/a%zz", { token: null }), 401, /^this route needs/);
    await expectProblem(
      kw.api("/api/v1/certificates/a%zz"),
      400,
      'the path segment "a%zz" is not valid percent-encoding',
    );
  });

  it("HEAD is answered as GET, without a body; a trailing slash is the same route", async () => {
    const res = await kw.api("/api/v1/profiles", { method: "HEAD" });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(res.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(await res.text()).toBe("");
    const slash = await kw.api("/api/v1/profiles/");
    expect(slash.status).toBe(200);
    expect(((await slash.json()) as { items: unknown[] }).items.length).toBeGreaterThan(0);
  });

  it("no token, a wrong token, and an unknown route", async () => {
    const { csr } = opensslCsr(kw.dir, "anon");
    const anon = await expectProblem(
      post({ csr, profile: "server" }, { token: null }),
      401,
      "this route needs an Authorization: Bearer <token> header or a client certificate",
    );
    expect(anon.instance).toMatch(/^urn:keyward:request:/);
    await expectProblem(
      post({ csr, profile: "server" }, { token: "kw_wrong" }),
      401,
      "the bearer token is unknown, expired or revoked",
    );
    await expectProblem(kw.api("/api/v1/nothing-here"), 404, "no route for GET /api/v1/nothing-here");
  });

  it("a token whose role lacks the permission gets 403", async () => {
    const { token } = await kw.services.tokens.create({ role: "auditor" }, testActor);
    const { csr } = opensslCsr(kw.dir, "auditor");
    await expectProblem(
      post({ csr, profile: "server" }, { token }),
      403,
      'role "auditor" lacks the permission "certificates:issue"',
    );
    expect((await kw.api("/api/v1/certificates", { token })).status).toBe(200);
  });

  it("a malformed serial or list filter", async () => {
    await expectProblem(kw.api("/api/v1/certificates/not-hex!"), 400, '"not-hex!" is not a hexadecimal serial number');
    await expectProblem(kw.api("/api/v1/certificates?status=bogus"), 400, /^invalid query: status: /);
    await expectProblem(kw.api("/api/v1/certificates?limit=0"), 400, /^invalid query: limit: /);
  });

  it("keeps serving after all of that", async () => {
    const { csr } = opensslCsr(kw.dir, "after");
    const res = await post({ csr, profile: "server" });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { certificate: string };
    expect(openssl(["x509", "-noout", "-subject"], body.certificate)).toContain("after.example.com");
  });
});
