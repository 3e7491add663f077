import { createPublicKey, verify } from "node:crypto";
import pkcs11js from "pkcs11js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HsmError, HsmKeyNotFoundError, HsmPinIncorrectError, HsmTokenNotFoundError } from "../../src/errors/index.js";
import { Pkcs11Hsm } from "../../src/hsm/index.js";
import type { KeyType, SigningAlgorithm } from "../../src/pki/key-types.js";
import { createTestToken, listTokenObjects, readPrivateValue, type TestToken } from "../helpers/softhsm.js";

let token: TestToken;
let hsm: Pkcs11Hsm;

beforeAll(async () => {
  token = createTestToken("hsm-contract");
  hsm = await Pkcs11Hsm.open({
    modulePath: token.modulePath,
    tokenLabel: token.tokenLabel,
    pin: token.pin,
    sessions: 4,
  });
});

afterAll(async () => {
  await hsm?.close();
  token?.cleanup();
});

/** Node verifies what the HSM signed: ECDSA in WebCrypto's raw r||s form ("ieee-p1363"). */
function nodeVerifies(spki: Buffer, alg: SigningAlgorithm, data: Buffer, signature: Buffer): boolean {
  const key = createPublicKey({ key: spki, format: "der", type: "spki" });
  if (alg.name === "Ed25519") return verify(null, data, key, signature);
  const hash = alg.hash.replace("-", "").toLowerCase();
  if (alg.name === "ECDSA") return verify(hash, data, { key, dsaEncoding: "ieee-p1363" }, signature);
  return verify(hash, data, key, signature);
}

describe("Pkcs11Hsm on a real SoftHSM2 token", () => {
  const cases: Array<[KeyType, SigningAlgorithm]> = [
    ["p256", { name: "ECDSA", hash: "SHA-256" }],
    ["p384", { name: "ECDSA", hash: "SHA-384" }],
    ["rsa2048", { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }],
    ["ed25519", { name: "Ed25519" }],
  ];

  it.each(cases)("generates a %s key in the token and signs with it", async (keyType, alg) => {
    const { uri, spki } = await hsm.signingKeys.generateKeyPair(keyType, `contract-${keyType}`);
    expect(uri).toMatch(/^pkcs11:token=hsm-contract;object=contract-[a-z0-9]+;id=(%[0-9a-f]{2}){16};type=private$/);
    const data = Buffer.from(`message for ${keyType}`);
    const signature = await hsm.signingKeys.sign(uri, alg, data);
    expect(nodeVerifies(spki, alg, data, signature)).toBe(true);
    expect(nodeVerifies(spki, alg, Buffer.from("another message"), signature)).toBe(false);
  });

  it("creates private keys that are sensitive and never extractable", async () => {
    const { uri } = await hsm.signingKeys.generateKeyPair("p256", "contract-attrs");
    expect(await hsm.signingKeys.keyAttributes(uri)).toEqual({
      token: true,
      private: true,
      sensitive: true,
      extractable: false,
      alwaysSensitive: true,
      neverExtractable: true,
    });
    // Asked directly over a session of its own, the token refuses the private value.
    expect(() => readPrivateValue(token, uri)).toThrow(
      expect.objectContaining({ code: pkcs11js.CKR_ATTRIBUTE_SENSITIVE }),
    );
  });

  it("pkcs11-tool, a tool we did not write, sees the key as sensitive and never extractable", async () => {
    await hsm.signingKeys.generateKeyPair("p384", "contract-tool");
    const block = listTokenObjects(token, "privkey").find((b) => b.includes("label:      contract-tool"));
    expect(block).toBeDefined();
    expect(block).toMatch(/Access:\s+sensitive, always sensitive, never extractable, local/);
  });

  it("runs 64 concurrent signatures over a 4-session pool without CKR_OPERATION_ACTIVE", async () => {
    const { uri, spki } = await hsm.signingKeys.generateKeyPair("p256", "contract-pool");
    const alg: SigningAlgorithm = { name: "ECDSA", hash: "SHA-256" };
    const messages = Array.from({ length: 64 }, (_, i) => Buffer.from(`message ${i}`));
    const signatures = await Promise.all(messages.map((m) => hsm.signingKeys.sign(uri, alg, m)));
    expect(signatures.every((s, i) => nodeVerifies(spki, alg, messages[i]!, s))).toBe(true);
  });

  it("finds keys again by URI after the handle cache is cold", async () => {
    const { uri, spki } = await hsm.signingKeys.generateKeyPair("p256", "contract-refind");
    const other = await Pkcs11Hsm.open({ modulePath: token.modulePath, tokenLabel: token.tokenLabel, pin: token.pin });
    try {
      expect(await other.signingKeys.publicKey(uri)).toEqual(spki);
      const sig = await other.signingKeys.sign(uri, { name: "ECDSA", hash: "SHA-256" }, Buffer.from("x"));
      expect(nodeVerifies(spki, { name: "ECDSA", hash: "SHA-256" }, Buffer.from("x"), sig)).toBe(true);
    } finally {
      await other.close();
    }
  });

  it("reports a missing key as HsmKeyNotFoundError naming the URI", async () => {
    const uri = "pkcs11:token=hsm-contract;object=nope;id=%00%01;type=private";
    const error = await hsm.signingKeys.sign(uri, { name: "ECDSA", hash: "SHA-256" }, Buffer.from("x")).catch((e) => e);
    expect(error).toBeInstanceOf(HsmKeyNotFoundError);
    expect(error.message).toContain("object=nope");
  });

  it("generates AES keys in the token, extractable only when asked, and runs AES-GCM there", async () => {
    const kept = await hsm.secretKeys.generateSecretKey("AES-256", "contract-aes-kept", { extractable: false });
    const shared = await hsm.secretKeys.generateSecretKey("AES-128", "contract-aes-shared", { extractable: true });
    expect(await hsm.secretKeys.secretKeyAttributes(kept)).toEqual({
      sensitive: true,
      extractable: false,
      token: true,
    });
    expect(await hsm.secretKeys.secretKeyAttributes(shared)).toEqual({
      sensitive: true,
      extractable: true,
      token: true,
    });
    const listing = listTokenObjects(token, "secrkey").find((o) => o.includes("contract-aes-kept"));
    expect(listing).toMatch(/Access:\s+sensitive,.*never extractable/);
    const sharedListing = listTokenObjects(token, "secrkey").find((o) => o.includes("contract-aes-shared"));
    expect(sharedListing).toMatch(/Access:\s+sensitive/);
    expect(sharedListing).not.toMatch(/never extractable/);

    const iv = Buffer.alloc(12, 7);
    const aad = Buffer.from("context");
    const plaintext = Buffer.from("1 KiB of secrets ".repeat(60));
    const sealed = await hsm.secretKeys.aesGcmEncrypt(kept, iv, aad, plaintext);
    expect(sealed.length).toBe(plaintext.length + 16);
    expect(sealed.subarray(0, 16).equals(plaintext.subarray(0, 16))).toBe(false);
    expect(await hsm.secretKeys.aesGcmDecrypt(kept, iv, aad, sealed)).toEqual(plaintext);
    // Any change to the ciphertext, the AAD or the key is refused by the tag check.
    const flipped = Buffer.from(sealed);
    flipped[0]! ^= 1;
    await expect(hsm.secretKeys.aesGcmDecrypt(kept, iv, aad, flipped)).rejects.toBeInstanceOf(HsmError);
    await expect(hsm.secretKeys.aesGcmDecrypt(kept, iv, Buffer.from("other"), sealed)).rejects.toBeInstanceOf(HsmError);
    await expect(hsm.secretKeys.aesGcmDecrypt(shared, iv, aad, sealed)).rejects.toBeInstanceOf(HsmError);

    await hsm.secretKeys.destroySecretKey(kept);
    await expect(hsm.secretKeys.aesGcmEncrypt(kept, iv, aad, plaintext)).rejects.toBeInstanceOf(HsmKeyNotFoundError);
    expect(listTokenObjects(token, "secrkey").some((o) => o.includes("contract-aes-kept"))).toBe(false);
  });

  it("generates HMAC-SHA-256 keys that MAC in the token and cannot encrypt", async () => {
    const key = await hsm.secretKeys.generateSecretKey("HMAC-SHA256", "contract-hmac", { extractable: false });
    const a = await hsm.secretKeys.hmacSha256(key, Buffer.from("message"));
    expect(a).toHaveLength(32);
    expect(await hsm.secretKeys.hmacSha256(key, Buffer.from("message"))).toEqual(a);
    expect(await hsm.secretKeys.hmacSha256(key, Buffer.from("messagf"))).not.toEqual(a);
    await expect(
      hsm.secretKeys.aesGcmEncrypt(key, Buffer.alloc(12), Buffer.alloc(0), Buffer.from("x")),
    ).rejects.toBeInstanceOf(HsmError);
  });

  it("destroys a key pair so it can no longer sign", async () => {
    const { uri } = await hsm.signingKeys.generateKeyPair("p256", "contract-destroy");
    await hsm.signingKeys.destroyKeyPair(uri);
    await expect(
      hsm.signingKeys.sign(uri, { name: "ECDSA", hash: "SHA-256" }, Buffer.from("x")),
    ).rejects.toBeInstanceOf(HsmKeyNotFoundError);
  });

  it("rejects a wrong PIN with HsmPinIncorrectError and does not echo the PIN", async () => {
    // Log the shared login out first: login is per application, so the wrong PIN must be tried fresh.
    await hsm.close();
    const error = await Pkcs11Hsm.open({
      modulePath: token.modulePath,
      tokenLabel: token.tokenLabel,
      pin: "wrong-pin-77",
    }).catch((e) => e);
    expect(error).toBeInstanceOf(HsmPinIncorrectError);
    expect(error.ckr).toBe("CKR_PIN_INCORRECT");
    expect(error.message).not.toContain("wrong-pin-77");
    hsm = await Pkcs11Hsm.open({ modulePath: token.modulePath, tokenLabel: token.tokenLabel, pin: token.pin });
  });

  it("names the tokens present when the label is wrong", async () => {
    const error = await Pkcs11Hsm.open({ modulePath: token.modulePath, tokenLabel: "absent", pin: token.pin }).catch(
      (e) => e,
    );
    expect(error).toBeInstanceOf(HsmTokenNotFoundError);
    expect(error.message).toContain('no token labelled "absent"');
    expect(error.message).toContain('"hsm-contract"');
  });

  it("reports a module that cannot be loaded as an HsmError", async () => {
    const error = await Pkcs11Hsm.open({ modulePath: "/nonexistent/libpkcs11.so", tokenLabel: "x", pin: "x" }).catch(
      (e) => e,
    );
    expect(error).toBeInstanceOf(HsmError);
    expect(error.message).toContain("cannot load PKCS#11 module /nonexistent/libpkcs11.so");
  });
});

describe("Pkcs11Hsm with signing threads (a session each, off the event loop)", () => {
  let threaded: Pkcs11Hsm;
  const ecdsa: SigningAlgorithm = { name: "ECDSA", hash: "SHA-256" };

  beforeAll(async () => {
    threaded = await Pkcs11Hsm.open({
      modulePath: token.modulePath,
      tokenLabel: token.tokenLabel,
      pin: token.pin,
      sessions: 1,
      signingThreads: 2,
    });
  });

  afterAll(async () => {
    await threaded?.close();
  });

  it.each([
    ["p384", { name: "ECDSA", hash: "SHA-384" }],
    ["rsa2048", { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }],
    ["ed25519", { name: "Ed25519" }],
  ] as Array<[KeyType, SigningAlgorithm]>)("signs with a %s key in a thread", async (keyType, alg) => {
    const { uri, spki } = await threaded.signingKeys.generateKeyPair(keyType, `threads-${keyType}`);
    const data = Buffer.from(`threaded message for ${keyType}`);
    expect(nodeVerifies(spki, alg, data, await threaded.signingKeys.sign(uri, alg, data))).toBe(true);
  });

  it("runs 64 concurrent signatures over two threads, each one right for its message", async () => {
    const { uri, spki } = await threaded.signingKeys.generateKeyPair("p256", "threads-many");
    const messages = Array.from({ length: 64 }, (_, i) => Buffer.from(`message ${i}`));
    const signatures = await Promise.all(messages.map((m) => threaded.signingKeys.sign(uri, ecdsa, m)));
    expect(signatures.every((s, i) => nodeVerifies(spki, ecdsa, messages[i]!, s))).toBe(true);
  });

  it("signs while the session pool is busy: signing does not wait for the pool's sessions", async () => {
    const { uri, spki } = await threaded.signingKeys.generateKeyPair("p256", "threads-busy");
    // Its only pool session is held by a slow RSA key generation; a signature must not queue behind it.
    const order: string[] = [];
    const generation = threaded.signingKeys
      .generateKeyPair("rsa3072", "threads-slow")
      .then(() => order.push("generated"));
    const signature = await threaded.signingKeys.sign(uri, ecdsa, Buffer.from("now"));
    order.push("signed");
    await generation;
    expect(order).toEqual(["signed", "generated"]);
    expect(nodeVerifies(spki, ecdsa, Buffer.from("now"), signature)).toBe(true);
  });

  it("reports a key destroyed elsewhere as HsmKeyNotFoundError (the cached handle is found stale)", async () => {
    const { uri } = await threaded.signingKeys.generateKeyPair("p256", "threads-stale");
    await threaded.signingKeys.sign(uri, ecdsa, Buffer.from("cache the handle"));
    await hsm.signingKeys.destroyKeyPair(uri);
    const error = await threaded.signingKeys.sign(uri, ecdsa, Buffer.from("x")).catch((e) => e);
    expect(error).toBeInstanceOf(HsmKeyNotFoundError);
    expect(error.message).toContain("object=threads-stale");
  });

  it("refuses to sign once closed, and closing stops the threads", async () => {
    const other = await Pkcs11Hsm.open({
      modulePath: token.modulePath,
      tokenLabel: token.tokenLabel,
      pin: token.pin,
      signingThreads: 1,
    });
    const { uri } = await other.signingKeys.generateKeyPair("p256", "threads-closed");
    await other.signingKeys.sign(uri, ecdsa, Buffer.from("x"));
    await other.close();
    await expect(other.signingKeys.sign(uri, ecdsa, Buffer.from("x"))).rejects.toThrow(/closed/);
  });
});
