import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { BadRequestError } from "../errors/index.js";
import { deriveFor, parseScryptHash, scryptHash } from "./password.js";
import { base32Encode } from "./totp.js";

/**
 * One-time recovery codes for when the authenticator is lost. Each is 60 random bits shown as
 * `abcd-efgh-ijkl`: lowercase base32 has no 0/1/8/9, so there is no o/0 or l/1 to misread, and the
 * groups make it easy to copy from paper. 60 bits is far beyond online guessing.
 *
 * Stored as scrypt over the code's SHA-256 (issue 22): salted, so a copy of the database gives no
 * precomputed table a start and equal codes of two people do not show; slow, so even 60 bits are not
 * searched offline at SHA-256 speed. The SHA-256 inside is what databases from before held: the
 * migration 0024 wrapped those in scrypt in place, and they verify like new ones. One salt per
 * person (all their codes share it), so a login tries one derivation, not one per unused code.
 */

/** Half the password cost: the secret is 60 random bits, not a chosen password. */
const CODE_COST = 2 ** 14;
const SALT_BYTES = 16;

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

/** The code's unsalted SHA-256: never stored any more, only the input of the salted hash. */
export function recoveryCodeDigest(code: string): string {
  return createHash("sha256").update(normalizeRecoveryCode(code)).digest("hex");
}

/** A SHA-256 digest (a new code's, or one stored before 0024) in its salted, slow stored form. */
export function saltDigest(digest: string, salt: Buffer): Promise<string> {
  return scryptHash(digest, salt, CODE_COST);
}

/** One person's codes in their stored form: one fresh salt for all of them. */
export function hashRecoveryCodes(codes: string[]): Promise<string[]> {
  const salt = randomBytes(SALT_BYTES);
  return Promise.all(codes.map((code) => saltDigest(recoveryCodeDigest(code), salt)));
}

export function newRecoverySalt(): Buffer {
  return randomBytes(SALT_BYTES);
}

/**
 * The stored hash among `stored` (a person's unused codes) that `code` matches, or undefined. One
 * derivation per distinct salt (normally one); a person without codes left still costs one, so the
 * answer's timing does not tell.
 */
export async function matchRecoveryCode(code: string, stored: string[]): Promise<string | undefined> {
  const digest = recoveryCodeDigest(code);
  const groups = new Map<string, Array<{ encoded: string; key: Buffer }>>();
  for (const encoded of stored) {
    const parsed = parseScryptHash(encoded);
    if (!parsed) continue;
    const params = encoded.slice(0, encoded.lastIndexOf("$"));
    const group = groups.get(params) ?? [];
    group.push({ encoded, key: parsed.key });
    groups.set(params, group);
  }
  if (groups.size === 0) {
    await saltDigest(digest, randomBytes(SALT_BYTES));
    return undefined;
  }
  let found: string | undefined;
  for (const [params, group] of groups) {
    const parsed = parseScryptHash(`${params}$${group[0]!.key.toString("base64")}`)!;
    const key = await deriveFor(digest, parsed);
    for (const candidate of group) {
      if (key && key.length === candidate.key.length && timingSafeEqual(key, candidate.key))
        found ??= candidate.encoded;
    }
  }
  return found;
}
