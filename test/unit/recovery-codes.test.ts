import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { generateRecoveryCodes, hashRecoveryCode, normalizeRecoveryCode } from "../../src/access/recovery-codes.js";
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

describe("hashRecoveryCode", () => {
  it("is the SHA-256 hex of the normalised code", () => {
    expect(hashRecoveryCode("abcd-efgh-ijkl")).toBe(createHash("sha256").update("abcdefghijkl").digest("hex"));
    expect(hashRecoveryCode("abcd-efgh-ijkl")).toMatch(/^[0-9a-f]{64}$/);
  });

  it("ignores case, dashes and spaces the way people retype codes", () => {
    const stored = hashRecoveryCode("abcd-efgh-ijkl");
    expect(hashRecoveryCode("ABCD-EFGH-IJKL")).toBe(stored);
    expect(hashRecoveryCode("abcd efgh ijkl")).toBe(stored);
    expect(hashRecoveryCode(" abcdefghijkl ")).toBe(stored);
    expect(normalizeRecoveryCode("AbCd - EfGh")).toBe("abcdefgh");
  });

  it("distinguishes different codes", () => {
    const [a, b] = generateRecoveryCodes(2);
    expect(hashRecoveryCode(a!)).not.toBe(hashRecoveryCode(b!));
    expect(hashRecoveryCode("abcd-efgh-ijkl")).not.toBe(hashRecoveryCode("abcd-efgh-ijkm"));
  });
});
