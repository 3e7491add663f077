import { KeywardError } from "../errors/index.js";

export interface LockoutPolicy {
  /** Consecutive failures allowed before any delay, so ordinary typos cost nothing. */
  freeAttempts: number;
  /** Delay imposed by the first failure beyond the free ones. */
  baseDelaySeconds: number;
  /** Ceiling, so a legitimate user is never shut out for longer than this by someone else's guessing. */
  maxDelaySeconds: number;
}

export const DEFAULT_LOCKOUT_POLICY: LockoutPolicy = Object.freeze({
  freeAttempts: 5,
  baseDelaySeconds: 30,
  maxDelaySeconds: 3600,
});

/**
 * When the account may next attempt a login, given the number of consecutive failures including
 * the one just recorded; null while still within the free attempts.
 *
 * The delay doubles with each further failure (30 s, 60 s, 120 s, … with the defaults) up to the
 * cap. Doubling makes online guessing hopeless within a few dozen attempts while a user who simply
 * forgot waits seconds, and the cap bounds how long an attacker can lock out the real owner — a
 * permanent lock would turn password guessing into a denial of service. The caller resets the
 * count on a successful login and refuses attempts while `now` is before the returned time.
 */
export function lockoutAfterFailure(
  failedAttempts: number,
  now: Date,
  policy: LockoutPolicy = DEFAULT_LOCKOUT_POLICY,
): Date | null {
  if (!Number.isInteger(failedAttempts) || failedAttempts < 0) {
    throw new KeywardError("internal", `failed attempt count must be a non-negative integer, got ${failedAttempts}`);
  }
  const excess = failedAttempts - policy.freeAttempts;
  if (excess <= 0) return null;
  // Clamping the exponent keeps 2 ** n finite for absurd counts; the cap applies long before.
  const delaySeconds = Math.min(policy.baseDelaySeconds * 2 ** Math.min(excess - 1, 52), policy.maxDelaySeconds);
  return new Date(now.getTime() + delaySeconds * 1000);
}
