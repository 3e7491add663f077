import { describe, expect, it } from "vitest";
import { DEFAULT_LOCKOUT_POLICY, lockoutAfterFailure } from "../../src/access/lockout.js";
import { KeywardError } from "../../src/errors/index.js";

const now = new Date("2030-01-01T00:00:00Z");
const delaySeconds = (until: Date | null): number | null =>
  until === null ? null : (until.getTime() - now.getTime()) / 1000;

describe("lockoutAfterFailure", () => {
  it("imposes no delay within the five free attempts", () => {
    for (let attempts = 0; attempts <= 5; attempts++) {
      expect(lockoutAfterFailure(attempts, now)).toBeNull();
    }
  });

  it("doubles the delay from 30 s after the free attempts", () => {
    expect(delaySeconds(lockoutAfterFailure(6, now))).toBe(30);
    expect(delaySeconds(lockoutAfterFailure(7, now))).toBe(60);
    expect(delaySeconds(lockoutAfterFailure(8, now))).toBe(120);
    expect(delaySeconds(lockoutAfterFailure(9, now))).toBe(240);
  });

  it("caps the delay at an hour, even for absurd counts", () => {
    expect(delaySeconds(lockoutAfterFailure(12, now))).toBe(1920);
    expect(delaySeconds(lockoutAfterFailure(13, now))).toBe(3600);
    expect(delaySeconds(lockoutAfterFailure(100, now))).toBe(3600);
    expect(delaySeconds(lockoutAfterFailure(10_000, now))).toBe(3600);
  });

  it("uses a custom policy", () => {
    const policy = { freeAttempts: 2, baseDelaySeconds: 10, maxDelaySeconds: 25 };
    expect(lockoutAfterFailure(2, now, policy)).toBeNull();
    expect(delaySeconds(lockoutAfterFailure(3, now, policy))).toBe(10);
    expect(delaySeconds(lockoutAfterFailure(4, now, policy))).toBe(20);
    expect(delaySeconds(lockoutAfterFailure(5, now, policy))).toBe(25);
  });

  it("does not mutate its input date and exposes a frozen default", () => {
    const before = now.getTime();
    lockoutAfterFailure(6, now);
    expect(now.getTime()).toBe(before);
    expect(Object.isFrozen(DEFAULT_LOCKOUT_POLICY)).toBe(true);
  });

  it("refuses nonsensical attempt counts", () => {
    expect(() => lockoutAfterFailure(-1, now)).toThrow(KeywardError);
    expect(() => lockoutAfterFailure(Number.NaN, now)).toThrow(KeywardError);
    expect(() => lockoutAfterFailure(6.5, now)).toThrow(KeywardError);
  });
});
