import { describe, expect, it } from "vitest";
import { checkPasswordStrength, hashPassword, verifyPassword } from "../../src/access/password.js";
import { BadRequestError } from "../../src/errors/index.js";
import { toProblem } from "../../src/http/problem.js";

/** Runs fn, expects a BadRequestError, and returns its message. */
function badRequest(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(BadRequestError);
    // The admin API answers it as a client error.
    expect(toProblem(error).status).toBe(400);
    return (error as Error).message;
  }
  throw new Error("expected a BadRequestError, but nothing was thrown");
}

describe("hashPassword / verifyPassword", () => {
  const password = "correct horse battery staple";

  it("produces a self-describing scrypt string that verifies", async () => {
    const encoded = await hashPassword(password);
    const parts = encoded.split("$");
    expect(parts.slice(0, 4)).toEqual(["scrypt", "32768", "8", "1"]);
    expect(Buffer.from(parts[4]!, "base64")).toHaveLength(16);
    expect(Buffer.from(parts[5]!, "base64")).toHaveLength(32);
    expect(await verifyPassword(password, encoded)).toBe(true);
  });

  it("rejects a wrong password", async () => {
    const encoded = await hashPassword(password);
    expect(await verifyPassword("correct horse battery stapler", encoded)).toBe(false);
    expect(await verifyPassword("", encoded)).toBe(false);
  });

  it("salts: two hashes of the same password differ and both verify", async () => {
    const a = await hashPassword(password);
    const b = await hashPassword(password);
    expect(a).not.toBe(b);
    expect(await verifyPassword(password, a)).toBe(true);
    expect(await verifyPassword(password, b)).toBe(true);
  });

  it("treats composed and decomposed accents as the same password", async () => {
    const encoded = await hashPassword("caf\u00e9 au lait please");
    expect(await verifyPassword("cafe\u0301 au lait please", encoded)).toBe(true);
  });

  it("returns false, not an exception, for malformed encodings", async () => {
    const encoded = await hashPassword(password);
    const [, n, r, p, salt, key] = encoded.split("$");
    const malformed = [
      "",
      "not a hash",
      "scrypt$32768$8$1$onlyfive",
      `bcrypt$${n}$${r}$${p}$${salt}$${key}`,
      `scrypt$32000$${r}$${p}$${salt}$${key}`, // N not a power of two
      `scrypt$${2 ** 30}$${r}$${p}$${salt}$${key}`, // N beyond the limit
      `scrypt$${n}$0$${p}$${salt}$${key}`,
      `scrypt$${n}$${r}$-1$${salt}$${key}`,
      `scrypt$${n}$${r}$${p}$%%%%$${key}`,
      `scrypt$${n}$${r}$${p}$${salt}$`,
      `scrypt$${n}$${r}$${p}$${salt}$${key}$extra`,
      `scrypt$${n}$${r}$${p}$${salt}$${Buffer.from("short").toString("base64")}`,
    ];
    for (const bad of malformed) {
      await expect(verifyPassword(password, bad)).resolves.toBe(false);
    }
    // The untouched encoding still verifies, so the failures above come from the tampering.
    expect(await verifyPassword(password, `scrypt$${n}$${r}$${p}$${salt}$${key}`)).toBe(true);
  });

  it("rejects a hash whose key was altered", async () => {
    const encoded = await hashPassword(password);
    const parts = encoded.split("$");
    const key = Buffer.from(parts[5]!, "base64");
    key[0] = key[0]! ^ 1;
    parts[5] = key.toString("base64");
    expect(await verifyPassword(password, parts.join("$"))).toBe(false);
  });

  it("verifies hashes made with other in-range parameters", async () => {
    // A cheaper stored hash must still verify after the defaults change.
    const { scryptSync } = await import("node:crypto");
    const salt = Buffer.alloc(16, 7);
    const key = scryptSync(password, salt, 32, { N: 1024, r: 8, p: 1 });
    const encoded = `scrypt$1024$8$1$${salt.toString("base64")}$${key.toString("base64")}`;
    expect(await verifyPassword(password, encoded)).toBe(true);
    expect(await verifyPassword("something else entirely", encoded)).toBe(false);
  });
});

describe("checkPasswordStrength", () => {
  it("accepts 12 to 1024 characters", () => {
    expect(() => checkPasswordStrength("a".repeat(12))).not.toThrow();
    expect(() => checkPasswordStrength("a".repeat(1024))).not.toThrow();
  });

  it("refuses passwords shorter than 12 characters", () => {
    expect(badRequest(() => checkPasswordStrength("a".repeat(11)))).toBe(
      "password is too short: it must be at least 12 characters",
    );
    expect(badRequest(() => checkPasswordStrength(""))).toMatch(/at least 12/);
  });

  it("refuses passwords longer than 1024 characters", () => {
    expect(badRequest(() => checkPasswordStrength("a".repeat(1025)))).toBe(
      "password is too long: it must be at most 1024 characters",
    );
  });

  it("counts characters, not UTF-16 code units", () => {
    // Six emoji are twelve code units but only six characters.
    expect(badRequest(() => checkPasswordStrength("\u{1F511}".repeat(6)))).toMatch(/too short/);
    expect(() => checkPasswordStrength("\u{1F511}".repeat(12))).not.toThrow();
  });
});
