/**
 * Weak-key checks for public keys Keyward is asked to certify, a subset of Boulder's goodkey:
 * the RSA public exponent, small prime factors of the modulus and the ROCA fingerprint. Pure:
 * BigInt arithmetic on the key's numbers, no I/O. Key types and sizes are the profile's business.
 */
import type { KeyObject } from "node:crypto";

/** The primes below 752, as Boulder divides by: a modulus with such a factor is broken at once. */
const SMALL_PRIMES: readonly bigint[] = primesBelow(752);

/**
 * The ROCA fingerprint (Nemec et al., "The Return of Coppersmith's Attack", CCS 2017): Infineon
 * RSALib primes are 65537^a mod M plus a multiple of M, so for each of these primes p the modulus
 * mod p lies in the subgroup 65537 generates. A random modulus passes for all of them with
 * negligible probability; a vulnerable one always does.
 */
const ROCA_PRIMES: readonly number[] = primesBelow(168).map(Number).slice(1); // 3 … 167
const ROCA_SUBGROUPS: ReadonlyArray<ReadonlySet<number>> = ROCA_PRIMES.map((p) => {
  const powers = new Set<number>();
  for (let x = 1; !powers.has(x); x = (x * (65537 % p)) % p) powers.add(x);
  return powers;
});

/**
 * Every prime above divides this product, so n mod p = (n mod PRODUCT) mod p: one division of the
 * 2048-4096-bit modulus, then small ones: ~25 µs for RSA-2048, where dividing n itself took ~220 µs.
 */
const PRODUCT = SMALL_PRIMES.reduce((a, b) => a * b, 1n);

const MIN_EXPONENT = 65537n;
const EXPONENT_LIMIT = 1n << 256n; // FIPS 186-5 §A.1.1: 2^16 < e < 2^256

/** Why this public key must not be certified, or undefined. Only RSA keys have numbers to check. */
export function publicKeyProblem(key: KeyObject): string | undefined {
  if (key.asymmetricKeyType !== "rsa") return undefined;
  const jwk = key.export({ format: "jwk" });
  if (!jwk.n || !jwk.e) return "the RSA public key has no modulus or exponent";
  return rsaKeyProblem(fromBase64url(jwk.n), fromBase64url(jwk.e));
}

/** Why an RSA public key (modulus n, exponent e) is weak, or undefined. */
export function rsaKeyProblem(n: bigint, e: bigint): string | undefined {
  // A small e invites the low-exponent attacks (Håstad, Coppersmith) on poorly padded messages;
  // Boulder accepts nothing below 65537, and an even e is no RSA key at all.
  if (e < MIN_EXPONENT || e >= EXPONENT_LIMIT || e % 2n === 0n) {
    return `the RSA public exponent ${e} is refused: it must be odd, at least 65537 and below 2^256`;
  }
  const reduced = n % PRODUCT;
  for (const p of SMALL_PRIMES) {
    if (reduced % p === 0n) return `the RSA modulus has a small prime factor (${p})`;
  }
  if (hasRocaFingerprint(reduced)) {
    return "the RSA modulus has the ROCA fingerprint (CVE-2017-15361, Infineon RSALib): it can be factored";
  }
  return undefined;
}

/** `reduced` is the modulus mod PRODUCT, which every ROCA prime divides. */
function hasRocaFingerprint(reduced: bigint): boolean {
  return ROCA_PRIMES.every((p, i) => ROCA_SUBGROUPS[i]!.has(Number(reduced % BigInt(p))));
}

function primesBelow(limit: number): bigint[] {
  const composite = new Uint8Array(limit);
  const primes: bigint[] = [];
  for (let i = 2; i < limit; i++) {
    if (composite[i]) continue;
    primes.push(BigInt(i));
    for (let j = i * i; j < limit; j += i) composite[j] = 1;
  }
  return primes;
}

function fromBase64url(text: string): bigint {
  return BigInt(`0x${Buffer.from(text, "base64url").toString("hex") || "0"}`);
}
