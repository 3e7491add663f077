import { afterAll, describe, expect, it } from "vitest";
import { keyward } from "../helpers/cli.js";
import { createTestToken, listTokenObjects, type TestToken } from "../helpers/softhsm.js";

const tokens: TestToken[] = [];
afterAll(() => {
  for (const t of tokens) t.cleanup();
});
function newToken(): TestToken {
  const token = createTestToken("keyward");
  tokens.push(token);
  return token;
}

describe("keyward hsm check", () => {
  it("prints the token's profile and, per feature, native / fallback / unavailable with the reason", async () => {
    const token = newToken();
    const res = await keyward(token, ["hsm", "check", "--json"], {
      KEYWARD_HSM_DISABLE_MECHANISMS: "CKM_SHA256_RSA_PKCS,CKM_AES_GCM",
    });
    expect(res.code, res.stderr).toBe(0);
    const report = JSON.parse(res.stdout) as {
      token: { label: string };
      keyTypes: string[];
      disabled: string[];
      probes: Record<string, { ok: boolean }>;
      features: Array<{ feature: string; status: string; how: string }>;
    };
    expect(report.token.label).toBe("keyward");
    expect(report.disabled).toEqual(["CKM_SHA256_RSA_PKCS", "CKM_AES_GCM"]);
    expect(report.keyTypes).toEqual(["p256", "p384", "rsa2048", "rsa3072", "rsa4096", "ed25519"]);
    const feature = (name: string) => report.features.find((f) => f.feature === name);
    expect(feature("key.p256")).toMatchObject({ status: "native" });
    expect(feature("key.rsa2048")).toMatchObject({ status: "fallback", how: expect.stringContaining("CKM_RSA_PKCS") });
    expect(feature("kms.aes")).toMatchObject({ status: "unavailable", how: expect.stringContaining("CKM_AES_GCM") });
    expect(Object.values(report.probes).every((p) => p.ok)).toBe(true);

    const human = await keyward(token, ["hsm", "check"]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/token:\s+"keyward"/);
    expect(human.stdout).toMatch(/kms\.aes\s+native\s+CKM_AES_KEY_GEN; CKM_AES_GCM/);
  });
});

describe("keyward init on a token that cannot make the key type asked for", () => {
  it("refuses before generating anything, naming the key types the token can make", async () => {
    const token = newToken();
    const res = await keyward(token, ["init", "--root-key", "rsa3072", "--intermediate-key", "p256"], {
      KEYWARD_HSM_DISABLE_MECHANISMS: "CKM_EC_KEY_PAIR_GEN",
    });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain("cannot make p256 keys: the token has no CKM_EC_KEY_PAIR_GEN");
    expect(res.stderr).toMatch(/it can make rsa2048, rsa3072, rsa4096, ed25519/);
    // Not even the root's key (its type was fine) was generated.
    expect(listTokenObjects(token, "privkey")).toEqual([]);
  });
});
