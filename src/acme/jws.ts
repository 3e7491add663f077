import { createHash, createPublicKey, type JsonWebKey, type KeyObject, verify } from "node:crypto";
import type { JWK } from "jose";
import { AcmeError } from "./problems.js";

/** RFC 8555 §6.2 says which algorithms; these are the ones Keyward accepts. */
export const ACME_ALGORITHMS = ["ES256", "ES384", "ES512", "RS256", "EdDSA"] as const;
type AcmeAlgorithm = (typeof ACME_ALGORITHMS)[number];

export interface ParsedJws {
  protected: { alg: string; nonce: string; url: string; jwk?: JWK; kid?: string };
  /** Decoded payload; `undefined` for POST-as-GET (empty payload). */
  payload: unknown;
  raw: { protected: string; payload: string; signature: string };
}

const B64URL = /^[A-Za-z0-9_-]*$/;

function decodeJson(b64: string, what: string): unknown {
  if (!B64URL.test(b64)) throw new AcmeError("malformed", `${what} is not base64url`);
  try {
    return JSON.parse(Buffer.from(b64, "base64url").toString("utf8"));
  } catch {
    throw new AcmeError("malformed", `${what} is not base64url-encoded JSON`);
  }
}

/**
 * Checks the shape of a flattened JWS and its protected header (RFC 8555 §6.2) before any
 * cryptography: every untrusted field is checked with a precise message.
 */
export function parseJws(body: unknown, requestUrl: string, options: { nonce: boolean } = { nonce: true }): ParsedJws {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new AcmeError("malformed", "the request body must be a flattened JWS JSON object");
  }
  const jws = body as Record<string, unknown>;
  if ("signatures" in jws)
    throw new AcmeError("malformed", "only the flattened JWS serialization is accepted, not the general one");
  if ("header" in jws) throw new AcmeError("malformed", "the JWS must not have an unprotected header");
  for (const field of ["protected", "payload", "signature"] as const) {
    if (typeof jws[field] !== "string") throw new AcmeError("malformed", `the JWS has no "${field}" string`);
    if (!B64URL.test(jws[field] as string)) throw new AcmeError("malformed", `the JWS "${field}" is not base64url`);
  }
  const header = decodeJson(jws.protected as string, "the JWS protected header");
  if (typeof header !== "object" || header === null)
    throw new AcmeError("malformed", "the JWS protected header must be a JSON object");
  const h = header as Record<string, unknown>;
  if (typeof h.alg !== "string" || !(ACME_ALGORITHMS as readonly string[]).includes(h.alg)) {
    throw new AcmeError("badSignatureAlgorithm", `JWS algorithm ${JSON.stringify(h.alg ?? null)} is not accepted`, {
      algorithms: [...ACME_ALGORITHMS],
    });
  }
  if ("jwk" in h === "kid" in h)
    throw new AcmeError("malformed", 'the JWS protected header must have exactly one of "jwk" and "kid"');
  if ("jwk" in h && (typeof h.jwk !== "object" || h.jwk === null || "d" in (h.jwk as object))) {
    throw new AcmeError("malformed", '"jwk" must be a public JSON Web Key');
  }
  if ("kid" in h && typeof h.kid !== "string") throw new AcmeError("malformed", '"kid" must be a string');
  // The inner JWS of a key change carries no nonce (RFC 8555 §7.3.5).
  if (options.nonce && (typeof h.nonce !== "string" || h.nonce === "")) {
    throw new AcmeError("badNonce", "the JWS protected header has no nonce");
  }
  if (!options.nonce && "nonce" in h) throw new AcmeError("malformed", "the inner JWS must not have a nonce");
  if (typeof h.url !== "string") throw new AcmeError("malformed", 'the JWS protected header has no "url"');
  if (h.url !== requestUrl) {
    throw new AcmeError(
      "unauthorized",
      `the JWS "url" ${JSON.stringify(h.url)} is not the URL requested (${requestUrl})`,
    );
  }
  const payloadText = jws.payload as string;
  return {
    protected: h as ParsedJws["protected"],
    payload: payloadText === "" ? undefined : decodeJson(payloadText, "the JWS payload"),
    raw: { protected: jws.protected as string, payload: payloadText, signature: jws.signature as string },
  };
}

type KeyRule = { kty: string; crv?: string; hash: string | null; signatureBytes?: number };

/**
 * What each accepted algorithm needs of the key and the signature (RFC 7518 §3, RFC 8037 §3.1).
 * ECDSA signatures are the fixed-size R || S of the curve (RFC 7518 §3.4), never DER.
 */
const RULES: Record<AcmeAlgorithm, KeyRule> = {
  ES256: { kty: "EC", crv: "P-256", hash: "sha256", signatureBytes: 64 },
  ES384: { kty: "EC", crv: "P-384", hash: "sha384", signatureBytes: 96 },
  ES512: { kty: "EC", crv: "P-521", hash: "sha512", signatureBytes: 132 },
  RS256: { kty: "RSA", hash: "sha256" },
  EdDSA: { kty: "OKP", crv: "Ed25519", hash: null, signatureBytes: 64 },
};
/** RFC 7518 §3.3: RSA keys of 2048 bits or more. */
const MIN_RSA_BITS = 2048;

/**
 * Account keys sign every request of a client: imported once, not per request (most recently
 * used kept). node:crypto directly: jose's WebCrypto path cost a promise chain and a key import
 * per verification (7 % of the ACME server's time per certificate).
 */
const importedKeys = new Map<string, KeyObject>();
const IMPORTED_KEYS = 1000;

function usableKey(jwk: JWK, alg: AcmeAlgorithm): KeyObject {
  const rule = RULES[alg];
  if (jwk.kty !== rule.kty) throw new Error(`${alg} needs a ${rule.kty} key, not ${JSON.stringify(jwk.kty ?? null)}`);
  if (rule.crv && jwk.crv !== rule.crv)
    throw new Error(`${alg} needs curve ${rule.crv}, not ${JSON.stringify(jwk.crv ?? null)}`);
  if (jwk.alg !== undefined && jwk.alg !== alg) throw new Error(`the key is for ${JSON.stringify(jwk.alg)}`);
  // Node checks the members (and that an EC point is on its curve) as it imports.
  const key = createPublicKey({ key: jwk as JsonWebKey, format: "jwk" });
  if (rule.kty === "RSA" && (key.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_RSA_BITS)
    throw new Error(`RSA keys must have at least ${MIN_RSA_BITS} bits`);
  return key;
}

function importAccountKey(jwk: JWK, alg: AcmeAlgorithm): KeyObject {
  const id = `${alg}:${JSON.stringify(jwk)}`;
  let key = importedKeys.get(id);
  if (key) {
    importedKeys.delete(id);
  } else {
    key = usableKey(jwk, alg);
    if (importedKeys.size >= IMPORTED_KEYS) importedKeys.delete(importedKeys.keys().next().value!);
  }
  importedKeys.set(id, key);
  return key;
}

/**
 * Verifies the JWS signature with the given public key: a key that does not fit the algorithm is
 * `badPublicKey`, a signature that does not verify `malformed` (RFC 8555 §6.2).
 */
export function verifyJws(jws: ParsedJws, jwk: JWK): void {
  const alg = jws.protected.alg as AcmeAlgorithm;
  let key: KeyObject;
  try {
    key = importAccountKey(jwk, alg);
  } catch (error) {
    throw new AcmeError("badPublicKey", `the account key cannot be used with ${alg}: ${(error as Error).message}`);
  }
  // No JWS extension is defined for ACME; an unencoded payload (RFC 7797) would change what is signed.
  if ("crit" in jws.protected) throw new AcmeError("malformed", 'the JWS must not have a "crit" header');
  const rule = RULES[alg];
  const signature = Buffer.from(jws.raw.signature, "base64url");
  const input = Buffer.from(`${jws.raw.protected}.${jws.raw.payload}`, "ascii");
  let valid = rule.signatureBytes === undefined || signature.length === rule.signatureBytes;
  if (valid) {
    try {
      valid = verify(rule.hash, input, rule.kty === "EC" ? { key, dsaEncoding: "ieee-p1363" } : key, signature);
    } catch {
      valid = false;
    }
  }
  if (!valid) throw new AcmeError("malformed", "the JWS signature does not verify");
}

/** Members of each key type that make its RFC 7638 thumbprint, in lexicographic order. */
const THUMBPRINT_MEMBERS: Record<string, readonly string[]> = {
  EC: ["crv", "kty", "x", "y"],
  OKP: ["crv", "kty", "x"],
  RSA: ["e", "kty", "n"],
};

/**
 * The RFC 7638 SHA-256 thumbprint (base64url) of a public JWK, synchronous: it names accounts and
 * is in every key authorization. Throws a TypeError for a value that is not a JWK of a known type.
 */
export function jwkThumbprint(jwk: unknown): string {
  if (typeof jwk !== "object" || jwk === null) throw new TypeError("a JWK must be an object");
  const key = jwk as Record<string, unknown>;
  const members = typeof key.kty === "string" ? THUMBPRINT_MEMBERS[key.kty] : undefined;
  if (!members) throw new TypeError(`unsupported JWK key type ${JSON.stringify(key.kty ?? null)}`);
  const required: Record<string, string> = {};
  for (const member of members) {
    const value = key[member];
    if (typeof value !== "string" || value === "") throw new TypeError(`the JWK's "${member}" must be a string`);
    required[member] = value;
  }
  return createHash("sha256").update(JSON.stringify(required)).digest("base64url");
}
