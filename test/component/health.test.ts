import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { opensslCsr, startKeyward, type TestKeyward, testActor } from "../helpers/keyward.js";

interface Component {
  component: string;
  status: "ok" | "warning" | "failing";
  detail: string;
  keyUri?: string;
}

/**
 * Health per capability (issue 23): a key object that disappeared from a working token is named as
 * missing everywhere — /ready (ok/failing only, publicly), the operators' /api/v1/health, the
 * overview, and the problem issuance answers — never "the HSM is not available".
 */
describe("health per capability", () => {
  let k: TestKeyward;
  const details = async () => {
    const response = await k.api("/api/v1/health");
    expect(response.status).toBe(200);
    return (await response.json()) as { ready: boolean; components: Component[] };
  };
  const component = (list: Component[], name: string) => list.find((c) => c.component === name);

  beforeAll(async () => {
    k = await startKeyward();
    // One issuance creates the responder; one /kms/revoked the KMS signer.
    const { csr } = opensslCsr(k.dir, "before");
    expect((await k.api("/api/v1/certificates", { body: { csr, profile: "server" } })).status).toBe(201);
    expect((await fetch(`${k.url}/kms/revoked`)).status).toBe(200);
  });
  afterAll(() => k?.close());

  it("reports every component ok on a working deployment, publicly without details", async () => {
    const response = await fetch(`${k.url}/ready`);
    expect(response.status).toBe(200);
    const body = await response.json();
    expect(body.ready).toBe(true);
    expect(body.components).toMatchObject({
      database: "ok",
      token: "ok",
      "ca-key:root": "ok",
      "ca-key:intermediate": "ok",
      "ocsp-responder:intermediate": "ok",
      "crl:intermediate": "ok",
      "audit-signer": "ok",
      "kms-signer": "ok",
    });
    // Nothing but ok/failing leaves publicly: no key URIs, token labels or messages.
    expect(new Set(Object.values(body.components))).toEqual(new Set(["ok"]));
    expect(JSON.stringify(body)).not.toMatch(/pkcs11:|present|token /);

    expect((await k.api("/api/v1/health", { token: null })).status).toBe(401);
    const health = await details();
    expect(component(health.components, "ca-key:intermediate")).toMatchObject({
      status: "ok",
      detail: expect.stringContaining(`present in token ${k.token.tokenLabel}`),
    });
    expect(component(health.components, "token")?.detail).toBe(`token ${k.token.tokenLabel} reachable, logged in`);
  });

  it("names a CA key deleted from the token by another process on every surface", async () => {
    const intermediate = await k.services.ca.get("intermediate");
    const object = /object=([^;]+)/.exec(intermediate.keyUri)![1]!;
    // pkcs11-tool (OpenSC), another process, deletes the key pair as an operator's mistake would.
    for (const type of ["privkey", "pubkey"]) {
      execFileSync(
        "pkcs11-tool",
        [
          ...["--module", k.token.modulePath, "--token-label", k.token.tokenLabel, "--login", "--pin", k.token.pin],
          ...["--delete-object", "--type", type, "--label", decodeURIComponent(object)],
        ],
        { env: { ...process.env, SOFTHSM2_CONF: k.token.conf }, stdio: "pipe" },
      );
    }
    const expected = `cannot sign: CA key intermediate missing from token ${k.token.tokenLabel} (${intermediate.keyUri})`;

    const ready = await fetch(`${k.url}/ready`);
    expect(ready.status).toBe(503);
    const body = await ready.json();
    expect(body.ready).toBe(false);
    expect(body.components).toMatchObject({ token: "ok", database: "ok", "ca-key:intermediate": "failing" });
    expect(body.components["ca-key:root"]).toBe("ok");

    const health = await details();
    expect(health.ready).toBe(false);
    expect(component(health.components, "ca-key:intermediate")).toMatchObject({ status: "failing", detail: expected });
    expect(component(health.components, "token")?.status).toBe("ok");

    const overview = await (await k.api("/api/v1/overview")).json();
    expect(overview.warnings).toContainEqual(
      expect.objectContaining({ level: "critical", code: "ca-key-missing", caId: "intermediate" }),
    );
    expect(overview.warnings.find((w: { code: string }) => w.code === "ca-key-missing").message).toContain(expected);
    expect(overview.cas.find((c: { id: string }) => c.id === "intermediate").key).toEqual({
      status: "failing",
      detail: expected,
      online: true,
    });

    const { csr } = opensslCsr(k.dir, "after");
    const issued = await k.api("/api/v1/certificates", { body: { csr, profile: "server" } });
    // hsmKeyMissing (docs/hsm.md): the token works, the key is gone.
    expect(issued.status).toBe(500);
    const problem = await issued.json();
    // The HSM error's context follows: "… (CA intermediate)".
    expect(problem.detail).toContain(expected);
    expect(problem.detail).not.toMatch(/HSM is not available/);
  });

  it("names a missing KMS signer key at /kms/revoked and in health", async () => {
    const record = await k.services.database.db
      .selectFrom("service_signing_keys")
      .select("key_uri")
      .where("purpose", "=", "revoked-keys")
      .executeTakeFirstOrThrow();
    await k.services.hsm.signingKeys.destroyKeyPair(record.key_uri);
    // The list is cached while fresh: a key change is what makes it signed again, as a rotation would.
    const key = await k.api("/api/v1/keys", { body: { name: "k1", algorithm: "AES-256" } });
    expect(key.status).toBe(201);
    const { id } = await key.json();
    await k.services.keys.changeState(id, { to: "compromised", reason: "test" }, testActor);
    const revoked = await fetch(`${k.url}/kms/revoked`);
    expect(revoked.status).toBe(500);
    expect((await revoked.json()).detail).toBe(`cannot sign: key missing (${record.key_uri})`);
    expect(component((await details()).components, "kms-signer")).toMatchObject({
      status: "failing",
      detail: `cannot sign: KMS signer key (/kms/revoked) missing (${record.key_uri})`,
    });
  });

  it("says the token is down, and cannot check the keys, once it is closed", async () => {
    await k.services.hsm.close();
    const body = await (await fetch(`${k.url}/ready`)).json();
    expect(body.ready).toBe(false);
    expect(body.components).toMatchObject({ database: "ok", token: "failing", "ca-key:root": "failing" });
    const health = await details();
    expect(component(health.components, "token")?.detail).toMatch(
      new RegExp(`^token ${k.token.tokenLabel} unavailable: `),
    );
    expect(component(health.components, "ca-key:root")?.detail).toBe(
      `cannot check: token ${k.token.tokenLabel} unavailable`,
    );
  });
});
