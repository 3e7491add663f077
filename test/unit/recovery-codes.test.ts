import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  generateRecoveryCodes,
  hashRecoveryCodes,
  matchRecoveryCode,
  normalizeRecoveryCode,
  recoveryCodeDigest,
  saltDigest,
} from "../../src/access/recovery-codes.js";
import { BadRequestError } from "../../src/errors/index.js";

describe("generateRecoveryCodes", () => {
  it("returns ten distinct human-friendly codes by default", () => {
    const codes = generateRecoveryCodes();
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    for (const code of codes) {
      expect(code).toMatch(/^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$/);
    }
  });

  it("honours the count and differs between calls", () => {
    expect(generateRecoveryCodes(3)).toHaveLength(3);
    const a = generateRecoveryCodes(5);
    const b = generateRecoveryCodes(5);
    expect(a.some((code) => b.includes(code))).toBe(false);
  });

  it("refuses absurd counts", () => {
    expect(() => generateRecoveryCodes(0)).toThrow(BadRequestError);
    expect(() => generateRecoveryCodes(1.5)).toThrow(BadRequestError);
    expect(() => generateRecoveryCodes(1000)).toThrow(BadRequestError);
  });
});

describe("recoveryCodeDigest", () => {
  it("is the SHA-256 hex of the normalised code (the input of the stored hash, and what 0024 found)", () => {
    expect(recoveryCodeDigest("abcd-efgh-ijkl")).toBe(createHash("sha256").update("abcdefghijkl").digest("hex"));
  });

  it("ignores case, dashes and spaces the way people retype codes", () => {
    const stored = recoveryCodeDigest("abcd-efgh-ijkl");
    expect(recoveryCodeDigest("ABCD-EFGH-IJKL")).toBe(stored);
    expect(recoveryCodeDigest("abcd efgh ijkl")).toBe(stored);
    expect(recoveryCodeDigest(" abcdefghijkl ")).toBe(stored);
    expect(normalizeRecoveryCode("AbCd - EfGh")).toBe("abcdefgh");
  });
});

describe("hashRecoveryCodes and matchRecoveryCode", () => {
  it("store scrypt with one fresh salt per call, never the digest", async () => {
    const codes = generateRecoveryCodes(3);
    const stored = await hashRecoveryCodes(codes);
    expect(stored).toHaveLength(3);
    for (const [i, hash] of stored.entries()) {
      expect(hash).toMatch(/^scrypt\$16384\$8\$1\$/);
      expect(hash).not.toContain(recoveryCodeDigest(codes[i]!));
    }
    expect(new Set(stored.map((h) => h.split("$")[4])).size).toBe(1);
    const again = await hashRecoveryCodes(codes);
    expect(again[0]!.split("$")[4]).not.toBe(stored[0]!.split("$")[4]);
    expect(again[0]).not.toBe(stored[0]);
  });

  it("find the stored hash a code matches, in any case; nothing for another code", async () => {
    const codes = generateRecoveryCodes(4);
    const stored = await hashRecoveryCodes(codes);
    expect(await matchRecoveryCode(codes[2]!.toUpperCase(), stored)).toBe(stored[2]);
    expect(await matchRecoveryCode("abcd-efgh-ijkl", stored)).toBeUndefined();
    expect(await matchRecoveryCode(codes[0]!, [])).toBeUndefined();
    // A malformed row (a corrupt or tampered database) is skipped, not an error.
    expect(await matchRecoveryCode(codes[1]!, ["scrypt$1$1$1$AA$AA", stored[1]!])).toBe(stored[1]);
  });

  it("match a digest stored before 0024 once it is wrapped with any salt", async () => {
    const [code] = generateRecoveryCodes(1);
    const wrapped = await saltDigest(recoveryCodeDigest(code!), Buffer.alloc(16, 7));
    expect(await matchRecoveryCode(code!, [wrapped])).toBe(wrapped);
  });
});
