import { flattenedVerify, importJWK, type JWK } from "jose";
import { AcmeError } from "./problems.js";

/** RFC 8555 §6.2 says which algorithms; these are the ones Keyward accepts. */
export const ACME_ALGORITHMS = ["ES256", "ES384", "ES512", "RS256", "EdDSA"] as const;

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

type ImportedKey = Awaited<ReturnType<typeof importJWK>>;
/** Account keys sign every request of a client: imported once, not per request (most recently used kept). */
const importedKeys = new Map<string, ImportedKey>();
const IMPORTED_KEYS = 1000;

async function importAccountKey(jwk: JWK, alg: string): Promise<ImportedKey> {
  const id = `${alg}:${JSON.stringify(jwk)}`;
  let key = importedKeys.get(id);
  if (key) {
    importedKeys.delete(id);
  } else {
    key = await importJWK(jwk, alg);
    if (importedKeys.size >= IMPORTED_KEYS) importedKeys.delete(importedKeys.keys().next().value!);
  }
  importedKeys.set(id, key);
  return key;
}

/** Verifies the JWS signature with the given public key; failure is `malformed` per RFC 8555 §6.2. */
export async function verifyJws(jws: ParsedJws, jwk: JWK): Promise<void> {
  let key: ImportedKey;
  try {
    key = await importAccountKey(jwk, jws.protected.alg);
  } catch (error) {
    throw new AcmeError(
      "badPublicKey",
      `the account key cannot be used with ${jws.protected.alg}: ${(error as Error).message}`,
    );
  }
  try {
    await flattenedVerify(jws.raw, key, { algorithms: [jws.protected.alg] });
  } catch {
    throw new AcmeError("malformed", "the JWS signature does not verify");
  }
}
