import { createHash, randomBytes, randomUUID } from "node:crypto";
import { addDays, type Clock } from "../clock/index.js";
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
}

const PREFIX = "kw_";

function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/** API tokens: 256 random bits, shown once, stored only as a SHA-256 hash. */
export class TokenService {
  constructor(private readonly deps: { store: TokenStore; clock: Clock }) {}

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
  }

  /** Resolves a bearer token to its principal; every failure reads the same to the caller. */
  async authenticate(token: string): Promise<Principal> {
    const record = token.startsWith(PREFIX) ? await this.deps.store.findByHash(hashToken(token)) : undefined;
    return this.principalOf(record, "the bearer token is unknown, expired or revoked");
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
    }
    return { id: record.id, name: record.name, role: record.role, kind: "token", scopes: record.scopes };
  }
}
