import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startKeyward, type TestKeyward, testActor } from "../helpers/keyward.js";
import { createPerson, type Person, SteppingClock } from "../helpers/people.js";
import { listTokenObjects } from "../helpers/softhsm.js";
import { ConflictError } from "../../src/errors/index.js";
import { KEY_STATES, type KeyState, TRANSITIONS } from "../../src/keys/index.js";

let kw: TestKeyward;
const clock = new SteppingClock();
let kate: Person;

beforeAll(async () => {
  kw = await startKeyward({ clock, overrides: { access: { sessionMinutes: 1440 } } });
  kate = await createPerson(kw, clock, "kate", "key-officer");
});

afterAll(async () => {
  await kw?.close();
});

interface KeyView {
  id: string;
  name: string;
  versions: Array<{
    version: number;
    state: string;
    activateAt: string | null;
    keyUri: string;
    destroyAfter: string | null;
    destroyedAt: string | null;
  }>;
}

async function createKey(body: Record<string, unknown>): Promise<KeyView> {
  const res = await kw.api("/api/v1/keys", { body });
  expect(res.status).toBe(201);
  return (await res.json()) as KeyView;
}

const enc = (id: string, text: string, context?: Record<string, string>) =>
  kw.api(`/api/v1/keys/${id}/encrypt`, { body: { plaintext: Buffer.from(text).toString("base64"), context } });
const dec = (id: string, ciphertext: string, extra: Record<string, unknown> = {}) =>
  kw.api(`/api/v1/keys/${id}/decrypt`, { body: { ciphertext, ...extra } });
const detail = async (res: Response) => ((await res.json()) as { detail: string }).detail;
const state = (id: string, body: Record<string, unknown>) => kw.api(`/api/v1/keys/${id}/state`, { body });

describe("symmetric keys in the HSM (KMS)", () => {
  it("creates keys in the token, non-extractable unless distributable", async () => {
    const kept = await createKey({ name: "payments", algorithm: "AES-256" });
    const shared = await createKey({ name: "shared", algorithm: "AES-128", distributable: true });
    expect(kept.versions).toEqual([expect.objectContaining({ version: 1, state: "active" })]);
    expect(await kw.services.hsm.secretKeys.secretKeyAttributes(kept.versions[0]!.keyUri)).toMatchObject({
      sensitive: true,
      extractable: false,
    });
    expect(await kw.services.hsm.secretKeys.secretKeyAttributes(shared.versions[0]!.keyUri)).toMatchObject({
      sensitive: true,
      extractable: true,
    });
    const again = await kw.api("/api/v1/keys", { body: { name: "payments" } });
    expect(again.status).toBe(409);
    expect(await detail(again)).toBe('a key named "payments" already exists');
  });

  it("encrypts to a compact JWE (dir, A256GCM, kid id/version) and decrypts it; tampering is refused", async () => {
    const key = await createKey({ name: "orders" });
    const res = await enc(key.id, "card 4111 1111 1111 1111");
    expect(res.status).toBe(200);
    const { ciphertext, version } = (await res.json()) as { ciphertext: string; version: number };
    expect(version).toBe(1);
    const parts = ciphertext.split(".");
    expect(parts).toHaveLength(5);
    expect(parts[1]).toBe("");
    expect(JSON.parse(Buffer.from(parts[0]!, "base64url").toString())).toEqual({
      alg: "dir",
      enc: "A256GCM",
      kid: `${key.id}/1`,
    });
    const plain = (await (await dec(key.id, ciphertext)).json()) as { plaintext: string };
    expect(Buffer.from(plain.plaintext, "base64").toString()).toBe("card 4111 1111 1111 1111");

    const tampered = [parts[0], "", parts[2], `${parts[3]!.slice(0, -2)}AA`, parts[4]].join(".");
    const refused = await dec(key.id, tampered);
    expect(refused.status).toBe(400);
    expect(await detail(refused)).toMatch(/does not authenticate under this key/);
    const other = await createKey({ name: "other" });
    expect(await detail(await dec(other.id, ciphertext))).toMatch(/was not made by key other/);
    expect((await dec(key.id, "not.a.jwe")).status).toBe(400);
  });

  it("binds an encryption context: required and equal on decrypt", async () => {
    const key = await createKey({ name: "contextual" });
    const { ciphertext } = (await (await enc(key.id, "tenant data", { tenant: "acme" })).json()) as {
      ciphertext: string;
    };
    expect(await detail(await dec(key.id, ciphertext))).toBe(
      "the encryption context does not match the one the data was encrypted with",
    );
    expect((await dec(key.id, ciphertext, { context: { tenant: "other" } })).status).toBe(400);
    expect((await dec(key.id, ciphertext, { context: { tenant: "acme" } })).status).toBe(200);
  });

  it("rotates: new data under the new version, old ciphertext still decrypts, rewrap moves it", async () => {
    const key = await createKey({ name: "rotating" });
    const old = ((await (await enc(key.id, "v1 data")).json()) as { ciphertext: string }).ciphertext;
    const rotated = (await (await kw.api(`/api/v1/keys/${key.id}/rotate`, { method: "POST" })).json()) as KeyView;
    expect(rotated.versions.map((v) => v.version)).toEqual([1, 2]);
    const fresh = (await (await enc(key.id, "v2 data")).json()) as { version: number };
    expect(fresh.version).toBe(2);
    expect((await (await dec(key.id, old)).json()) as { version: number }).toMatchObject({ version: 1 });
    const rewrapped = (await (await kw.api(`/api/v1/keys/${key.id}/rewrap`, { body: { ciphertext: old } })).json()) as {
      ciphertext: string;
      version: number;
    };
    expect(rewrapped.version).toBe(2);
    const back = (await (await dec(key.id, rewrapped.ciphertext)).json()) as { plaintext: string };
    expect(Buffer.from(back.plaintext, "base64").toString()).toBe("v1 data");
  });

  it("follows the NIST SP 800-57 transitions: suspend, resume, deactivate (decrypt only); illegal moves are 409", async () => {
    const key = await createKey({ name: "lifecycle" });
    const { ciphertext } = (await (await enc(key.id, "x")).json()) as { ciphertext: string };
    expect((await state(key.id, { state: "suspended" })).status).toBe(200);
    const suspended = await dec(key.id, ciphertext);
    expect(suspended.status).toBe(409);
    expect(await detail(suspended)).toBe(
      "version 1 of key lifecycle is suspended: it cannot decrypt (an administrator may override with a reason)",
    );
    expect((await dec(key.id, ciphertext, { override: { reason: "incident 7 forensics" } })).status).toBe(200);
    expect((await state(key.id, { state: "active" })).status).toBe(200);
    expect((await state(key.id, { state: "deactivated" })).status).toBe(200);
    expect((await dec(key.id, ciphertext)).status).toBe(200);
    const noEncrypt = await enc(key.id, "y");
    expect(noEncrypt.status).toBe(409);
    expect(await detail(noEncrypt)).toBe("key lifecycle has no active version to encrypt with");
    const back = await state(key.id, { state: "active" });
    expect(back.status).toBe(409);
    expect(await detail(back)).toBe(
      "version 1 of key lifecycle is deactivated and cannot become active; from deactivated it may become compromised, destroyed",
    );
    const overrides = await kw.services.audit.search({ action: "key.decrypt", targetId: key.id, limit: 10 });
    expect(overrides.some((e) => e.details?.override === "incident 7 forensics")).toBe(true);
  });

  it("allows exactly the transitions in the table, from every state", async () => {
    const keys = kw.services.keys;
    const into = async (from: KeyState, n: number) => {
      const future = new Date(clock.now().getTime() + 3_600_000);
      const key = await keys.create(
        {
          name: `walk-${from}-${n}`,
          algorithm: "AES-128",
          ...(from === "pre-activation" ? { activateAt: future } : {}),
        },
        testActor,
      );
      if (from === "suspended" || from === "deactivated" || from === "compromised") {
        await keys.changeState(key.id, { to: from }, testActor);
      } else if (from === "destroyed") {
        await keys.changeState(key.id, { to: "deactivated" }, testActor);
        await keys.scheduleDestroy(key.id, 1, testActor, 0);
        await keys.runSchedule(testActor);
      }
      expect((await keys.get(key.id)).versions[0]!.state).toBe(from);
      return key.id;
    };
    let n = 0;
    for (const from of KEY_STATES) {
      for (const to of ["active", "suspended", "deactivated", "compromised", "destroyed"] as const) {
        const id = await into(from, n++);
        const attempt =
          to === "destroyed"
            ? keys.scheduleDestroy(id, 1, testActor, 0).then(() => keys.runSchedule(testActor))
            : keys.changeState(id, { to, version: 1 }, testActor);
        if (TRANSITIONS[from].includes(to)) {
          await attempt;
          expect([from, to, (await keys.get(id)).versions[0]!.state]).toEqual([from, to, to]);
        } else {
          await expect(attempt, `${from} -> ${to}`).rejects.toThrow(ConflictError);
          expect((await keys.get(id)).versions[0]!.state).toBe(from);
        }
      }
    }
  });

  it("starts a key in pre-activation until its activation date; the scheduler activates it", async () => {
    const activateAt = new Date(clock.now().getTime() + 20_000).toISOString();
    const key = await createKey({ name: "later", activateAt });
    expect(key.versions[0]).toMatchObject({ state: "pre-activation", activateAt });
    const early = await enc(key.id, "too soon");
    expect(early.status).toBe(409);
    expect(await detail(early)).toBe("key later has no active version to encrypt with");
    expect((await kw.services.keys.runSchedule(testActor)).activated).toBe(0);
    clock.nextStep();
    expect((await kw.services.keys.runSchedule(testActor)).activated).toBe(1);
    expect((await enc(key.id, "now")).status).toBe(200);
    const bad = await kw.api("/api/v1/keys", {
      body: { name: "backwards", activateAt, deactivateAt: new Date(Date.parse(activateAt) - 1000).toISOString() },
    });
    expect(bad.status).toBe(400);
    expect(await detail(bad)).toBe("deactivateAt must be after the activation date (or now)");
  });

  it("destroys a version only after a step-up and the waiting period; cancellable; then gone from the token", async () => {
    const key = await createKey({ name: "doomed-key" });
    const { ciphertext } = (await (await enc(key.id, "last words")).json()) as { ciphertext: string };
    await state(key.id, { state: "deactivated" });
    const byToken = await kw.api(`/api/v1/keys/${key.id}/versions/1/destroy`, { method: "POST" });
    expect(byToken.status).toBe(403);
    const session = await kate.login();
    const destroy = () =>
      kw.api(`/api/v1/keys/${key.id}/versions/1/destroy`, {
        token: session,
        method: "POST",
        headers: { "x-keyward-otp": kate.otp() },
      });
    const scheduled = await destroy();
    expect(scheduled.status).toBe(201);
    expect(((await scheduled.json()) as { destroyAfter: string }).destroyAfter).not.toBeNull();
    expect((await kw.api(`/api/v1/keys/${key.id}/versions/1/cancel-destroy`, { method: "POST" })).status).toBe(200);
    expect((await destroy()).status).toBe(201);

    // Before the waiting period nothing happens; after it the scheduler destroys the object.
    expect((await kw.services.keys.runSchedule(testActor)).destroyed).toBe(0);
    for (let i = 0; i < 7 * 2880 + 2; i++) clock.nextStep();
    expect((await kw.services.keys.runSchedule(testActor)).destroyed).toBe(1);
    const after = (await (await kw.api(`/api/v1/keys/${key.id}`)).json()) as KeyView;
    expect(after.versions[0]).toMatchObject({ state: "destroyed" });
    expect(listTokenObjects(kw.token, "secrkey").some((o) => o.includes("kms-doomed-key-v1"))).toBe(false);
    const gone = await dec(key.id, ciphertext);
    expect(gone.status).toBe(409);
    expect(await detail(gone)).toBe("version 1 of key doomed-key is destroyed: it cannot decrypt");
  });

  it("MACs with HMAC keys and verifies; generates data keys for envelope encryption", async () => {
    const mac = await createKey({ name: "webhooks", algorithm: "HMAC-SHA256" });
    const data = Buffer.from("payload").toString("base64");
    const made = (await (await kw.api(`/api/v1/keys/${mac.id}/mac`, { body: { data } })).json()) as {
      mac: string;
      version: number;
    };
    const verify = (m: string) =>
      kw.api(`/api/v1/keys/${mac.id}/verify`, { body: { data, mac: m, version: made.version } });
    expect(await (await verify(made.mac)).json()).toEqual({ valid: true });
    expect(await (await verify(`${made.mac.slice(0, -2)}AA`)).json()).toEqual({ valid: false });
    expect(await detail(await enc(mac.id, "x"))).toBe("key webhooks is an HMAC key: use mac, not encrypt");

    const aes = await createKey({ name: "envelopes" });
    const dk = (await (await kw.api(`/api/v1/keys/${aes.id}/generate-data-key`, { body: {} })).json()) as {
      plaintext: string;
      ciphertext: string;
    };
    expect(Buffer.from(dk.plaintext, "base64")).toHaveLength(32);
    const opened = (await (await dec(aes.id, dk.ciphertext)).json()) as { plaintext: string };
    expect(opened.plaintext).toBe(dk.plaintext);
  });

  it("keeps a requester to the keys in its scope, and audits every use", async () => {
    const key = await createKey({ name: "team-key", tags: ["team-a"] });
    const other = await createKey({ name: "not-yours" });
    const { token } = await kw.services.tokens.create(
      { role: "requester", scopes: { keys: ["tag:team-a"] } },
      testActor,
    );
    const body = { plaintext: Buffer.from("x").toString("base64") };
    expect((await kw.api(`/api/v1/keys/${key.id}/encrypt`, { token, body })).status).toBe(200);
    const refused = await kw.api(`/api/v1/keys/${other.id}/encrypt`, { token, body });
    expect(refused.status).toBe(403);
    expect(await detail(refused)).toBe("your scope does not include key not-yours");
    const uses = await kw.services.audit.search({ action: "key.encrypt", targetId: key.id, limit: 10 });
    expect(uses).toHaveLength(1);
    expect(uses[0]!.actor.kind).toBe("token");
  });
});
