import { createHash, randomBytes, randomUUID } from "node:crypto";
import type { Logger } from "pino";
import { addDays, type Background, type Clock } from "../clock/index.js";
import type { Actor, AuditEvent } from "../audit/index.js";
import { BadRequestError, NotFoundError, UnauthorizedError } from "../errors/index.js";
import type { Principal, UserScopes } from "./principal.js";
import { isRole, ROLES, type Role } from "./roles.js";

export interface ApiTokenRecord {
  id: string;
  name: string;
  role: Role;
  createdAt: Date;
  expiresAt: Date | null;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
  scopes: UserScopes;
  /** Serial of a client certificate (issued by us) that authenticates as this token over mTLS. */
  clientCertSerial: string | null;
}

export interface TokenStore {
  insert(record: ApiTokenRecord, tokenHash: string, audit: AuditEvent): Promise<void>;
  findByHash(tokenHash: string): Promise<ApiTokenRecord | undefined>;
  findByClientCertificate(serial: string): Promise<ApiTokenRecord | undefined>;
  touch(id: string, at: Date): Promise<void>;
  list(): Promise<ApiTokenRecord[]>;
  /** False when the token does not exist or was already revoked. */
  revoke(id: string, at: Date, audit: AuditEvent): Promise<boolean>;
  /** Ids of the tokens revoked at or after `since` (the cache's sweep; tokens are few, no index). */
  revokedSince(since: Date): Promise<string[]>;
}

/** Tells the other instances sharing the database that a token changed (PostgreSQL LISTEN/NOTIFY). */
export interface TokenNotices {
  publish(channel: string, payload: string): Promise<void>;
  subscribe(channel: string, handler: (payload: string) => void): Promise<void>;
}

/** The notice channel: the payload is the id of a token that was revoked. */
const CHANNEL = "keyward_tokens";

export interface TokenCacheSettings {
  /** Authenticated tokens held at most (oldest dropped first). */
  entries: number;
  /** A held token is looked up again after this long, whatever the notices said: the safety net. */
  ttlMs: number;
  /** How often storage is asked which tokens were revoked lately (missed notices, SQLite). */
  sweepMs: number;
  /** How far back each sweep looks: covers clocks that differ between hosts, and a revocation
   * that committed while a lookup of the same token was on its way into the cache. */
  overlapMs: number;
}

const CACHE_DEFAULTS: TokenCacheSettings = { entries: 1000, ttlMs: 60_000, sweepMs: 1000, overlapMs: 60_000 };

const PREFIX = "kw_";
const REFUSAL = "the bearer token is unknown, expired or revoked";

function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/**
 * API tokens: 256 random bits, shown once, stored only as a SHA-256 hash.
 *
 * A serving instance (`watch`) keeps the tokens it authenticated in memory for a short time: the
 * lookup was one database round trip on every API request (on PostgreSQL one of the 9 of an issued
 * certificate). A revocation must still be refused at once everywhere, so the cache lives only
 * while its invalidation runs: the revoking instance drops the token itself and sends a notice
 * (PostgreSQL), and every instance asks storage each second which tokens were revoked lately (the
 * only channel between SQLite workers, or from the CLI; the backstop for missed notices), as the
 * OCSP cache does. The TTL bounds whatever both missed.
 */
export class TokenService {
  private readonly settings: TokenCacheSettings;
  /** By token hash; insertion order is age (a refreshed entry is put back at the end). */
  private readonly cache = new Map<string, { record: ApiTokenRecord; until: number }>();
  private watching: { timer: NodeJS.Timeout } | undefined;

  constructor(
    private readonly deps: {
      store: TokenStore;
      clock: Clock;
      notices?: TokenNotices;
      logger?: Logger;
      cache?: Partial<TokenCacheSettings>;
    },
  ) {
    this.settings = { ...CACHE_DEFAULTS, ...deps.cache };
  }

  /**
   * Starts the cache and its invalidation: the notices and the sweep. Until then (CLI commands,
   * tests that compose without serving) every request reads storage.
   */
  watch(): Background {
    return {
      start: () => {
        if (this.watching) return;
        let since = this.deps.clock.now();
        const sweep = async () => {
          const from = new Date(since.getTime() - this.settings.overlapMs);
          since = this.deps.clock.now();
          // Nothing held, nothing to drop: an idle instance costs no query.
          if (!this.cache.size) return;
          for (const id of await this.deps.store.revokedSince(from)) this.forget(id);
        };
        const timer = setInterval(
          () => void sweep().catch((error) => this.deps.logger?.warn({ err: error }, "API token sweep failed")),
          this.settings.sweepMs,
        );
        timer.unref();
        this.watching = { timer };
        void this.deps.notices
          ?.subscribe(CHANNEL, (id) => this.forget(id))
          .catch((error) =>
            this.deps.logger?.warn({ err: error }, "cannot listen for API token changes; the sweep remains"),
          );
      },
      stop: () => {
        if (this.watching) clearInterval(this.watching.timer);
        this.watching = undefined;
        this.cache.clear();
      },
    };
  }

  /** Drops a token from memory: its next request is checked against storage. */
  private forget(id: string): void {
    for (const [hash, entry] of this.cache) if (entry.record.id === id) this.cache.delete(hash);
  }

  /** Tokens held in memory (tests, diagnostics). */
  get cached(): number {
    return this.cache.size;
  }

  async create(
    options: { role: string; name?: string; expiresInDays?: number; scopes?: UserScopes; clientCertSerial?: string },
    actor: Actor,
  ): Promise<{
    token: string;
    record: ApiTokenRecord;
  }> {
    if (!isRole(options.role)) {
      throw new BadRequestError(`unknown role "${options.role}"; roles are ${ROLES.join(", ")}`);
    }
    const now = this.deps.clock.now();
    const token = PREFIX + randomBytes(32).toString("base64url");
    const record: ApiTokenRecord = {
      id: randomUUID(),
      name: options.name ?? `${options.role}-token`,
      role: options.role,
      createdAt: now,
      expiresAt: options.expiresInDays ? addDays(now, options.expiresInDays) : null,
      lastUsedAt: null,
      revokedAt: null,
      scopes: options.scopes ?? {},
      clientCertSerial: options.clientCertSerial ?? null,
    };
    await this.deps.store.insert(record, hashToken(token), {
      action: "token.create",
      actor,
      target: { type: "api-token", id: record.id },
      outcome: "success",
      details: { name: record.name, role: record.role, expiresAt: record.expiresAt?.toISOString() ?? null },
      at: now,
    });
    return { token, record };
  }

  list(): Promise<ApiTokenRecord[]> {
    return this.deps.store.list();
  }

  async revoke(id: string, actor: Actor): Promise<void> {
    const now = this.deps.clock.now();
    const event: AuditEvent = {
      action: "token.revoke",
      actor,
      target: { type: "api-token", id },
      outcome: "success",
      at: now,
    };
    if (!(await this.deps.store.revoke(id, now, event))) {
      throw new NotFoundError(`no active API token with id ${id}`);
    }
    this.forget(id);
    // The revocation stands; an instance that misses the notice drops the token at its next sweep.
    await this.deps.notices
      ?.publish(CHANNEL, id)
      .catch((error) =>
        this.deps.logger?.warn({ err: error, id }, "cannot notify other instances of a token revocation"),
      );
  }

  /** Resolves a bearer token to its principal; every failure reads the same to the caller. */
  async authenticate(token: string): Promise<Principal> {
    if (!token.startsWith(PREFIX)) return this.principalOf(undefined, REFUSAL);
    const hash = hashToken(token);
    const held = this.cache.get(hash);
    if (held && held.until > this.deps.clock.now().getTime()) return this.principalOf(held.record, REFUSAL);
    if (held) this.cache.delete(hash);
    const record = await this.deps.store.findByHash(hash);
    const principal = await this.principalOf(record, REFUSAL);
    // Only tokens that were accepted are held; unknown and revoked ones are read every time.
    if (this.watching && record) {
      if (this.cache.size >= this.settings.entries) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(hash, { record, until: this.deps.clock.now().getTime() + this.settings.ttlMs });
    }
    return principal;
  }

  /**
   * mTLS: a client certificate that chained to our CA (checked by the TLS layer) and is still valid
   * in our records (checked by the caller) stands for the token bound to its serial.
   */
  async authenticateCertificate(serial: string): Promise<Principal> {
    const record = await this.deps.store.findByClientCertificate(serial);
    return this.principalOf(record, `client certificate ${serial} is not bound to an active API token`);
  }

  private async principalOf(record: ApiTokenRecord | undefined, refusal: string): Promise<Principal> {
    const now = this.deps.clock.now();
    if (!record || record.revokedAt || (record.expiresAt && record.expiresAt <= now)) {
      throw new UnauthorizedError(refusal);
    }
    // Last-used time is advisory: minute resolution keeps it from costing a write per request.
    if (!record.lastUsedAt || now.getTime() - record.lastUsedAt.getTime() > 60_000) {
      await this.deps.store.touch(record.id, now);
      // A held record is this instance's view of it: the next touch is due a minute from now.
      record.lastUsedAt = now;
    }
    return { id: record.id, name: record.name, role: record.role, kind: "token", scopes: record.scopes };
  }
}
