import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { totpCode } from "../../src/access/totp.js";
import { opensslCsr, startKeyward, type TestKeyward, testActor } from "../helpers/keyward.js";
import { createPerson, type Person, SteppingClock } from "../helpers/people.js";

let kw: TestKeyward;
const clock = new SteppingClock();
let alice: Person;

beforeAll(async () => {
  kw = await startKeyward({
    clock,
    overrides: { access: { sessionMinutes: 1440, quorum: { "ca.revoke": { approvals: 2, role: "admin" } } } },
  });
  alice = await createPerson(kw, clock, "alice", "admin");
});

afterAll(async () => {
  await kw?.close();
});

async function login(body: Record<string, unknown>) {
  return kw.api("/api/v1/auth/login", { token: null, body });
}

async function detail(res: Response): Promise<string> {
  return ((await res.json()) as { detail: string }).detail;
}

describe("people: password + TOTP (RFC 6238)", () => {
  it("logs in only with the password and a fresh TOTP code, never twice with one code", async () => {
    const noOtp = await login({ name: "alice", password: alice.password });
    expect(noOtp.status).toBe(401);
    expect(await detail(noOtp)).toBe("the name, password or one-time code is wrong");
    expect((await login({ name: "alice", password: alice.password, otp: "000000" })).status).toBe(401);

    const otp = alice.otp();
    const ok = await login({ name: "alice", password: alice.password, otp });
    expect(ok.status).toBe(200);
    const session = (await ok.json()) as { token: string; expiresAt: string; user: { role: string } };
    expect(session.token).toMatch(/^kws_/);
    expect(session.user.role).toBe("admin");
    const me = await kw.api("/api/v1/me", { token: session.token });
    expect(await me.json()).toMatchObject({ name: "alice", role: "admin", kind: "user" });

    // The same code again (a replay, or someone reading over a shoulder) is refused.
    expect((await login({ name: "alice", password: alice.password, otp })).status).toBe(401);
    const events = await kw.services.audit.search({ action: "auth.login", limit: 100 });
    expect(events.map((e) => e.details?.reason ?? e.outcome)).toEqual([
      "no TOTP code",
      "wrong or replayed TOTP code",
      "success",
      "wrong or replayed TOTP code",
    ]);

    // Logging out ends the session at once.
    expect((await kw.api("/api/v1/auth/logout", { token: session.token, method: "POST" })).status).toBe(204);
    expect((await kw.api("/api/v1/me", { token: session.token })).status).toBe(401);
  });

  it("accepts each recovery code once instead of a TOTP code", async () => {
    // Its own person: a recovery-code login requires enrolling a new authenticator (totp-recovery.test.ts).
    const carol = await createPerson(kw, clock, "carol", "auditor");
    const code = carol.recoveryCodes[0]!;
    expect((await login({ name: "carol", password: carol.password, recoveryCode: code })).status).toBe(200);
    expect((await login({ name: "carol", password: carol.password, recoveryCode: code })).status).toBe(401);
  });

  it("locks a person out with back-off after repeated failures, even for the right password", async () => {
    const bob = await createPerson(kw, clock, "bob", "auditor");
    const currentCode = () => totpCode(bob.secret, clock.now());
    for (let i = 0; i < 5; i++) {
      expect((await login({ name: "bob", password: "wrong password!", otp: currentCode() })).status).toBe(401);
    }
    const sixth = await login({ name: "bob", password: "wrong password!", otp: currentCode() });
    expect(sixth.status).toBe(429);
    expect(Number(sixth.headers.get("retry-after"))).toBe(30);
    const right = await login({ name: "bob", password: bob.password, otp: currentCode() });
    expect(right.status).toBe(429);
    expect(await detail(right)).toMatch(/too many failed logins: try again after/);
    // Once the back-off has passed, the right password and code work again.
    clock.nextStep();
    expect((await login({ name: "bob", password: bob.password, otp: bob.otp() })).status).toBe(200);
    // An unknown name fails like a wrong password: no way to tell which names exist.
    const unknown = await login({ name: "nobody", password: "whatever password", otp: "123456" });
    expect(unknown.status).toBe(401);
    expect(await detail(unknown)).toBe("the name, password or one-time code is wrong");
  });
});

describe("step-up for sensitive operations", () => {
  const intermediate = (id: string) => ({ id, commonName: `Step-up ${id}` });

  it("refuses API tokens, asks people for a fresh TOTP code, and runs with one", async () => {
    const byToken = await kw.api("/api/v1/cas", { body: intermediate("stepup-1") });
    expect(byToken.status).toBe(403);
    expect(await detail(byToken)).toMatch(/needs a person/);

    const session = await alice.login();
    const noCode = await kw.api("/api/v1/cas", { token: session, body: intermediate("stepup-1") });
    expect(noCode.status).toBe(401);
    expect(await detail(noCode)).toMatch(/fresh one-time code in the X-Keyward-OTP header/);

    const otp = alice.otp();
    const created = await kw.api("/api/v1/cas", {
      token: session,
      body: intermediate("stepup-1"),
      headers: { "x-keyward-otp": otp },
    });
    expect(created.status).toBe(201);
    expect(((await created.json()) as { id: string }).id).toBe("stepup-1");
    const replay = await kw.api("/api/v1/cas", {
      token: session,
      body: intermediate("stepup-2"),
      headers: { "x-keyward-otp": otp },
    });
    expect(replay.status).toBe(401);
    const denied = await kw.services.audit.search({ action: "request.denied", limit: 1000 });
    expect(denied.filter((e) => e.target?.id === "POST /api/v1/cas")).toHaveLength(3);
  });
});

describe("quorum approvals (2 of 3 admins)", () => {
  it("does not run with one approval, refuses self-approval and repeats, runs with two distinct approvers", async () => {
    const dave = await createPerson(kw, clock, "dave", "admin");
    const erin = await createPerson(kw, clock, "erin", "admin");
    const frank = await createPerson(kw, clock, "frank", "ca-operator");
    const created = await kw.api("/api/v1/cas", {
      token: await alice.login(),
      body: { id: "doomed", commonName: "Doomed" },
      headers: { "x-keyward-otp": alice.otp() },
    });
    expect(created.status).toBe(201);

    const aliceSession = await alice.login();
    const requested = await kw.api("/api/v1/cas/doomed/revoke", {
      token: aliceSession,
      body: { reason: "cessationOfOperation" },
      headers: { "x-keyward-otp": alice.otp() },
    });
    expect(requested.status).toBe(202);
    const approval = (await requested.json()) as { id: string; status: string; requiredApprovals: number };
    expect(approval).toMatchObject({ status: "pending", requiredApprovals: 2 });
    expect(requested.headers.get("location")).toBe(`/api/v1/approvals/${approval.id}`);

    const vote = async (who: Person, session: string, decision = "approve") =>
      kw.api(`/api/v1/approvals/${approval.id}/${decision}`, {
        token: session,
        method: "POST",
        headers: { "x-keyward-otp": who.otp() },
      });
    const own = await vote(alice, aliceSession);
    expect(own.status).toBe(403);
    expect(await detail(own)).toMatch(/cannot approve your own request/);
    const wrongRole = await vote(frank, await frank.login());
    expect(wrongRole.status).toBe(403);
    expect(await detail(wrongRole)).toMatch(/needs approvals from the role "admin"/);

    const daveSession = await dave.login();
    const first = await vote(dave, daveSession);
    expect(first.status).toBe(200);
    expect(((await first.json()) as { status: string }).status).toBe("pending");
    expect((await kw.services.ca.get("doomed")).revokedAt).toBeNull();
    const again = await vote(dave, daveSession);
    expect(again.status).toBe(409);
    expect(await detail(again)).toMatch(/already voted/);

    const second = await vote(erin, await erin.login());
    expect(second.status).toBe(200);
    const done = (await second.json()) as {
      status: string;
      votes: Array<{ user: string }>;
      result: { revokedAt: string };
    };
    expect(done.status).toBe("executed");
    expect(done.votes.map((v) => v.user)).toEqual(["dave", "erin"]);
    expect(done.result.revokedAt).not.toBeNull();
    expect((await kw.services.ca.get("doomed")).revokedAt).not.toBeNull();

    // The revocation ran as the requester, and the whole story is in the audit log.
    const story = await kw.services.audit.search({ targetId: approval.id, limit: 100 });
    expect(story.map((e) => `${e.action}:${e.actor.name}`)).toEqual([
      "approval.request:alice",
      "approval.approve:dave",
      "approval.approve:erin",
      "approval.execute:erin",
      "approval.result:erin",
    ]);
    const revoked = await kw.services.audit.search({ action: "ca.revoke", targetId: "doomed", limit: 10 });
    expect(revoked.map((e) => e.actor.name)).toEqual(["alice"]);
    const listed = (await (await kw.api("/api/v1/approvals?status=executed")).json()) as {
      items: Array<{ id: string }>;
    };
    expect(listed.items.map((i) => i.id)).toContain(approval.id);
  });

  it("lets the requester withdraw, and expires requests nobody decided", async () => {
    const session = await alice.login();
    const file = async () =>
      (await (
        await kw.api("/api/v1/cas/intermediate/revoke", {
          token: session,
          body: {},
          headers: { "x-keyward-otp": alice.otp() },
        })
      ).json()) as { id: string };
    const withdrawn = await file();
    const res = await kw.api(`/api/v1/approvals/${withdrawn.id}/reject`, {
      token: session,
      method: "POST",
      headers: { "x-keyward-otp": alice.otp() },
    });
    expect(((await res.json()) as { status: string }).status).toBe("rejected");

    const stale = await file();
    for (let i = 0; i < 24 * 120 + 2; i++) clock.nextStep(); // 24 hours and a minute later
    const later = (await (await kw.api(`/api/v1/approvals/${stale.id}`)).json()) as { status: string };
    expect(later.status).toBe("expired");
    expect((await kw.services.ca.get("intermediate")).revokedAt).toBeNull();
  });
});

describe("scopes", () => {
  it("keeps a requester's token to its profiles and name patterns", async () => {
    const { token } = await kw.services.tokens.create(
      { role: "requester", name: "team-ci", scopes: { profiles: ["server"], names: ["*.team.example.com"] } },
      testActor,
    );
    const issue = (name: string, profile = "server") =>
      kw.api("/api/v1/certificates", {
        token,
        body: { csr: opensslCsr(kw.dir, name, { subj: `/CN=${name}`, san: `DNS:${name}` }).csr, profile },
      });
    const inside = await issue("api.team.example.com");
    expect(inside.status).toBe(201);
    const outside = await issue("api.other.example.com");
    expect(outside.status).toBe(403);
    expect(await detail(outside)).toBe(
      "your scope does not cover dns:api.other.example.com; it allows *.team.example.com",
    );
    const profile = await issue("web.team.example.com", "client");
    expect(profile.status).toBe(403);
    expect(await detail(profile)).toBe('your scope allows the profiles server, not "client"');
  });
});
