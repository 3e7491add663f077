import acme from "acme-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { base32Decode, totpCode } from "../../src/access/totp.js";
import { keyward } from "../helpers/cli.js";
import { startKeyward, type TestKeyward } from "../helpers/keyward.js";

/**
 * The CLI and the server share the token. What the CLI puts in it while the server runs (people's
 * TOTP seeds, KMS keys, ACME EAB keys) must be usable by the server at once — also when the server
 * itself wrote to the token in between (SoftHSM 2.6 would otherwise never see the CLI's object).
 */
let kw: TestKeyward;

beforeAll(async () => {
  kw = await startKeyward({ overrides: { acme: { externalAccountRequired: true } } });
});

afterAll(async () => {
  await kw?.close();
});

/** The server writes to the token itself: a KMS key generated through the API. */
async function serverWritesToToken(name: string): Promise<string> {
  const res = await kw.api("/api/v1/keys", { body: { name } });
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

describe("objects the CLI adds to the token while the server runs", () => {
  it("people created with `keyward user create` log in at once", async () => {
    for (let i = 0; i < 3; i++) {
      const name = `person-${i}`;
      const password = `a long password ${i}!`;
      const created = await keyward(
        kw.token,
        ["user", "create", "--name", name, "--role", "auditor", "--password-stdin", "--json"],
        {},
        `${password}\n`,
      );
      expect(created.code, created.stderr).toBe(0);
      const secret = new URL(JSON.parse(created.stdout).otpauthUri).searchParams.get("secret")!;
      await serverWritesToToken(`between-people-${i}`);
      const login = await kw.api("/api/v1/auth/login", {
        token: null,
        body: { name, password, otp: totpCode(base32Decode(secret), new Date()) },
      });
      expect(login.status, await login.clone().text()).toBe(200);
    }
  });

  it("KMS keys created with `keyward key create` encrypt at once", async () => {
    for (let i = 0; i < 3; i++) {
      const created = await keyward(kw.token, ["key", "create", "--name", `cli-key-${i}`, "--json"]);
      expect(created.code, created.stderr).toBe(0);
      const { id } = JSON.parse(created.stdout) as { id: string };
      await serverWritesToToken(`between-keys-${i}`);
      const res = await kw.api(`/api/v1/keys/${id}/encrypt`, {
        body: { plaintext: Buffer.from("x").toString("base64") },
      });
      expect(res.status, await res.clone().text()).toBe(200);
    }
  });

  it("ACME EAB keys created with `keyward acme eab create` bind accounts at once", async () => {
    for (let i = 0; i < 2; i++) {
      const created = await keyward(kw.token, ["acme", "eab", "create", "--name", `team-${i}`, "--json"]);
      expect(created.code, created.stderr).toBe(0);
      const eab = JSON.parse(created.stdout) as { kid: string; hmacKey: string };
      await serverWritesToToken(`between-eab-${i}`);
      const client = new acme.Client({
        directoryUrl: `${kw.url}/acme/directory`,
        accountKey: await acme.crypto.createPrivateEcdsaKey(),
        externalAccountBinding: eab,
      });
      expect(await client.createAccount({ termsOfServiceAgreed: true })).toMatchObject({ status: "valid" });
    }
  });
});
