import type { Actor, AuditEvent } from "../audit/index.js";
import { randomBytes, timingSafeEqual } from "node:crypto";
import { publicRandom } from "../pki/public-random.js";
import type { JWK } from "jose";
import type { Clock } from "../clock/index.js";
import type { AcmeAccount, AcmeStore, NonceStore } from "./ports.js";
import { jwkThumbprint, type ParsedJws, parseJws, verifyJws } from "./jws.js";
import { AcmeError } from "./problems.js";
import type { AcmeUrls } from "./urls.js";

export interface AcmeSettings {
  nonceLifetimeSeconds: number;
  termsOfService?: string;
  website?: string;
  caaIdentities: string[];
  externalAccountRequired: boolean;
}

export interface AuthenticatedRequest {
  jws: ParsedJws;
  /** The key that signed: the account's key, or the embedded jwk for newAccount. */
  jwk: JWK;
  account?: AcmeAccount;
}

/** HMAC keys of external account bindings: they live in the token, named by URI. */
export interface EabHmac {
  importKey(value: Buffer, label: string): Promise<string>;
  sign(uri: string, data: Uint8Array): Promise<Buffer>;
}

const MAX_CONTACTS = 10;

/**
 * RFC 8555 protocol core: directory, nonces, JWS authentication and accounts. Everything is
 * checked in the order the RFC implies: shape, algorithm, key, signature, nonce.
 */
export class AcmeService {
  constructor(
    private readonly deps: {
      store: AcmeStore;
      /** Issued nonces until their one use: memory or database, chosen by compose.ts. */
      nonces: NonceStore;
      clock: Clock;
      urls: AcmeUrls;
      settings: AcmeSettings;
      /** draft-ietf-acme-profiles: name → description, announced in the directory's meta. */
      profiles?: () => Record<string, string>;
      hmac: EabHmac;
    },
  ) {}

  private url(path: string): string {
    return this.deps.urls.url(path);
  }

  private accountUrl(id: string): string {
    return this.deps.urls.account(id);
  }

  directory() {
    const s = this.deps.settings;
    return {
      newNonce: this.url("new-nonce"),
      newAccount: this.url("new-account"),
      newOrder: this.url("new-order"),
      revokeCert: this.url("revoke-cert"),
      keyChange: this.url("key-change"),
      renewalInfo: this.url("renewal-info"),
      meta: {
        ...(s.termsOfService ? { termsOfService: s.termsOfService } : {}),
        ...(s.website ? { website: s.website } : {}),
        caaIdentities: s.caaIdentities,
        ...(this.deps.profiles ? { profiles: this.deps.profiles() } : {}),
        externalAccountRequired: s.externalAccountRequired,
      },
    };
  }

  async newNonce(): Promise<string> {
    const nonce = publicRandom(16).toString("base64url");
    const now = this.deps.clock.now();
    await this.deps.nonces.save(nonce, new Date(now.getTime() + this.deps.settings.nonceLifetimeSeconds * 1000));
    return nonce;
  }

  cleanupNonces(): Promise<number> {
    return this.deps.nonces.deleteExpired(this.deps.clock.now());
  }

  /**
   * Authenticates a POST: `jwk` requests are allowed only where `allowJwk` (newAccount,
   * revokeCert by certificate key); everything else must name an account by `kid`.
   */
  async authenticate(body: unknown, requestUrl: string, options: { allowJwk: boolean }): Promise<AuthenticatedRequest> {
    const jws = parseJws(body, requestUrl);
    let jwk: JWK;
    let account: AcmeAccount | undefined;
    if (jws.protected.jwk) {
      if (!options.allowJwk)
        throw new AcmeError("malformed", 'this resource needs a "kid" (account URL), not an embedded "jwk"');
      jwk = jws.protected.jwk;
    } else {
      if (options.allowJwk && requestUrl === this.url("new-account")) {
        throw new AcmeError("malformed", 'newAccount requests must carry the account key as "jwk", not a "kid"');
      }
      const prefix = this.url("acct/");
      const kid = jws.protected.kid!;
      account = kid.startsWith(prefix) ? await this.deps.store.accountById(kid.slice(prefix.length)) : undefined;
      if (!account) throw new AcmeError("accountDoesNotExist", `no account at ${JSON.stringify(kid)}`);
      if (account.status !== "valid") throw new AcmeError("unauthorized", `account ${account.id} is ${account.status}`);
      jwk = account.jwk;
    }
    verifyJws(jws, jwk);
    if (!(await this.deps.nonces.consume(jws.protected.nonce, this.deps.clock.now()))) {
      throw new AcmeError(
        "badNonce",
        "the nonce is unknown, expired or already used; retry with the fresh Replay-Nonce",
      );
    }
    return { jws, jwk, account };
  }

  /** RFC 8555 §7.3: create, or find (onlyReturnExisting), the account for the signing key. */
  async newAccount(request: AuthenticatedRequest): Promise<{ account: AcmeAccount; created: boolean }> {
    const payload = objectPayload(request.jws.payload);
    const thumbprint = jwkThumbprint(request.jwk);
    const existing = await this.deps.store.accountByThumbprint(thumbprint);
    if (existing) return { account: existing, created: false };
    if (payload.onlyReturnExisting === true)
      throw new AcmeError("accountDoesNotExist", "no account exists for this key");
    if (this.deps.settings.termsOfService && payload.termsOfServiceAgreed !== true) {
      throw new AcmeError("malformed", "the terms of service must be agreed to (termsOfServiceAgreed: true)");
    }
    if (this.deps.settings.externalAccountRequired && !payload.externalAccountBinding) {
      throw new AcmeError("externalAccountRequired", "this server requires an external account binding");
    }
    const id = publicRandom(12).toString("base64url");
    const contact = contacts(payload.contact);
    if (payload.externalAccountBinding !== undefined)
      await this.bindExternalAccount(payload.externalAccountBinding, thumbprint, id);
    const now = this.deps.clock.now();
    return this.deps.store.createAccount(
      { id, thumbprint, jwk: publicJwk(request.jwk), status: "valid", contact, createdAt: now },
      this.accountEvent("acme.account.create", id, now, { thumbprint }),
    );
  }

  /**
   * Admin side of RFC 8555 §7.3.4: a key id and HMAC key for one account. The HMAC key is shown
   * once and then lives only in the token.
   */
  async createExternalAccountKey(name: string, actor: Actor): Promise<{ kid: string; hmacKey: string }> {
    const kid = `kw-${randomBytes(12).toString("base64url")}`;
    const secret = randomBytes(32);
    try {
      const keyUri = await this.deps.hmac.importKey(secret, `eab-${kid}`);
      const now = this.deps.clock.now();
      await this.deps.store.saveEabKey(
        { kid, name, keyUri, createdAt: now },
        {
          action: "acme.eab.create",
          actor,
          target: { type: "eab-key", id: kid },
          outcome: "success",
          details: { name, keyUri },
          at: now,
        },
      );
      return { kid, hmacKey: secret.toString("base64url") };
    } finally {
      secret.fill(0);
    }
  }

  /** RFC 8555 §7.3.4: an HS256 JWS by the EAB key over the account key, for this URL, used once. */
  private async bindExternalAccount(binding: unknown, thumbprint: string, accountId: string): Promise<void> {
    const b = (binding ?? {}) as Record<string, unknown>;
    if (typeof b.protected !== "string" || typeof b.payload !== "string" || typeof b.signature !== "string") {
      throw new AcmeError("malformed", "externalAccountBinding must be a flattened JWS");
    }
    let header: Record<string, unknown>;
    let boundKey: unknown;
    try {
      header = JSON.parse(Buffer.from(b.protected, "base64url").toString("utf8"));
      boundKey = JSON.parse(Buffer.from(b.payload, "base64url").toString("utf8"));
    } catch {
      throw new AcmeError("malformed", "externalAccountBinding is not base64url-encoded JSON");
    }
    if (header.alg !== "HS256")
      throw new AcmeError("badSignatureAlgorithm", "externalAccountBinding must use HS256", { algorithms: ["HS256"] });
    if (header.url !== this.url("new-account"))
      throw new AcmeError("unauthorized", "externalAccountBinding names another URL");
    if ("nonce" in header) throw new AcmeError("malformed", "externalAccountBinding must not carry a nonce");
    const key = typeof header.kid === "string" ? await this.deps.store.eabKey(header.kid) : undefined;
    if (!key) throw new AcmeError("unauthorized", "externalAccountBinding names an unknown key id");
    if (key.accountId) throw new AcmeError("unauthorized", "this external account key is already bound to an account");
    if (thumbprintOf(boundKey) !== thumbprint) {
      throw new AcmeError("unauthorized", "externalAccountBinding binds a different account key");
    }
    const expected = await this.deps.hmac.sign(key.keyUri, Buffer.from(`${b.protected}.${b.payload}`, "ascii"));
    const given = Buffer.from(b.signature, "base64url");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new AcmeError("unauthorized", "externalAccountBinding signature does not verify");
    }
    const now = this.deps.clock.now();
    if (
      !(await this.deps.store.claimEabKey(
        key.kid,
        accountId,
        now,
        this.accountEvent("acme.eab.bind", accountId, now, { kid: key.kid }),
      ))
    ) {
      throw new AcmeError("unauthorized", "this external account key is already bound to an account");
    }
  }

  /** RFC 8555 §7.3.2 and §7.3.6: read (POST-as-GET), update contacts, or deactivate. */
  async updateAccount(id: string, request: AuthenticatedRequest): Promise<AcmeAccount> {
    if (request.account?.id !== id) throw new AcmeError("unauthorized", "the JWS is signed by another account");
    if (request.jws.payload === undefined) return request.account;
    const payload = objectPayload(request.jws.payload);
    const changes: { contact?: string[]; status?: AcmeAccount["status"] } = {};
    if ("contact" in payload) changes.contact = contacts(payload.contact);
    if ("status" in payload) {
      if (payload.status !== "deactivated")
        throw new AcmeError("malformed", 'the only status a client may set is "deactivated"');
      changes.status = "deactivated";
    }
    if (!Object.keys(changes).length) return request.account;
    const action = changes.status ? "acme.account.deactivate" : "acme.account.update";
    return this.deps.store.updateAccount(id, changes, this.accountEvent(action, id, this.deps.clock.now(), {}));
  }

  /**
   * RFC 8555 §7.3.5 key rollover: the outer JWS (old key, kid) carries an inner JWS signed by the
   * new key whose payload names the account and the old key.
   */
  async changeKey(request: AuthenticatedRequest, requestUrl: string): Promise<AcmeAccount> {
    const account = request.account!;
    const inner = parseJws(request.jws.payload, requestUrl, { nonce: false });
    if (!inner.protected.jwk) throw new AcmeError("malformed", 'the inner JWS must carry the new key as "jwk"');
    verifyJws(inner, inner.protected.jwk);
    const payload = objectPayload(inner.payload);
    if (payload.account !== this.accountUrl(account.id))
      throw new AcmeError("malformed", "the inner payload's account is not the signing account");
    if (thumbprintOf(payload.oldKey) !== account.thumbprint) {
      throw new AcmeError("malformed", "the inner payload's oldKey is not the account's current key");
    }
    const thumbprint = jwkThumbprint(inner.protected.jwk);
    const other = await this.deps.store.accountByThumbprint(thumbprint);
    if (other) {
      throw new AcmeError(
        "malformed",
        "the new key already belongs to an account",
        { account: this.accountUrl(other.id) },
        409,
      );
    }
    const event = this.accountEvent("acme.account.key-change", account.id, this.deps.clock.now(), {
      oldThumbprint: account.thumbprint,
      thumbprint,
    });
    if (!(await this.deps.store.changeAccountKey(account.id, publicJwk(inner.protected.jwk), thumbprint, event))) {
      throw new AcmeError("malformed", "the new key already belongs to an account", undefined, 409);
    }
    return (await this.deps.store.accountById(account.id))!;
  }

  private accountEvent(action: string, accountId: string, at: Date, details: Record<string, string>): AuditEvent {
    return {
      action,
      actor: acmeActor(accountId),
      target: { type: "acme-account", id: accountId },
      outcome: "success",
      details,
      at,
    };
  }
}

/**
 * The thumbprint of a key named in a payload (the key an EAB binds, a key change's old key), or
 * undefined when it is no usable JWK: such a value names no key, which the callers refuse as
 * naming a different one.
 */
function thumbprintOf(value: unknown): string | undefined {
  try {
    return jwkThumbprint(value);
  } catch (error) {
    if (error instanceof TypeError) return undefined;
    throw error;
  }
}

function objectPayload(payload: unknown): Record<string, unknown> {
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) {
    throw new AcmeError("malformed", "the JWS payload must be a JSON object");
  }
  return payload as Record<string, unknown>;
}

function contacts(value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > MAX_CONTACTS || !value.every((c) => typeof c === "string")) {
    throw new AcmeError("malformed", `contact must be an array of at most ${MAX_CONTACTS} URLs`);
  }
  for (const contact of value as string[]) {
    if (!/^mailto:[^@\s,]+@[^@\s,]+\.[^@\s,]+$/.test(contact)) {
      throw new AcmeError("unsupportedContact", `contact ${JSON.stringify(contact)} is not a single mailto: address`);
    }
  }
  return value as string[];
}

/** Keeps only the public members of the key (a client may send extra ones). */
function publicJwk(jwk: JWK): JWK {
  const { kty, crv, x, y, n, e } = jwk;
  return Object.fromEntries(Object.entries({ kty, crv, x, y, n, e }).filter(([, v]) => v !== undefined)) as JWK;
}

/** An ACME account acting through the protocol. */
export function acmeActor(accountId: string): Actor {
  return { id: `acme:${accountId}`, name: `acme:${accountId}`, kind: "acme" };
}
