import { randomBytes } from "node:crypto";
import type { Actor, AuditEvent } from "../audit/index.js";
import type { Clock } from "../clock/index.js";
import { BadRequestError, NotFoundError, UnauthorizedError } from "../errors/index.js";
import { generateTotpSecret, otpauthUri, verifyTotpWithMac } from "./totp.js";
import { requireEnrolment, type TotpSeeds, type UserRecord, type UserStore } from "./users.js";

/** The token holds seeds; enrolment also removes the one it replaces. */
export interface EnrolmentSeeds extends TotpSeeds {
  destroySecretKey(uri: string): Promise<void>;
}

/**
 * Getting a second factor back: after a recovery-code login (or when an admin says so) a person
 * enrols a new authenticator — a new seed generated into the token, confirmed with a code from
 * the new app before it replaces the old one. Every step is audited.
 */
export class TotpEnrolment {
  constructor(
    private readonly deps: {
      store: UserStore;
      seeds: EnrolmentSeeds;
      clock: Clock;
      issuer?: string;
    },
  ) {}

  /** An admin makes a person enrol again at their next login (a lost or shared phone). */
  async force(userId: string, actor: Actor): Promise<UserRecord> {
    const user = await this.user(userId);
    await requireEnrolment(this.deps.store, user, actor, `required by ${actor.name}`, this.deps.clock.now());
    return this.user(userId);
  }

  /** A new seed, pending until confirmed: the otpauth URI to show once (QR code). */
  async begin(userId: string, actor: Actor): Promise<{ otpauthUri: string }> {
    const user = await this.user(userId);
    const { uri, keyUri } = await this.newSeed(user);
    await this.deps.store.setPendingTotp(user.id, keyUri, this.event("user.totp.enrol-begin", user, actor));
    // A pending seed that is replaced before confirmation is of no use to anyone.
    if (user.totpPendingKeyUri) await this.destroy(user.totpPendingKeyUri);
    return { otpauthUri: uri };
  }

  /** The first code from the new authenticator: the new seed replaces the old one. */
  async confirm(userId: string, otp: string, actor: Actor): Promise<UserRecord> {
    const user = await this.user(userId);
    const pending = user.totpPendingKeyUri;
    if (!pending)
      throw new BadRequestError("no authenticator is being enrolled: start with POST /api/v1/auth/totp/enrol");
    const result = await verifyTotpWithMac((c) => this.deps.seeds.hmacSha1(pending, c), otp, this.deps.clock.now());
    if (!result.ok) throw new UnauthorizedError("the code does not match the new authenticator");
    // The confirming code counts as used: it cannot log in a second time.
    await this.deps.store.completeTotpEnrolment(
      user.id,
      pending,
      result.step,
      this.event("user.totp.enrol", user, actor),
    );
    await this.destroy(user.totpKeyUri);
    return this.user(userId);
  }

  /** The local operator (CLI) replaces a person's seed at once and hands over the QR code. */
  async replaceNow(userId: string, actor: Actor): Promise<{ user: UserRecord; otpauthUri: string }> {
    const user = await this.user(userId);
    const { uri, keyUri } = await this.newSeed(user);
    await this.deps.store.completeTotpEnrolment(user.id, keyUri, null, this.event("user.totp.reset", user, actor));
    await this.destroy(user.totpKeyUri);
    return { user: await this.user(userId), otpauthUri: uri };
  }

  private async newSeed(user: UserRecord) {
    const seed = generateTotpSecret();
    try {
      const keyUri = await this.deps.seeds.importHmacKey(seed, `totp-${user.name}-${randomBytes(4).toString("hex")}`);
      return { keyUri, uri: otpauthUri({ issuer: this.deps.issuer ?? "Keyward", account: user.name, secret: seed }) };
    } finally {
      seed.fill(0);
    }
  }

  /** The old seed may be gone already (the reason for enrolling): that is fine. */
  private async destroy(uri: string) {
    await this.deps.seeds.destroySecretKey(uri).catch(() => undefined);
  }

  private async user(id: string) {
    const user = await this.deps.store.byId(id);
    if (!user) throw new NotFoundError(`no user with id ${id}`);
    return user;
  }

  private event(action: string, user: UserRecord, actor: Actor): AuditEvent {
    return {
      action,
      actor,
      target: { type: "user", id: user.id },
      outcome: "success",
      details: { name: user.name },
      at: this.deps.clock.now(),
    };
  }
}
