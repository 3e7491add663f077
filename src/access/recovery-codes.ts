import { createHash, randomBytes } from "node:crypto";
import { BadRequestError } from "../errors/index.js";
import { base32Encode } from "./totp.js";

/**
 * One-time recovery codes for when the authenticator is lost. Each is 60 random bits shown as
 * `abcd-efgh-ijkl`: lowercase base32 has no 0/1/8/9, so there is no o/0 or l/1 to misread, and the
 * groups make it easy to copy from paper. 60 bits is far beyond online guessing, which is also why
 * an unsalted SHA-256 is enough for storage.
 */

const GROUPS = 3;
const GROUP_LENGTH = 4;
const MAX_COUNT = 100;

function generateRecoveryCode(): string {
  // 8 bytes give 13 base32 characters; the first 12 carry 60 uniformly random bits.
  const chars = base32Encode(randomBytes(8))
    .slice(0, GROUPS * GROUP_LENGTH)
    .toLowerCase();
  const groups: string[] = [];
  for (let i = 0; i < GROUPS; i++) {
    groups.push(chars.slice(i * GROUP_LENGTH, (i + 1) * GROUP_LENGTH));
  }
  return groups.join("-");
}

export function generateRecoveryCodes(count = 10): string[] {
  if (!Number.isInteger(count) || count < 1 || count > MAX_COUNT) {
    throw new BadRequestError(`recovery code count must be a whole number from 1 to ${MAX_COUNT}`);
  }
  // A duplicate is astronomically unlikely, but two equal codes would share one stored hash.
  const codes = new Set<string>();
  while (codes.size < count) {
    codes.add(generateRecoveryCode());
  }
  return [...codes];
}

/** People type codes back in any case and with or without the separators. */
export function normalizeRecoveryCode(code: string): string {
  return code.toLowerCase().replace(/[-\s]/g, "");
}

/** The stored form. The caller deletes or marks the matching hash on use so each code works once. */
export function hashRecoveryCode(code: string): string {
  return createHash("sha256").update(normalizeRecoveryCode(code)).digest("hex");
}
