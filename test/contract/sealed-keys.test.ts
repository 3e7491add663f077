import { createHmac } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HsmKeyNotFoundError, HsmUnsupportedError } from "../../src/errors/index.js";
import {
  Pkcs11Hsm,
  ProtectedSecretKeys,
  type ProtectionSetting,
  protectedWrapping,
  protectionOf,
  type SealedKeyRecord,
} from "../../src/hsm/index.js";
import { createTestToken, type TestToken } from "../helpers/softhsm.js";

/**
 * kms.protection on a real token (SoftHSM2): sealed keys are made on the host, kept only wrapped by
 * an RSA key pair in the token, and each use unwraps them there. The "missing" features are
 * what tpm2-pkcs11 and opencryptoki lack, simulated by the capability lookup only.
 */
let token: TestToken;
let hsm: Pkcs11Hsm;
const rows = new Map<string, SealedKeyRecord>();
const store = {
  get: async (id: string) => rows.get(id),
  put: async (r: SealedKeyRecord) => void rows.set(r.id, r),
  delete: async (id: string) => void rows.delete(id),
};

function keys(protection: ProtectionSetting, lacks: string[] = []) {
  return new ProtectedSecretKeys({
    token: hsm.secretKeys,
    keyPairs: hsm.keyPairs,
    store,
    protection,
    tokenLabel: hsm.tokenLabel,
    feature: (name) =>
      lacks.includes(name)
        ? { feature: name, description: name, status: "unavailable", how: "the token has no CKM_AES_GCM (encrypt)" }
        : hsm.capabilities().feature(name),
    keyTypes: () => hsm.capabilities().keyTypes(),
  });
}

beforeAll(async () => {
  token = createTestToken("sealed");
  hsm = await Pkcs11Hsm.open({ modulePath: token.modulePath, tokenLabel: token.tokenLabel, pin: token.pin });
});

afterAll(async () => {
  await hsm?.close();
  token?.cleanup();
});

describe("kms.protection", () => {
  it("sealed: an AES key encrypts and decrypts, its only copy wrapped by a non-extractable token key", async () => {
    const sealed = keys("sealed");
    const uri = await sealed.generateSecretKey("AES-256", "kms-aes", { extractable: false });
    expect(protectionOf(uri)).toBe("sealed");
    const record = rows.get(uri.slice("keyward-sealed:".length))!;
    expect(record.wrapped.length).toBeGreaterThanOrEqual(384); // RSA-3072 OAEP
    expect(record.kekUri).toContain("object=kms-sealing");
    const kek = await hsm.keyPairs.keyAttributes(record.kekUri);
    expect(kek).toMatchObject({ sensitive: true, extractable: false, token: true });

    const iv = Buffer.alloc(12, 7);
    const aad = Buffer.from("header");
    const ciphertext = await sealed.aesGcmEncrypt(uri, iv, aad, Buffer.from("attack at dawn"));
    expect((await sealed.aesGcmDecrypt(uri, iv, aad, ciphertext)).toString()).toBe("attack at dawn");
    // A token-held AES key of the same value does not exist: the tag fails under another key.
    const other = await sealed.generateSecretKey("AES-256", "kms-aes-2", { extractable: false });
    const refused = await sealed.aesGcmDecrypt(other, iv, aad, ciphertext).catch((e) => e);
    expect(refused.ckr).toBe("CKR_ENCRYPTED_DATA_INVALID");
    expect(await sealed.secretKeyAttributes(uri)).toEqual({ sensitive: true, extractable: false, token: false });

    // Destroying deletes the only copy.
    await sealed.destroySecretKey(uri);
    expect(rows.has(record.id)).toBe(false);
    await expect(sealed.aesGcmEncrypt(uri, iv, aad, Buffer.from("x"))).rejects.toBeInstanceOf(HsmKeyNotFoundError);
  });

  it("sealed: an imported TOTP seed computes the same HMAC-SHA1 as the authenticator; every process seals to one key", async () => {
    const seed = Buffer.from("12345678901234567890");
    const uri = await keys("sealed").importHmacKey(Buffer.from(seed), "totp-olivia");
    // Another process (a fresh facet) finds the same sealing key by its label and opens the seed.
    const mac = await keys("sealed").hmacSha1(uri, Buffer.from("0000000000000001", "hex"));
    expect(mac).toEqual(createHmac("sha1", seed).update(Buffer.from("0000000000000001", "hex")).digest());
    const kekUris = new Set([...rows.values()].map((r) => r.kekUri));
    expect(kekUris.size).toBe(1);
    // Not an AES key: refused, not misused.
    await expect(
      keys("sealed").aesGcmEncrypt(uri, Buffer.alloc(12), Buffer.alloc(0), Buffer.from("x")),
    ).rejects.toThrow(/sealed HMAC key, not AES/);
  });

  it("token: keys stay token objects; a token that lacks the feature is named, never sealed silently", async () => {
    const uri = await keys("token").generateSecretKey("AES-256", "kms-token", { extractable: false });
    expect(protectionOf(uri)).toBe("token");
    expect(uri).toMatch(/^pkcs11:token=sealed;object=kms-token;/);
    const before = rows.size;
    // The real refusal comes from the token facet's own capability check; simulate it with a facet that lacks GCM.
    const lacking = new ProtectedSecretKeys({
      token: {
        ...hsm.secretKeys,
        generateSecretKey: async () => {
          throw new HsmUnsupportedError('the token "sealed" cannot do kms.aes: the token has no CKM_AES_GCM (encrypt)');
        },
      } as typeof hsm.secretKeys,
      keyPairs: hsm.keyPairs,
      store,
      protection: "token",
      tokenLabel: hsm.tokenLabel,
      feature: (name) => hsm.capabilities().feature(name),
      keyTypes: () => hsm.capabilities().keyTypes(),
    });
    const error = await lacking.generateSecretKey("AES-256", "kms-x", { extractable: false }).catch((e) => e);
    expect(error).toBeInstanceOf(HsmUnsupportedError);
    expect(error.message).toContain("CKM_AES_GCM");
    expect(error.message).toContain('kms.protection is "token"');
    expect(rows.size).toBe(before);
  });

  it("auto: in the token where it can, sealed where the capability profile says it cannot", async () => {
    const auto = keys("auto", ["kms.aes"]);
    expect(protectionOf(await auto.generateSecretKey("AES-256", "kms-a", { extractable: false }))).toBe("sealed");
    expect(protectionOf(await auto.generateSecretKey("HMAC-SHA256", "kms-h", { extractable: false }))).toBe("token");
    expect(auto.protectionFor("kms.aes")).toBe("sealed");
    expect(auto.protectionFor("secrets.import")).toBe("token");
  });

  it("distribution: JWE reads a distributable sealed key; CMS and escrow need the key in the token and say so", async () => {
    const sealed = keys("sealed");
    const wrapping = protectedWrapping(hsm.wrapping, sealed);
    const uri = await sealed.generateSecretKey("AES-128", "kms-d", { extractable: true });
    expect((await wrapping.exportSecretKey(uri)).length).toBe(16);
    const locked = await sealed.generateSecretKey("AES-128", "kms-l", { extractable: false });
    await expect(wrapping.exportSecretKey(locked)).rejects.toThrow(/not distributable/);
    await expect(wrapping.wrapSecretKeyUnder(uri, Buffer.alloc(32))).rejects.toThrow(
      /escrow .* needs the key in the token/,
    );
  });
});
