import { execFileSync } from "node:child_process";
import { checkPrimeSync, createPublicKey, generateKeyPairSync, generatePrimeSync, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkCsrKey } from "../../src/pki/csr-key.js";
import { oid, tlv, unsignedInteger } from "../../src/pki/der.js";
import { publicKeyProblem, rsaKeyProblem } from "../../src/pki/goodkey.js";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "keyward-goodkey-"));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function bigintBytes(value: bigint): Buffer {
  const hex = value.toString(16);
  return Buffer.from(hex.length % 2 ? `0${hex}` : hex, "hex");
}

/** An RSA SubjectPublicKeyInfo written by hand (RFC 3279 §2.3.1), for moduli no generator would make. */
function rsaSpki(n: bigint, e: bigint): Buffer {
  const algorithm = tlv(0x30, oid("1.2.840.113549.1.1.1"), Buffer.from([0x05, 0x00]));
  const key = tlv(0x30, unsignedInteger(bigintBytes(n)), unsignedInteger(bigintBytes(e)));
  return tlv(0x30, algorithm, tlv(0x03, Buffer.from([0]), key));
}

function modulusOf(spkiDer: Buffer): { n: bigint; e: bigint } {
  const jwk = createPublicKey({ key: spkiDer, format: "der", type: "spki" }).export({ format: "jwk" });
  const big = (b64: string) => BigInt(`0x${Buffer.from(b64, "base64url").toString("hex")}`);
  return { n: big(jwk.n!), e: big(jwk.e!) };
}

function goodRsa(): { n: bigint; e: bigint } {
  const { publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return modulusOf(publicKey.export({ format: "der", type: "spki" }));
}

/** The primes of the ROCA fingerprint (Nemec et al., CCS 2017), as in rocacheck. */
const ROCA_PRIMES = [
  3n,
  5n,
  7n,
  11n,
  13n,
  17n,
  19n,
  23n,
  29n,
  31n,
  37n,
  41n,
  43n,
  47n,
  53n,
  59n,
  61n,
  67n,
  71n,
  73n,
  79n,
  83n,
  89n,
  97n,
  101n,
  103n,
  107n,
  109n,
  113n,
  127n,
  131n,
  137n,
  139n,
  149n,
  151n,
  157n,
  163n,
  167n,
];

function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n;
  let b = base % modulus;
  for (let x = exponent; x > 0n; x >>= 1n) {
    if (x & 1n) result = (result * b) % modulus;
    b = (b * b) % modulus;
  }
  return result;
}

/**
 * A prime with the structure of the Infineon RSALib primes (p = k·M + 65537^a mod M): a modulus of
 * two such primes carries the ROCA fingerprint, as the vulnerable keys did.
 */
function rocaPrime(bits: number): bigint {
  const m = ROCA_PRIMES.reduce((a, b) => a * b, 1n);
  for (;;) {
    const a = BigInt(`0x${randomBytes(4).toString("hex")}`);
    const k = BigInt(`0x${randomBytes(bits / 8).toString("hex")}`) / m;
    const p = k * m + modPow(65537n, a, m);
    if (p.toString(2).length === bits && checkPrimeSync(p)) return p;
  }
}

describe("rsaKeyProblem: the public exponent", () => {
  it("accepts 65537 and larger odd exponents", () => {
    const { n } = goodRsa();
    expect(rsaKeyProblem(n, 65537n)).toBeUndefined();
    expect(rsaKeyProblem(n, 65539n)).toBeUndefined();
  });

  it.each([3n, 17n, 65535n, 65538n, 1n << 256n])("refuses e = %s", (e) => {
    const { n } = goodRsa();
    expect(rsaKeyProblem(n, e)).toMatch(/^the RSA public exponent .* must be odd, at least 65537 and below 2\^256/);
  });

  it("refuses the e=3 key openssl makes (genpkey -pkeyopt rsa_keygen_pubexp:3)", () => {
    const keyFile = join(dir, "e3.key");
    execFileSync("openssl", [
      "genpkey",
      "-algorithm",
      "RSA",
      "-pkeyopt",
      "rsa_keygen_bits:2048",
      "-pkeyopt",
      "rsa_keygen_pubexp:3",
      "-out",
      keyFile,
    ]);
    const spki = createPublicKey(readFileSync(keyFile)).export({ format: "der", type: "spki" });
    expect(publicKeyProblem(createPublicKey({ key: spki, format: "der", type: "spki" }))).toBe(
      "the RSA public exponent 3 is refused: it must be odd, at least 65537 and below 2^256",
    );
  });
});

describe("rsaKeyProblem: the modulus", () => {
  it("accepts a freshly generated modulus", () => {
    for (let i = 0; i < 3; i++) expect(rsaKeyProblem(goodRsa().n, 65537n)).toBeUndefined();
  });

  it.each([2n, 3n, 5n, 101n, 751n])("refuses a modulus divisible by %s", (factor) => {
    // A 2048-bit modulus whose other factor is a large prime: the small one is its only weakness.
    const bad = factor * generatePrimeSync(2049 - factor.toString(2).length, { bigint: true });
    expect(bad.toString(2).length).toBeGreaterThanOrEqual(2047);
    expect(rsaKeyProblem(bad, 65537n)).toBe(`the RSA modulus has a small prime factor (${factor})`);
  });

  it("stops trial division below 752: a modulus whose smallest factor is 757 passes it", () => {
    const n = 757n * generatePrimeSync(2038, { bigint: true });
    expect(rsaKeyProblem(n, 65537n)).toBeUndefined();
  });

  it("refuses a modulus with the ROCA fingerprint (CVE-2017-15361)", () => {
    const n = rocaPrime(1024) * rocaPrime(1024);
    expect(rsaKeyProblem(n, 65537n)).toBe(
      "the RSA modulus has the ROCA fingerprint (CVE-2017-15361, Infineon RSALib): it can be factored",
    );
  });
});

describe("the CSR key check (run in threads) reports a weak key before the signature", () => {
  it("names the small factor of a hand-built SPKI that Node imports without complaint", async () => {
    // 2048 bits exactly, so the key is of a type a profile accepts (rsa2048).
    // (Node's primes have their top two bits set: 3·p of 2046 bits is always 2048 bits long.)
    const bad = 3n * generatePrimeSync(2046, { bigint: true });
    const spki = rsaSpki(bad, 65537n);
    expect(modulusOf(spki).n).toBe(bad);
    const verdict = await checkCsrKey({ spki, info: Buffer.from("x"), signature: Buffer.alloc(256), hash: "sha256" });
    expect(verdict).toMatchObject({
      key: "decoded",
      keyType: "rsa2048",
      weakness: "the RSA modulus has a small prime factor (3)",
    });
  });

  it("leaves EC and Ed25519 keys to the profile", () => {
    for (const type of ["ec", "ed25519"] as const) {
      const { publicKey } =
        type === "ec" ? generateKeyPairSync("ec", { namedCurve: "P-256" }) : generateKeyPairSync("ed25519");
      expect(publicKeyProblem(publicKey)).toBeUndefined();
    }
  });
});
