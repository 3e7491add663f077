// ACME JWS verification and RFC 7638 thumbprints with node:crypto, checked against jose (an outside
// implementation): jose signs, Keyward verifies; jose computes thumbprints, Keyward must agree.
import { generateKeyPairSync } from "node:crypto";
import { calculateJwkThumbprint, exportJWK, FlattenedSign, generateKeyPair, type JWK } from "jose";
import { describe, expect, it } from "vitest";
import { jwkThumbprint, parseJws, verifyJws } from "../../src/acme/jws.js";

const URL = "https://ca.example/acme/new-account";
type Alg = "ES256" | "ES384" | "ES512" | "RS256" | "EdDSA";

async function keyPair(alg: Alg) {
  const pair = await generateKeyPair(alg, { extractable: true, ...(alg === "RS256" ? { modulusLength: 2048 } : {}) });
  return { privateKey: pair.privateKey, jwk: await exportJWK(pair.publicKey) };
}

async function signed(alg: Alg, privateKey: CryptoKey, payload: unknown, header: Record<string, unknown> = {}) {
  return (await new FlattenedSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg, nonce: "n", url: URL, kid: "https://ca.example/acme/acct/1", ...header } as never)
    .sign(privateKey)) as unknown as Record<string, string>;
}

/** The ACME problem type and detail a verification gives, or "ok". */
function outcome(body: Record<string, string>, jwk: JWK): string {
  try {
    verifyJws(parseJws(body, URL), jwk);
    return "ok";
  } catch (error) {
    return `${(error as { acmeType: string }).acmeType}: ${(error as Error).message}`;
  }
}

const flipped = (b64: string, at: number) => {
  const bytes = Buffer.from(b64, "base64url");
  bytes[at] = bytes[at]! ^ 1;
  return bytes.toString("base64url");
};

describe("ACME JWS verification (node:crypto) against jose's signatures", () => {
  for (const alg of ["ES256", "ES384", "ES512", "RS256", "EdDSA"] as const) {
    it(`${alg}: jose's signature verifies; a changed payload, signature or header does not`, async () => {
      const { privateKey, jwk } = await keyPair(alg);
      const jws = await signed(alg, privateKey, { hello: "world" });
      expect(outcome(jws, jwk)).toBe("ok");
      // The same key again comes from the cache of imported keys.
      expect(outcome(jws, jwk)).toBe("ok");
      const other = await signed(alg, privateKey, { hello: "there" });
      const bad = "malformed: the JWS signature does not verify";
      expect(outcome({ ...jws, payload: other.payload! }, jwk)).toBe(bad);
      expect(outcome({ ...jws, protected: other.protected! }, jwk)).toBe("ok"); // same header, deterministic
      expect(outcome({ ...jws, signature: flipped(jws.signature!, 3) }, jwk)).toBe(bad);
      expect(outcome({ ...jws, signature: jws.signature!.slice(0, -4) }, jwk)).toBe(bad);
      expect(outcome({ ...jws, signature: "" }, jwk)).toBe(bad);
      const nonce = await signed(alg, privateKey, { hello: "world" }, { nonce: "m" });
      expect(outcome({ ...jws, protected: nonce.protected! }, jwk)).toBe(bad);
      // Another key of the same type does not verify it.
      expect(outcome(jws, (await keyPair(alg)).jwk)).toBe(bad);
    });
  }

  it("an ECDSA signature in DER (not R || S) is malformed", async () => {
    const { privateKey, jwk } = await keyPair("ES256");
    const jws = await signed("ES256", privateKey, {});
    const rs = Buffer.from(jws.signature!, "base64url");
    const int = (b: Buffer) => (b[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
    const [r, s] = [int(rs.subarray(0, 32)), int(rs.subarray(32))];
    const der = Buffer.concat([
      Buffer.from([0x30, r.length + s.length + 4, 2, r.length]),
      r,
      Buffer.from([2, s.length]),
      s,
    ]);
    expect(outcome({ ...jws, signature: der.toString("base64url") }, jwk)).toBe(
      "malformed: the JWS signature does not verify",
    );
  });

  it("a key that does not fit the algorithm is badPublicKey, saying why", async () => {
    const p256 = (await keyPair("ES256")).jwk;
    const p384 = await keyPair("ES384");
    const ed = (await keyPair("EdDSA")).jwk;
    const es384 = await signed("ES384", p384.privateKey, {});
    const es256 = await signed("ES256", (await keyPair("ES256")).privateKey, {});
    expect(outcome(es384, p256)).toBe(
      'badPublicKey: the account key cannot be used with ES384: ES384 needs curve P-384, not "P-256"',
    );
    expect(outcome(es256, ed)).toBe(
      'badPublicKey: the account key cannot be used with ES256: ES256 needs a EC key, not "OKP"',
    );
    expect(outcome(es256, { ...p384.jwk, crv: "P-256" })).toMatch(
      /^badPublicKey: the account key cannot be used with ES256: /,
    );
    expect(outcome(es256, { ...p256, alg: "ES384" })).toBe(
      'badPublicKey: the account key cannot be used with ES256: the key is for "ES384"',
    );
    // A point off the curve: Node refuses it as it imports.
    const off = { ...p256, y: flipped(p256.y!, 31) };
    expect(outcome(es256, off)).toMatch(/^badPublicKey: the account key cannot be used with ES256: /);
    expect(outcome(es256, { kty: "EC", crv: "P-256", x: p256.x! })).toMatch(/^badPublicKey: /);
    // RSA below 2048 bits (RFC 7518 §3.3), as jose refused it too.
    const small = generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey.export({ format: "jwk" }) as JWK;
    const rs256 = await signed("RS256", (await keyPair("RS256")).privateKey, {});
    expect(outcome(rs256, small)).toBe(
      "badPublicKey: the account key cannot be used with RS256: RSA keys must have at least 2048 bits",
    );
  });

  it("a crit header is malformed (no JWS extension applies to ACME)", async () => {
    const { privateKey, jwk } = await keyPair("ES256");
    const jws = await signed("ES256", privateKey, {}, { crit: ["b64"], b64: true });
    expect(outcome(jws, jwk)).toBe('malformed: the JWS must not have a "crit" header');
  });
});

describe("RFC 7638 thumbprints (node:crypto) against jose's", () => {
  it("the RFC 7638 §3.1 example", () => {
    const rfc = {
      kty: "RSA",
      n: "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
      e: "AQAB",
      alg: "RS256",
      kid: "2011-04-29",
    };
    expect(jwkThumbprint(rfc)).toBe("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
  });

  for (const alg of ["ES256", "ES384", "ES512", "RS256", "EdDSA"] as const) {
    it(`${alg} keys: the same as jose's calculateJwkThumbprint, extra members ignored`, async () => {
      for (let i = 0; i < 3; i++) {
        const { jwk } = await keyPair(alg);
        const expected = await calculateJwkThumbprint(jwk, "sha256");
        expect(jwkThumbprint(jwk)).toBe(expected);
        expect(jwkThumbprint({ ...jwk, alg, use: "sig", kid: "x" })).toBe(expected);
      }
    });
  }

  it("refuses what is no JWK of a known type with a TypeError", () => {
    for (const value of [
      null,
      "x",
      5,
      {},
      { kty: "oct", k: "AA" },
      { kty: "EC", crv: "P-256", x: "AA" },
      { kty: "RSA", n: 1, e: "AQAB" },
    ]) {
      expect(() => jwkThumbprint(value)).toThrow(TypeError);
    }
  });
});
