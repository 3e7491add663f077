import { execFileSync } from "node:child_process";
import { createPublicKey, verify } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HsmKeyNotFoundError, HsmOperationError, HsmUnsupportedError } from "../../src/errors/index.js";
import { ckrCode, toHsmError } from "../../src/hsm/errors.js";
import { Pkcs11Hsm } from "../../src/hsm/index.js";
import { toProblem } from "../../src/http/problem.js";
import { createTestToken, type TestToken } from "../helpers/softhsm.js";

let token: TestToken;
let hsm: Pkcs11Hsm;

beforeAll(async () => {
  token = createTestToken("hsm-caps");
  hsm = await Pkcs11Hsm.open({ modulePath: token.modulePath, tokenLabel: token.tokenLabel, pin: token.pin });
});

afterAll(async () => {
  await hsm?.close();
  token?.cleanup();
});

describe("HSM errors say what happened", () => {
  it("recovers the CKR_ code from errors pkcs11js does not wrap in Pkcs11Error (C_CreateObject)", () => {
    const plain = new Error("CKR_ATTRIBUTE_VALUE_INVALID:19");
    expect(ckrCode(plain)).toBe(0x13);
    const error = toHsmError(plain, "import HMAC key", { key: "pkcs11:token=t;object=k;type=secret-key" });
    expect(error).toBeInstanceOf(HsmOperationError);
    expect(error.ckr).toBe("CKR_ATTRIBUTE_VALUE_INVALID");
    expect(error.message).toContain("pkcs11:token=t;object=k;type=secret-key");
  });

  it("names the PKCS#11 function, mechanism, key and CKR_ of a refused operation", async () => {
    const { uri } = await hsm.signingKeys.generateKeyPair("rsa2048", "errors-rsa");
    // An RSA key asked to sign ECDSA: SoftHSM takes C_SignInit and fails C_Sign (CKR_GENERAL_ERROR).
    const error = await hsm.signingKeys.sign(uri, { name: "ECDSA", hash: "SHA-256" }, Buffer.from("x")).catch((e) => e);
    expect(error).toBeInstanceOf(HsmOperationError);
    expect(error.code).toBe("hsmFailed");
    expect(error.message).toContain("C_Sign");
    expect(error.message).toContain("CKM_ECDSA");
    expect(error.message).toContain(uri);
    expect(error.message).toMatch(/CKR_[A-Z_]+/);
    expect(error.context).toMatchObject({ function: "C_Sign", mechanism: "CKM_ECDSA", key: uri, token: "hsm-caps" });
  });

  it("reports a missing key object as 'key missing: <uri>', a 500 problem naming it, not an outage", async () => {
    const uri = "pkcs11:token=hsm-caps;object=gone;id=%00%02;type=private";
    const error = await hsm.signingKeys.sign(uri, { name: "ECDSA", hash: "SHA-256" }, Buffer.from("x")).catch((e) => e);
    expect(error).toBeInstanceOf(HsmKeyNotFoundError);
    expect(error.message).toMatch(/^key missing: pkcs11:token=hsm-caps;object=gone/);
    const problem = toProblem(error.withContext({ ca: "intermediate" }));
    expect(problem).toMatchObject({ status: 500, type: "urn:keyward:problem:hsmKeyMissing" });
    expect(problem.detail).toContain(`key missing: ${uri}`);
    expect(problem.detail).toContain("CA intermediate");
    expect(problem.hsm).toMatchObject({ key: uri, ca: "intermediate", function: "C_FindObjects" });
    // The token itself is fine.
    await expect(hsm.ping()).resolves.toBeUndefined();
  });

  it("finds keys another process puts in the token while this one is running, each at once", async () => {
    const outside = (args: string[]) =>
      execFileSync(
        "pkcs11-tool",
        ["--module", token.modulePath, "--token-label", token.tokenLabel, "--login", "--pin", token.pin, ...args],
        { env: { ...process.env, SOFTHSM2_CONF: token.conf }, stdio: "pipe" },
      );
    // Warm this process's sessions' view of the token with a miss first.
    await expect(
      hsm.secretKeys.hmacSha256("pkcs11:token=hsm-caps;object=outside-0;type=secret-key", Buffer.from("x")),
    ).rejects.toBeInstanceOf(HsmKeyNotFoundError);
    for (let i = 0; i < 3; i++) {
      // pkcs11-tool, another process and a tool we did not write, adds a secret (as `user create` does a TOTP seed)...
      outside(["--keygen", "--key-type", "GENERIC:32", "--label", `outside-${i}`, "--sensitive"]);
      // ...and a key pair; this process uses each at once.
      outside(["--keypairgen", "--key-type", "EC:prime256v1", "--label", `outside-pair-${i}`, "--usage-sign"]);
      // This process writes to the token too before it looks (SoftHSM's change counter is per token).
      await hsm.secretKeys.importHmacKey(Buffer.alloc(32, i), `inside-${i}`);
      const mac = await hsm.secretKeys.hmacSha256(
        `pkcs11:token=hsm-caps;object=outside-${i};type=secret-key`,
        Buffer.from("x"),
      );
      expect(mac).toHaveLength(32);
      const uri = `pkcs11:token=hsm-caps;object=outside-pair-${i};type=private`;
      const spki = await hsm.signingKeys.publicKey(uri);
      const signature = await hsm.signingKeys.sign(uri, { name: "ECDSA", hash: "SHA-256" }, Buffer.from("hello"));
      const key = createPublicKey({ key: spki, format: "der", type: "spki" });
      expect(verify("sha256", Buffer.from("hello"), { key, dsaEncoding: "ieee-p1363" }, signature)).toBe(true);
    }
  });
});

describe("the capability profile", () => {
  it("reads the token's mechanisms and says, per feature, how Keyward works on it", async () => {
    const caps = await hsm.probe();
    expect(caps.profile.token.label).toBe("hsm-caps");
    expect(caps.profile.module.manufacturer).toMatch(/SoftHSM/i);
    expect(caps.profile.mechanisms.map((m) => m.name)).toEqual(
      expect.arrayContaining(["CKM_ECDSA", "CKM_SHA256_RSA_PKCS", "CKM_AES_GCM", "CKM_EDDSA"]),
    );
    expect(caps.profile.probes).toEqual({
      sessionObjects: { ok: true },
      secretKeyGeneration: { ok: true },
      secretKeyImport: { ok: true },
    });
    const status = Object.fromEntries(caps.features().map((f) => [f.feature, f.status]));
    expect(status).toMatchObject({
      "key.p256": "native",
      "key.rsa3072": "native",
      "key.ed25519": "native",
      "kms.aes": "native",
      "secrets.import": "native",
    });
    // The probes leave nothing behind.
    const labels = execFileSync(
      "pkcs11-tool",
      ["--module", token.modulePath, "--token-label", token.tokenLabel, "--login", "--pin", token.pin, "-O"],
      { env: { ...process.env, SOFTHSM2_CONF: token.conf }, encoding: "utf8" },
    );
    expect(labels).not.toContain("keyward-probe");
  });
});

describe("a token without some mechanisms (hsm.disableMechanisms)", () => {
  let limited: Pkcs11Hsm;
  beforeAll(async () => {
    limited = await Pkcs11Hsm.open({
      modulePath: token.modulePath,
      tokenLabel: token.tokenLabel,
      pin: token.pin,
      disableMechanisms: ["CKM_SHA256_RSA_PKCS", "CKM_EC_KEY_PAIR_GEN", "CKM_AES_GCM"],
    });
  });
  afterAll(() => limited?.close());

  it("signs RSA as SHA-256 on the host + DigestInfo + CKM_RSA_PKCS: a PKCS#1 v1.5 signature openssl accepts", async () => {
    expect(limited.capabilities().keyType("rsa2048")).toMatchObject({ status: "fallback" });
    const { uri, spki } = await limited.signingKeys.generateKeyPair("rsa2048", "fallback-rsa");
    const data = Buffer.from("to be signed");
    const signature = await limited.signingKeys.sign(uri, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, data);
    const key = createPublicKey({ key: spki, format: "der", type: "spki" });
    expect(verify("sha256", data, key, signature)).toBe(true);
    // Byte for byte what the token's own hash-and-sign makes (PKCS#1 v1.5 is deterministic).
    expect(await hsm.signingKeys.sign(uri, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, data)).toEqual(signature);
  });

  it("refuses a key type the token cannot make before generating anything, naming those it can", async () => {
    const error = await limited.signingKeys.generateKeyPair("p256", "never-made").catch((e) => e);
    expect(error).toBeInstanceOf(HsmUnsupportedError);
    expect(error.message).toContain("CKM_EC_KEY_PAIR_GEN");
    expect(error.message).toMatch(/it can make .*rsa2048/);
    expect(toProblem(error)).toMatchObject({ status: 501, type: "urn:keyward:problem:hsmUnsupported" });
    const objects = execFileSync(
      "pkcs11-tool",
      ["--module", token.modulePath, "--token-label", token.tokenLabel, "--login", "--pin", token.pin, "-O"],
      { env: { ...process.env, SOFTHSM2_CONF: token.conf }, encoding: "utf8" },
    );
    expect(objects).not.toContain("never-made");
  });

  it("refuses KMS AES keys on a token without AES-GCM with a problem naming the mechanism", async () => {
    const error = await limited.secretKeys
      .generateSecretKey("AES-256", "no-gcm", { extractable: false })
      .catch((e) => e);
    expect(error).toBeInstanceOf(HsmUnsupportedError);
    expect(error.message).toContain("CKM_AES_GCM");
    expect(toProblem(error).detail).toContain("CKM_AES_GCM");
  });
});
