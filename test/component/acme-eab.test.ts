import acme from "acme-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startKeyward, type TestKeyward } from "../helpers/keyward.js";
import { listTokenObjects } from "../helpers/softhsm.js";

/** A Keyward that requires external account binding (RFC 8555 §7.3.4). */
let kw: TestKeyward;

beforeAll(async () => {
  kw = await startKeyward({ overrides: { acme: { externalAccountRequired: true } } });
});

afterAll(async () => {
  await kw?.close();
});

const directoryUrl = () => `${kw.url}/acme/directory`;

async function createEab(): Promise<{ kid: string; hmacKey: string }> {
  const res = await kw.api("/api/v1/acme/eab", { body: { name: "team-a" } });
  expect(res.status).toBe(201);
  return (await res.json()) as { kid: string; hmacKey: string };
}

describe("external account binding", () => {
  it("announces the requirement and refuses accounts without a binding", async () => {
    const dir = (await (await fetch(directoryUrl())).json()) as { meta: { externalAccountRequired: boolean } };
    expect(dir.meta.externalAccountRequired).toBe(true);
    const client = new acme.Client({
      directoryUrl: directoryUrl(),
      accountKey: await acme.crypto.createPrivateEcdsaKey(),
    });
    await expect(client.createAccount({ termsOfServiceAgreed: true })).rejects.toThrow(
      /requires an external account binding/,
    );
  });

  it("creates an account with a valid binding, once; the HMAC key lives in the token, not the database", async () => {
    const eab = await createEab();
    expect(eab.kid).toMatch(/^kw-/);
    expect(Buffer.from(eab.hmacKey, "base64url")).toHaveLength(32);
    const client = new acme.Client({
      directoryUrl: directoryUrl(),
      accountKey: await acme.crypto.createPrivateEcdsaKey(),
      externalAccountBinding: eab,
    });
    expect(await client.createAccount({ termsOfServiceAgreed: true })).toMatchObject({ status: "valid" });

    const second = new acme.Client({
      directoryUrl: directoryUrl(),
      accountKey: await acme.crypto.createPrivateEcdsaKey(),
      externalAccountBinding: eab,
    });
    await expect(second.createAccount({ termsOfServiceAgreed: true })).rejects.toThrow(/already bound to an account/);

    const rows = await kw.services.database.db.selectFrom("acme_eab_keys").selectAll().execute();
    expect(JSON.stringify(rows)).not.toContain(eab.hmacKey);
    const block = listTokenObjects(kw.token, "secrkey").find((b) => b.includes(`eab-${eab.kid}`));
    // Imported (the admin saw it once), so not "always sensitive"; but sensitive and not extractable.
    expect(block).toMatch(/Access:\s+sensitive\s*$/m);
    expect(block).not.toMatch(/Usage:.*(encrypt|decrypt|wrap)/);
  });

  it("refuses a binding signed with the wrong HMAC key or an unknown key id", async () => {
    const eab = await createEab();
    const wrong = new acme.Client({
      directoryUrl: directoryUrl(),
      accountKey: await acme.crypto.createPrivateEcdsaKey(),
      externalAccountBinding: { kid: eab.kid, hmacKey: Buffer.alloc(32, 7).toString("base64url") },
    });
    await expect(wrong.createAccount({ termsOfServiceAgreed: true })).rejects.toThrow(/signature does not verify/);
    const unknown = new acme.Client({
      directoryUrl: directoryUrl(),
      accountKey: await acme.crypto.createPrivateEcdsaKey(),
      externalAccountBinding: { kid: "kw-nobody", hmacKey: eab.hmacKey },
    });
    await expect(unknown.createAccount({ termsOfServiceAgreed: true })).rejects.toThrow(/unknown key id/);
  });
});
