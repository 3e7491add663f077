import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { opensslCsr, startKeyward, type TestKeyward, testActor } from "../helpers/keyward.js";

/**
 * What the API says when the token cannot do what was asked: a key object gone, a mechanism the
 * token lacks, the token down. Only the last is "unavailable" (503, and /ready fails with it).
 */
describe("HSM problems over the API", () => {
  let kw: TestKeyward;
  beforeAll(async () => {
    // A token without AES-GCM (as tpm2-pkcs11 and opencryptoki's soft token are).
    kw = await startKeyward({ overrides: { hsm: { disableMechanisms: ["CKM_AES_GCM"] } } });
  });
  afterAll(() => kw?.close());

  const issue = async () => {
    const { csr } = opensslCsr(kw.dir, `p-${Math.random().toString(36).slice(2, 8)}`);
    return kw.api("/api/v1/certificates", { body: { csr, profile: "server" } });
  };

  it("KMS AES keys on a token without CKM_AES_GCM: 501 naming the mechanism, not 503", async () => {
    const res = await kw.api("/api/v1/keys", { body: { name: "no-gcm", algorithm: "AES-256" } });
    expect(res.status).toBe(501);
    const problem = await res.json();
    expect(problem.type).toBe("urn:keyward:problem:hsmUnsupported");
    expect(problem.detail).toContain("CKM_AES_GCM");
    expect(problem.detail).toContain("keyward hsm check");
    // HMAC keys need no GCM: the same token makes them.
    expect((await kw.api("/api/v1/keys", { body: { name: "mac", algorithm: "HMAC-SHA256" } })).status).toBe(201);
  });

  it("GET /api/v1/hsm shows the token's profile to admins only", async () => {
    const res = await kw.api("/api/v1/hsm");
    expect(res.status).toBe(200);
    const report = await res.json();
    expect(report.token.label).toBe("keyward");
    expect(report.features).toContainEqual(
      expect.objectContaining({
        feature: "kms.aes",
        status: "unavailable",
        how: expect.stringContaining("CKM_AES_GCM"),
      }),
    );
    const { token } = await kw.services.tokens.create({ role: "auditor", name: "auditor" }, testActor);
    expect((await kw.api("/api/v1/hsm", { token })).status).toBe(403);
  });

  it("a CA key gone from the token: 500 'CA key <id> missing from token <label> (<uri>)'; the token is still ready", async () => {
    expect((await issue()).status).toBe(201);
    const ca = await kw.services.ca.get("intermediate");
    await kw.services.hsm.signingKeys.destroyKeyPair(ca.keyUri);
    const res = await issue();
    expect(res.status).toBe(500);
    const problem = await res.json();
    expect(problem.type).toBe("urn:keyward:problem:hsmKeyMissing");
    expect(problem.detail).toContain(`cannot sign: CA key intermediate missing from token keyward (${ca.keyUri})`);
    expect(problem.detail).not.toContain("(CA intermediate)");
    expect(problem.hsm).toMatchObject({ key: ca.keyUri, ca: "intermediate", token: "keyward" });
    expect(JSON.stringify(problem)).not.toContain(kw.token.pin);
    const ready = await fetch(`${kw.url}/ready`);
    expect((await ready.json()).components).toMatchObject({ token: "ok", "ca-key:intermediate": "failing" });
  });

  it("the token gone: 503 'unavailable', and /ready fails", async () => {
    await kw.services.hsm.close();
    const res = await issue();
    expect(res.status).toBe(503);
    const problem = await res.json();
    expect(problem.type).toBe("urn:keyward:problem:hsm");
    expect(problem.detail).toMatch(/closed|not available/);
    expect((await fetch(`${kw.url}/ready`)).status).toBe(503);
  });
});
