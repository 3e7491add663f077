import { userInfo } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keyward } from "../helpers/cli.js";
import { opensslCsr, startKeyward, type TestKeyward, testActor } from "../helpers/keyward.js";
import { createPerson, type Person, SteppingClock } from "../helpers/people.js";
import { createTestToken } from "../helpers/softhsm.js";

/**
 * Issue 22, finding 5: refused requests left no audit event although the docs promised one, and
 * CRLs signed with the CLI were attributed to `system`. Refusals anyone can cause in bulk are
 * recorded one by one up to a bound, then summarized.
 */
let kw: TestKeyward;
const clock = new SteppingClock();
let carol: Person;

beforeAll(async () => {
  kw = await startKeyward({ clock });
  carol = await createPerson(kw, clock, "carol", "admin");
});

afterAll(async () => {
  await kw?.close();
});

const events = async (action: string, since: number) =>
  kw.services.audit.search({ action, afterSeq: since, limit: 1000 });

describe("refused requests", () => {
  it("a policy-refused issuance is an event naming the route, the caller and why", async () => {
    const since = await kw.services.audit.lastSeq();
    const { csr } = opensslCsr(kw.dir, "refused", { san: "DNS:*.co.uk", subj: "/CN=*.co.uk" });
    const res = await kw.api("/api/v1/certificates", { body: { csr, profile: "server" } });
    expect(res.status).toBe(400);
    const [event] = await events("request.refused", since);
    expect(event).toMatchObject({
      outcome: "denied",
      actor: { name: "test-admin", kind: "token" },
      target: { type: "route", id: "POST /api/v1/certificates" },
      details: { code: expect.any(String), reason: ((await res.json()) as { detail: string }).detail },
    });
  });

  it("a decrypt with the wrong context is an event; the ciphertext and plaintext are not in it", async () => {
    const key = (await (await kw.api("/api/v1/keys", { body: { name: "ctx" } })).json()) as { id: string };
    const secret = Buffer.from("tenant secret").toString("base64");
    const { ciphertext } = (await (
      await kw.api(`/api/v1/keys/${key.id}/encrypt`, { body: { plaintext: secret, context: { tenant: "a" } } })
    ).json()) as { ciphertext: string };
    const since = await kw.services.audit.lastSeq();
    const res = await kw.api(`/api/v1/keys/${key.id}/decrypt`, { body: { ciphertext, context: { tenant: "b" } } });
    expect(res.status).toBe(400);
    const [event] = await events("request.refused", since);
    expect(event).toMatchObject({
      target: { id: `POST /api/v1/keys/${key.id}/decrypt` },
      details: { reason: "the encryption context does not match the one the data was encrypted with" },
    });
    expect(JSON.stringify(event)).not.toContain(ciphertext.slice(0, 40));
    expect(JSON.stringify(event)).not.toContain(secret);
  });

  it("a denied permission and a failed step-up are events; a flood of them is bounded and summarized", async () => {
    const since = await kw.services.audit.lastSeq();
    const session = await carol.login();
    // Step-up without a code: refused, and audited with the reason.
    const stepUp = await kw.api("/api/v1/cas", { token: session, body: { id: "x", keyType: "p256" } });
    expect(stepUp.status).toBe(401);
    const requester = await kw.services.tokens.create({ role: "requester", name: "limited" }, testActor);
    for (let i = 0; i < 30; i++) {
      expect((await kw.api("/api/v1/audit", { token: requester.token })).status).toBe(403);
    }
    const denied = await events("request.denied", since);
    expect(denied).toContainEqual(
      expect.objectContaining({
        actor: expect.objectContaining({ name: "carol" }),
        details: expect.objectContaining({ permission: "ca:manage" }),
      }),
    );
    const forbidden = denied.filter((e) => e.actor.name === "limited");
    expect(forbidden).toHaveLength(10);
    // The rest are counted and written as one summary when the window ends.
    await kw.services.refusals.stop();
    const [summary] = await events("request.denied.summary", since);
    expect(summary).toMatchObject({ actor: { name: "limited" }, details: { suppressed: 20 } });
  });

  it("a CRL signed with the CLI is attributed to cli:<os user>", async () => {
    const token = createTestToken("keyward");
    try {
      expect((await keyward(token, ["init"])).code).toBe(0);
      expect((await keyward(token, ["crl", "intermediate"])).code).toBe(0);
      const { items } = JSON.parse(
        (await keyward(token, ["audit", "list", "--action", "crl.sign", "--json"])).stdout,
      ) as {
        items: Array<{ actor: { kind: string; name: string } }>;
      };
      // init's CRLs and the one asked for: all the operator's doing.
      expect(items.length).toBeGreaterThanOrEqual(3);
      for (const e of items) expect(e.actor).toMatchObject({ kind: "cli", name: `cli:${userInfo().username}` });
    } finally {
      token.cleanup();
    }
  });
});
