import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { base32Decode, totpCode } from "../../src/access/totp.js";
import { keyward } from "../helpers/cli.js";
import { startKeyward, type TestKeyward } from "../helpers/keyward.js";
import { createPerson, type Person, SteppingClock } from "../helpers/people.js";

const clock = new SteppingClock();
const secretOf = (otpauthUri: string) => base32Decode(new URL(otpauthUri).searchParams.get("secret")!);

/**
 * People get their second factor back (issue 23): the seed is gone from the token (a restore
 * without it), a recovery code logs in, the session can do nothing but enrol a new authenticator,
 * and the new one works; admins force re-enrolment; the CLI replaces a seed; all audited.
 */
describe("TOTP recovery and re-enrolment", () => {
  let k: TestKeyward;
  let ann: Person;
  let boss: Person;

  beforeAll(async () => {
    k = await startKeyward({ clock });
    ann = await createPerson(k, clock, "ann", "admin");
    boss = await createPerson(k, clock, "boss", "admin");
  });
  afterAll(() => k?.close());

  const login = (body: Record<string, string>) => k.api("/api/v1/auth/login", { token: null, body });

  it("a seed missing from the token is named; a recovery code leads to a required re-enrolment", async () => {
    const user = await k.services.users.get(ann.id);
    await k.services.hsm.secretKeys.destroySecretKey(user.totpKeyUri);

    const refused = await login({ name: "ann", password: ann.password, otp: ann.otp() });
    expect(refused.status).toBe(401);
    expect((await refused.json()).detail).toBe(
      "the authenticator seed of ann is not in the token (e.g. after a restore without the token): log in with a recovery code, then enrol a new authenticator",
    );

    const recovered = await login({ name: "ann", password: ann.password, recoveryCode: ann.recoveryCodes[0]! });
    expect(recovered.status).toBe(200);
    const session = await recovered.json();
    expect(session.totpEnrolmentRequired).toBe(true);
    const token = session.token as string;

    // Until a new authenticator is enrolled, the session reaches only the caller's own routes.
    const blocked = await k.api("/api/v1/overview", { token });
    expect(blocked.status).toBe(403);
    expect((await blocked.json()).detail).toMatch(/^enrol a new authenticator first/);
    expect((await k.api("/api/v1/me", { token })).status).toBe(200);

    const begun = await k.api("/api/v1/auth/totp/enrol", { token, body: {} });
    expect(begun.status).toBe(201);
    const { otpauthUri, qrCode } = await begun.json();
    expect(otpauthUri).toMatch(/^otpauth:\/\/totp\/Keyward:ann\?secret=[A-Z2-7]+/);
    // The console's QR code is an SVG image of that URI.
    expect(qrCode).toMatch(/^data:image\/svg\+xml;base64,/);
    expect(Buffer.from(qrCode.split(",")[1], "base64").toString()).toContain("<svg");
    const secret = secretOf(otpauthUri);

    const wrong = await k.api("/api/v1/auth/totp/confirm", { token, body: { otp: "000000" } });
    expect(wrong.status).toBe(401);
    clock.nextStep();
    const confirmed = await k.api("/api/v1/auth/totp/confirm", { token, body: { otp: totpCode(secret, clock.now()) } });
    expect(confirmed.status).toBe(200);
    expect((await confirmed.json()).totpEnrolmentRequired).toBe(false);
    expect((await k.api("/api/v1/overview", { token })).status).toBe(200);

    // The new authenticator logs in; the used recovery code does not work twice.
    clock.nextStep();
    const again = await login({ name: "ann", password: ann.password, otp: totpCode(secret, clock.now()) });
    expect(again.status).toBe(200);
    expect((await again.json()).totpEnrolmentRequired).toBe(false);
    const reused = await login({ name: "ann", password: ann.password, recoveryCode: ann.recoveryCodes[0]! });
    expect(reused.status).toBe(401);

    const actions = (await k.services.audit.search({ targetId: ann.id, limit: 50 })).map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(["user.totp.required", "user.totp.enrol-begin", "user.totp.enrol"]));
  });

  it("an admin forces a person to enrol again (step-up), audited", async () => {
    const bossToken = await boss.login();
    const target = (await k.services.users.list()).find((u) => u.name === "ann")!;
    const noStepUp = await k.api(`/api/v1/users/${target.id}/reset-totp`, { token: bossToken, body: {} });
    expect(noStepUp.status).toBe(401);
    const forced = await k.api(`/api/v1/users/${target.id}/reset-totp`, {
      token: bossToken,
      body: {},
      headers: { "x-keyward-otp": boss.otp() },
    });
    expect(forced.status).toBe(200);
    expect((await forced.json()).totpEnrolmentRequired).toBe(true);
    const events = await k.services.audit.search({ targetId: target.id, action: "user.totp.required", limit: 10 });
    expect(events.map((e) => e.details?.reason)).toContain("required by boss");
  });

  it("keyward user reset-totp gives a person a new authenticator at once", async () => {
    const result = await keyward(k.token, ["user", "reset-totp", "--name", "boss", "--json"]);
    expect(result.code, result.stderr).toBe(0);
    const secret = secretOf(JSON.parse(result.stdout).otpauthUri);
    const refusedOld = await login({ name: "boss", password: boss.password, otp: boss.otp() });
    expect(refusedOld.status).toBe(401);
    clock.nextStep();
    const fresh = await login({ name: "boss", password: boss.password, otp: totpCode(secret, clock.now()) });
    expect(fresh.status).toBe(200);
    const events = await k.services.audit.search({ action: "user.totp.reset", limit: 10 });
    expect(events.map((e) => e.actor.name)).toEqual([expect.stringMatching(/^cli:/)]);
  });
});
