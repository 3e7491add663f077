import { createHash, randomBytes, randomUUID } from "node:crypto";
import type { Actor, AuditEvent } from "../audit/index.js";
import type { Clock } from "../clock/index.js";
import {
  BadRequestError,
  ConflictError,
  NotFoundError,
  HsmKeyNotFoundError,
  TooManyRequestsError,
  UnauthorizedError,
} from "../errors/index.js";
import { lockoutAfterFailure } from "./lockout.js";
import { type LoginRefusal, LoginThrottle, type LoginThrottleSettings } from "./login-throttle.js";
import type { Principal, UserScopes } from "./principal.js";
import { checkPasswordStrength, hashPassword, verifyPassword } from "./password.js";
import { generateRecoveryCodes, hashRecoveryCodes, matchRecoveryCode } from "./recovery-codes.js";
import { isRole, ROLES, type Role } from "./roles.js";
import { generateTotpSecret, otpauthUri, verifyTotpWithMac } from "./totp.js";

export interface UserRecord {
  id: string;
  name: string;
  role: Role;
  passwordHash: string;
  totpKeyUri: string;
  totpLastStep: number | null;
  failedAttempts: number;
  lockedUntil: Date | null;
  scopes: UserScopes;
  createdAt: Date;
  disabledAt: Date | null;
  /** Set by a recovery-code login or an admin: sessions may do nothing but enrol a new authenticator. */
  totpEnrolmentRequired: boolean;
  /** A seed enrolled but not yet confirmed with a code from the new authenticator. */
  totpPendingKeyUri: string | null;
}

export interface SessionRecord {
  id: string;
  userId: string;
  createdAt: Date;
  expiresAt: Date;
  revokedAt: Date | null;
}

export interface UserStore {
  /** Stores a new user with the salted hashes of their recovery codes; ConflictError when the name is taken. */
  insert(user: UserRecord, recoveryCodeHashes: string[], audit: AuditEvent): Promise<void>;
  byName(name: string): Promise<UserRecord | undefined>;
  byId(id: string): Promise<UserRecord | undefined>;
  list(): Promise<UserRecord[]>;
  /** Counts a failed login in the database and sets the lock `lockFor(newCount)` decides. */
  registerFailure(
    id: string,
    lockFor: (failedAttempts: number) => Date | null,
    audit: AuditEvent,
  ): Promise<Date | null>;
  /** Marks a TOTP step used; false when it (or a later one) was used already: one code, one use. */
  consumeTotpStep(id: string, step: number): Promise<boolean>;
  /** The stored (salted) hashes of the person's recovery codes not used yet. */
  unusedRecoveryCodes(id: string): Promise<string[]>;
  /** Marks an unused recovery code (its stored hash) used; false when unknown or used meanwhile. */
  consumeRecoveryCode(id: string, codeHash: string, at: Date): Promise<boolean>;
  /** Resets the failure count and opens a session, with the login's audit event. */
  openSession(session: SessionRecord, tokenHash: string, audit: AuditEvent): Promise<void>;
  sessionByTokenHash(tokenHash: string): Promise<SessionRecord | undefined>;
  revokeSession(id: string, at: Date, audit: AuditEvent): Promise<boolean>;
  setRole(id: string, role: Role, audit: AuditEvent): Promise<void>;
  /** From now on the person must enrol a new authenticator before doing anything else. */
  requireTotpEnrolment(id: string, audit: AuditEvent): Promise<void>;
  setPendingTotp(id: string, keyUri: string, audit: AuditEvent): Promise<void>;
  /** The new seed replaces the old one and the requirement ends; `usedStep`: the confirming code's. */
  completeTotpEnrolment(id: string, keyUri: string, usedStep: number | null, audit: AuditEvent): Promise<void>;
}

/** The token keeps each person's TOTP seed: it is imported once and only ever used by handle. */
export interface TotpSeeds {
  importHmacKey(value: Buffer, label: string): Promise<string>;
  hmacSha1(uri: string, data: Uint8Array): Promise<Buffer>;
}

/** A person's TOTP seed is gone from the token (a restore without it): say what to do, not "HSM down". */
export function seedMissing(error: unknown, user: UserRecord): never {
  if (error instanceof HsmKeyNotFoundError) {
    throw new UnauthorizedError(
      `the authenticator seed of ${user.name} is not in the token (e.g. after a restore without the token): log in with a recovery code, then enrol a new authenticator`,
    );
  }
  throw error;
}

/** Marks a person as having to enrol a new authenticator, audited with why. */
export function requireEnrolment(store: UserStore, user: UserRecord, actor: Actor, reason: string, at: Date) {
  return store.requireTotpEnrolment(user.id, {
    action: "user.totp.required",
    actor,
    target: { type: "user", id: user.id },
    outcome: "success",
    details: { name: user.name, reason },
    at,
  });
}

export interface LoginContext {
  requestId?: string;
  address?: string;
}

const SESSION_PREFIX = "kws_";
const hashToken = (token: string) => createHash("sha256").update(token).digest("hex");
/** Compared against when the name is unknown, so a wrong name costs as long as a wrong password. */
let decoyHash: Promise<string> | undefined;

/**
 * People: password (scrypt) plus TOTP whose seed lives in the HSM, short-lived sessions, lockout
 * with back-off, single-use recovery codes, and fresh TOTP codes for sensitive operations.
 */
export class UserService {
  constructor(
    private readonly deps: {
      store: UserStore;
      seeds: TotpSeeds;
      clock: Clock;
      sessionMinutes: number;
      issuer?: string;
      throttle?: LoginThrottleSettings;
      /** A login refused by the throttle: no hash, no database write; the caller may summarize them. */
      onThrottled?: (source: string, scope: "source" | "global") => void;
    },
  ) {
    this.throttle = new LoginThrottle(deps.throttle, deps.clock.now().getTime());
  }

  private readonly throttle: LoginThrottle;

  async create(
    input: { name: string; role: string; password: string; scopes?: UserScopes },
    actor: Actor,
  ): Promise<{ user: UserRecord; otpauthUri: string; recoveryCodes: string[] }> {
    if (!/^[a-z0-9][a-z0-9._@-]{1,63}$/.test(input.name)) {
      throw new BadRequestError("user names are 2-64 lowercase letters, digits, dots, dashes, underscores or @");
    }
    if (!isRole(input.role)) throw new BadRequestError(`unknown role "${input.role}"; roles are ${ROLES.join(", ")}`);
    checkPasswordStrength(input.password);
    if (await this.deps.store.byName(input.name))
      throw new ConflictError(`a user named "${input.name}" already exists`);
    const now = this.deps.clock.now();
    const seed = generateTotpSecret();
    let totpKeyUri: string;
    try {
      totpKeyUri = await this.deps.seeds.importHmacKey(seed, `totp-${input.name}-${randomBytes(4).toString("hex")}`);
      const uri = otpauthUri({ issuer: this.deps.issuer ?? "Keyward", account: input.name, secret: seed });
      const recoveryCodes = generateRecoveryCodes(10);
      const user: UserRecord = {
        id: randomUUID(),
        name: input.name,
        role: input.role,
        passwordHash: await hashPassword(input.password),
        totpKeyUri,
        totpLastStep: null,
        failedAttempts: 0,
        lockedUntil: null,
        scopes: input.scopes ?? {},
        createdAt: now,
        disabledAt: null,
        totpEnrolmentRequired: false,
        totpPendingKeyUri: null,
      };
      await this.deps.store.insert(user, await hashRecoveryCodes(recoveryCodes), {
        action: "user.create",
        actor,
        target: { type: "user", id: user.id },
        outcome: "success",
        details: { name: user.name, role: user.role },
        at: now,
      });
      return { user, otpauthUri: uri, recoveryCodes };
    } finally {
      seed.fill(0);
    }
  }

  list(): Promise<UserRecord[]> {
    return this.deps.store.list();
  }

  async get(id: string): Promise<UserRecord> {
    const user = await this.deps.store.byId(id);
    if (!user) throw new NotFoundError(`no user with id ${id}`);
    return user;
  }

  /**
   * Password and a TOTP code (or a recovery code) → a session token. Every failure reads the same
   * to the caller; the audit log records which check failed.
   */
  async login(
    input: { name: string; password: string; otp?: string; recoveryCode?: string },
    context: LoginContext = {},
  ): Promise<{ token: string; expiresAt: Date; user: UserRecord }> {
    const now = this.deps.clock.now();
    const source = context.address ?? "unknown";
    const refused = this.throttle.admit(source, now.getTime());
    if (refused) throw this.refuse(source, refused);
    const user = await this.deps.store.byName(input.name);
    const actor: Actor = {
      id: user?.id ?? "anonymous",
      name: user?.name ?? "anonymous",
      kind: user ? "user" : "anonymous",
      ...context,
    };
    const event = (outcome: "success" | "denied", reason?: string): AuditEvent => ({
      action: "auth.login",
      actor,
      target: { type: "user", id: user?.id ?? input.name.slice(0, 64) },
      outcome,
      ...(reason ? { details: { reason } } : {}),
      at: now,
    });
    const wrong = new UnauthorizedError("the name, password or one-time code is wrong");
    if (!user || user.disabledAt) {
      decoyHash ??= hashPassword(randomBytes(16).toString("hex"));
      await verifyPassword(input.password, await decoyHash);
      await this.deps.store.registerFailure(
        user?.id ?? "",
        () => null,
        event("denied", user ? "disabled" : "unknown user"),
      );
      throw wrong;
    }
    if (user.lockedUntil && user.lockedUntil > now) {
      await this.deps.store.registerFailure(user.id, () => user.lockedUntil, event("denied", "locked"));
      throw this.locked(user.lockedUntil, now);
    }
    const failure = async (reason: string) => {
      const until = await this.deps.store.registerFailure(
        user.id,
        (attempts) => lockoutAfterFailure(attempts, now),
        event("denied", reason),
      );
      if (until && until > now) throw this.locked(until, now);
      throw wrong;
    };
    if (!(await verifyPassword(input.password, user.passwordHash))) return failure("wrong password");
    if (input.recoveryCode !== undefined) {
      const stored = await matchRecoveryCode(input.recoveryCode, await this.deps.store.unusedRecoveryCodes(user.id));
      if (!stored || !(await this.deps.store.consumeRecoveryCode(user.id, stored, now)))
        return failure("wrong or used recovery code");
      // A recovery code means the authenticator is lost (or its seed is: a restore without the
      // token): the session is good only for enrolling a new one.
      await requireEnrolment(this.deps.store, user, actor, "login with a recovery code", now);
      user.totpEnrolmentRequired = true;
    } else if (!(await this.checkTotp(user, input.otp))) {
      return failure(input.otp ? "wrong or replayed TOTP code" : "no TOTP code");
    }
    const token = SESSION_PREFIX + randomBytes(32).toString("base64url");
    const session: SessionRecord = {
      id: randomUUID(),
      userId: user.id,
      createdAt: now,
      expiresAt: new Date(now.getTime() + this.deps.sessionMinutes * 60_000),
      revokedAt: null,
    };
    await this.deps.store.openSession(session, hashToken(token), {
      ...event("success"),
      details: { session: session.id, method: input.recoveryCode !== undefined ? "recovery-code" : "totp" },
    });
    this.throttle.refund(source);
    return { token, expiresAt: session.expiresAt, user };
  }

  /**
   * The refusal a login from `address` would get from the throttle now, or undefined: lets the
   * HTTP edge answer a flood before reading or parsing anything (login() checks again).
   */
  throttled(address: string): TooManyRequestsError | undefined {
    const refused = this.throttle.check(address, this.deps.clock.now().getTime());
    return refused && this.refuse(address, refused);
  }

  private refuse(source: string, refused: LoginRefusal): TooManyRequestsError {
    this.deps.onThrottled?.(source, refused.scope);
    return new TooManyRequestsError(
      `too many failed logins from ${refused.scope === "source" ? "this address" : "all addresses"}: retry in ${refused.retryAfter} s`,
      refused.retryAfter,
    );
  }

  isSessionToken(token: string): boolean {
    return token.startsWith(SESSION_PREFIX);
  }

  /** Session token → principal; expired, revoked or unknown sessions read the same. */
  async authenticate(token: string): Promise<Principal & { sessionId: string }> {
    const session = this.isSessionToken(token) ? await this.deps.store.sessionByTokenHash(hashToken(token)) : undefined;
    const now = this.deps.clock.now();
    const user =
      session && !session.revokedAt && session.expiresAt > now && (await this.deps.store.byId(session.userId));
    if (!session || !user || user.disabledAt) throw new UnauthorizedError("the session is unknown, expired or ended");
    return {
      id: user.id,
      name: user.name,
      role: user.role,
      kind: "user",
      scopes: user.scopes,
      sessionId: session.id,
      ...(user.totpEnrolmentRequired ? { totpEnrolmentRequired: true } : {}),
    };
  }

  async logout(sessionId: string, actor: Actor): Promise<void> {
    const now = this.deps.clock.now();
    await this.deps.store.revokeSession(sessionId, now, {
      action: "auth.logout",
      actor,
      target: { type: "session", id: sessionId },
      outcome: "success",
      at: now,
    });
  }

  /** Step-up for sensitive operations: a fresh TOTP code of this user, used once. */
  async stepUp(userId: string, otp: string | undefined): Promise<void> {
    const user = await this.get(userId);
    if (!otp) throw new UnauthorizedError("this operation needs a fresh one-time code in the X-Keyward-OTP header");
    if (!(await this.checkTotp(user, otp)))
      throw new UnauthorizedError("the one-time code is wrong or was already used");
  }

  async setRole(id: string, role: string, actor: Actor): Promise<UserRecord> {
    if (!isRole(role)) throw new BadRequestError(`unknown role "${role}"; roles are ${ROLES.join(", ")}`);
    const user = await this.get(id);
    await this.deps.store.setRole(id, role, {
      action: "user.role",
      actor,
      target: { type: "user", id },
      outcome: "success",
      details: { from: user.role, to: role },
      at: this.deps.clock.now(),
    });
    return this.get(id);
  }

  private async checkTotp(user: UserRecord, otp: string | undefined): Promise<boolean> {
    if (!otp) return false;
    const result = await verifyTotpWithMac(
      (counter) => this.deps.seeds.hmacSha1(user.totpKeyUri, counter).catch((error) => seedMissing(error, user)),
      otp,
      this.deps.clock.now(),
      { lastUsedStep: user.totpLastStep ?? undefined },
    );
    // The database has the last word on reuse: two logins with one code cannot both pass.
    return result.ok && (await this.deps.store.consumeTotpStep(user.id, result.step));
  }

  private locked(until: Date, now: Date): TooManyRequestsError {
    const seconds = Math.ceil((until.getTime() - now.getTime()) / 1000);
    return new TooManyRequestsError(`too many failed logins: try again after ${until.toISOString()}`, seconds);
  }
}
