import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from "node:crypto";
import { BadRequestError } from "../errors/index.js";

/**
 * Password hashing with scrypt, stored as `scrypt$N$r$p$saltB64$hashB64`. The parameters travel
 * with each hash so they can be raised later without invalidating existing passwords.
 */

const COST = 2 ** 15;
const BLOCK_SIZE = 8;
const PARALLELISM = 1;
const SALT_BYTES = 16;
const KEY_BYTES = 32;

export const MIN_PASSWORD_LENGTH = 12;
export const MAX_PASSWORD_LENGTH = 1024;

/**
 * Bounds for parameters read back from storage: a tampered or corrupt row must not be able to make
 * a login attempt allocate gigabytes or spin for minutes.
 */
const LIMITS = {
  minCost: 2 ** 10,
  maxCost: 2 ** 20,
  maxBlockSize: 32,
  maxParallelism: 16,
  minSaltBytes: 8,
  maxSaltBytes: 64,
  minKeyBytes: 16,
  maxKeyBytes: 64,
};

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** scrypt needs a little over 128·N·r bytes, so Node's 32 MiB default is just short for N=2^15, r=8. */
function maxmemFor(cost: number, blockSize: number, parallelism: number): number {
  return 128 * cost * blockSize + 128 * blockSize * parallelism + 16 * 1024 * 1024;
}

/**
 * scrypt runs in libuv's thread pool, off the event loop; one derivation at a time, so logins
 * (even a flood the throttle admits) keep at most one core busy and the other serves the rest.
 */
const MAX_CONCURRENT_DERIVATIONS = 1;
let running = 0;
const waiting: Array<() => void> = [];

async function derive(password: string, salt: Buffer, keyBytes: number, options: ScryptOptions): Promise<Buffer> {
  // A finishing derivation hands its slot straight to the next waiter, so none can jump the queue.
  if (running < MAX_CONCURRENT_DERIVATIONS) running++;
  else await new Promise<void>((go) => waiting.push(go));
  try {
    return await new Promise((resolve, reject) => {
      scrypt(password, salt, keyBytes, options, (error, key) => (error ? reject(error) : resolve(key)));
    });
  } finally {
    const next = waiting.shift();
    if (next) next();
    else running--;
  }
}

/**
 * NFC so the same password typed on systems that compose accents differently still verifies
 * (NIST SP 800-63B §5.1.1.2).
 */
function normalize(password: string): string {
  return password.normalize("NFC");
}

export async function hashPassword(password: string): Promise<string> {
  return scryptHash(normalize(password), randomBytes(SALT_BYTES), COST);
}

/**
 * `secret` hashed with `salt` at `cost`, in the stored form `scrypt$N$r$p$saltB64$hashB64`, through
 * the same bounded derivation queue as passwords (recovery codes use it too).
 */
export async function scryptHash(secret: string, salt: Buffer, cost: number): Promise<string> {
  const key = await derive(secret, salt, KEY_BYTES, {
    N: cost,
    r: BLOCK_SIZE,
    p: PARALLELISM,
    maxmem: maxmemFor(cost, BLOCK_SIZE, PARALLELISM),
  });
  return ["scrypt", cost, BLOCK_SIZE, PARALLELISM, salt.toString("base64"), key.toString("base64")].join("$");
}

function decodeBase64(text: string): Buffer | undefined {
  if (!BASE64.test(text)) return undefined;
  const bytes = Buffer.from(text, "base64");
  // Buffer.from ignores junk bits and stray padding; a round trip proves the text was canonical.
  return bytes.toString("base64") === text ? bytes : undefined;
}

function parsePositiveInt(text: string): number | undefined {
  if (!/^[1-9][0-9]{0,9}$/.test(text)) return undefined;
  return Number(text);
}

export interface ParsedHash {
  cost: number;
  blockSize: number;
  parallelism: number;
  salt: Buffer;
  key: Buffer;
}

/** A stored hash's parts, or undefined when it is malformed or its parameters are out of bounds. */
export function parseScryptHash(encoded: string): ParsedHash | undefined {
  const parts = encoded.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return undefined;
  const cost = parsePositiveInt(parts[1]!);
  const blockSize = parsePositiveInt(parts[2]!);
  const parallelism = parsePositiveInt(parts[3]!);
  const salt = decodeBase64(parts[4]!);
  const key = decodeBase64(parts[5]!);
  if (cost === undefined || blockSize === undefined || parallelism === undefined || !salt || !key) {
    return undefined;
  }
  const powerOfTwo = (cost & (cost - 1)) === 0;
  if (
    !powerOfTwo ||
    cost < LIMITS.minCost ||
    cost > LIMITS.maxCost ||
    blockSize > LIMITS.maxBlockSize ||
    parallelism > LIMITS.maxParallelism ||
    salt.length < LIMITS.minSaltBytes ||
    salt.length > LIMITS.maxSaltBytes ||
    key.length < LIMITS.minKeyBytes ||
    key.length > LIMITS.maxKeyBytes
  ) {
    return undefined;
  }
  return { cost, blockSize, parallelism, salt, key };
}

/**
 * False rather than an exception for a malformed stored hash, so a corrupt row behaves like a wrong
 * password instead of surfacing as a 500 that distinguishes accounts.
 */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const parsed = parseScryptHash(encoded);
  if (!parsed) return false;
  const key = await deriveFor(normalize(password), parsed);
  return key !== undefined && timingSafeEqual(key, parsed.key);
}

/** `secret` derived with a stored hash's salt and parameters (undefined when scrypt refuses them). */
export async function deriveFor(secret: string, parsed: ParsedHash): Promise<Buffer | undefined> {
  try {
    return await derive(secret, parsed.salt, parsed.key.length, {
      N: parsed.cost,
      r: parsed.blockSize,
      p: parsed.parallelism,
      maxmem: maxmemFor(parsed.cost, parsed.blockSize, parsed.parallelism),
    });
  } catch {
    return undefined;
  }
}

/**
 * Length is the only rule (NIST SP 800-63B): composition rules push people towards predictable
 * patterns. Counted in code points so a password of emoji is not penalised for UTF-16 surrogates.
 * The upper bound only stops absurd request bodies from being hashed.
 */
export function checkPasswordStrength(password: string): void {
  const length = [...normalize(password)].length;
  if (length < MIN_PASSWORD_LENGTH) {
    throw new BadRequestError(`password is too short: it must be at least ${MIN_PASSWORD_LENGTH} characters`, {
      minLength: MIN_PASSWORD_LENGTH,
    });
  }
  if (length > MAX_PASSWORD_LENGTH) {
    throw new BadRequestError(`password is too long: it must be at most ${MAX_PASSWORD_LENGTH} characters`, {
      maxLength: MAX_PASSWORD_LENGTH,
    });
  }
}
