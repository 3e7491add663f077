import type { Logger } from "pino";
import type { Clock } from "../clock/index.js";
import { CaaLookup, checkCaa } from "./caa.js";
import type { AcmeAccount, AcmeAuthorization, AcmeChallenge, AcmeOrderStore } from "./ports.js";
import { AcmeError, recordedProblem } from "./problems.js";
import {
  recordResolver,
  type ValidationSettings,
  validateDns01,
  validateHttp01,
  validateTlsAlpn01,
} from "./validation.js";

export interface AuthorizationSettings extends ValidationSettings {
  /** RFC 8659 CAA checks (off only for private zones that cannot carry CAA records). */
  checkCaa: boolean;
  caaIdentities: readonly string[];
  /** How long a CAA record set, or its absence, is relied on (0: looked up at every validation). */
  caaCacheSeconds: number;
  /** How long a validated authorization stays valid, and reusable by new orders of the account. */
  validAuthorizationHours: number;
  /** How long a challenge POST waits for validation before answering "processing". */
  answerWithinMs: number;
}

type Outcome = { valid: true; validUntil: Date } | { valid: false; error: unknown };

/**
 * Authorizations and their challenges (RFC 8555 §7.5): validation starts when the challenge is
 * posted; when it finishes quickly the answer already shows the final state.
 */
export class AcmeAuthorizations {
  private readonly caa: CaaLookup;

  constructor(
    private readonly deps: {
      store: AcmeOrderStore;
      clock: Clock;
      settings: AuthorizationSettings;
      logger?: Logger;
    },
  ) {
    const { settings, clock } = deps;
    this.caa = new CaaLookup(recordResolver(settings), settings.caaCacheSeconds, () => clock.now().getTime());
  }

  async authorization(account: AcmeAccount, id: string): Promise<AcmeAuthorization> {
    const authz = await this.deps.store.authorization(id);
    if (!authz) throw new AcmeError("malformed", `no authorization ${id}`, undefined, 404);
    return this.own(account, authz);
  }

  /** The account's authorization as it stands now: a pending one past its expiry becomes expired. */
  private async own(account: AcmeAccount, authz: AcmeAuthorization): Promise<AcmeAuthorization> {
    if (authz.accountId !== account.id)
      throw new AcmeError("unauthorized", "the authorization belongs to another account");
    if (authz.status === "pending" && authz.expiresAt <= this.deps.clock.now()) {
      await this.deps.store.setAuthorization(authz.id, "expired");
      return { ...authz, status: "expired" };
    }
    return authz;
  }

  /** POST-as-GET of a challenge: reads it; `done` is false while it is being validated. */
  async challenge(account: AcmeAccount, challengeId: string): Promise<{ challenge: AcmeChallenge; done: boolean }> {
    const { challenge } = await this.ownChallenge(account, challengeId);
    return { challenge, done: challenge.status !== "processing" };
  }

  /** Starts validation of a challenge and waits briefly for it, so fast validations answer final. */
  async respondToChallenge(
    account: AcmeAccount,
    challengeId: string,
  ): Promise<{ challenge: AcmeChallenge; done: boolean }> {
    const { challenge, authz } = await this.ownChallenge(account, challengeId);
    // Nothing to start: the answer is the challenge as this request read it.
    if (authz.status !== "pending") return { challenge, done: challenge.status !== "processing" };
    if (await this.deps.store.startValidation(challenge.id)) {
      const keyAuthorization = `${challenge.token}.${account.thumbprint}`;
      const validation = this.validate(authz, challenge, keyAuthorization);
      const concluded = await Promise.race([
        validation,
        new Promise<undefined>((r) => setTimeout(() => r(undefined), this.deps.settings.answerWithinMs).unref()),
      ]);
      // Recorded in time: the challenge is what the validation wrote, with nothing to read back.
      if (concluded) return { challenge: concluded, done: true };
    }
    // Still being validated, or moved on by another request meanwhile: as it stands now.
    const current = (await this.deps.store.challenge(challengeId))!;
    return { challenge: current, done: current.status !== "processing" };
  }

  /** The challenge and its authorization, when the authorization is the account's. */
  private async ownChallenge(account: AcmeAccount, challengeId: string) {
    // One statement: the authorization carries its challenges, this one among them.
    const found = await this.deps.store.authorizationOfChallenge(challengeId);
    const challenge = found?.challenges.find((c) => c.id === challengeId);
    if (!found || !challenge) throw new AcmeError("malformed", `no challenge ${challengeId}`, undefined, 404);
    return { challenge, authz: await this.own(account, found) };
  }

  /**
   * Validates, then records the outcome; never rejects (a failure is the challenge's error).
   * Resolves with the challenge as recorded, or undefined when nothing was recorded.
   */
  private async validate(
    authz: AcmeAuthorization,
    challenge: AcmeChallenge,
    keyAuthorization: string,
  ): Promise<AcmeChallenge | undefined> {
    const outcome = await this.outcome(authz, challenge, keyAuthorization);
    const at = this.deps.clock.now();
    // Challenge, authorization and orders change together: a crash between them would leave an
    // authorization pending whose challenge can no longer be answered.
    try {
      if (
        !(await this.deps.store.concludeValidation({
          challengeId: challenge.id,
          authorizationId: authz.id,
          accountId: authz.accountId,
          at,
          ...outcome,
        }))
      )
        return undefined;
    } catch (error) {
      // Nobody awaits this past answerWithinMs: the challenge stays processing, the client polls.
      this.deps.logger?.error({ err: error }, "ACME validation outcome not recorded");
      return undefined;
    }
    return outcome.valid
      ? { ...challenge, status: "valid", validatedAt: at, error: null }
      : { ...challenge, status: "invalid", error: outcome.error };
  }

  private async outcome(
    authz: AcmeAuthorization,
    challenge: AcmeChallenge,
    keyAuthorization: string,
  ): Promise<Outcome> {
    const settings = this.deps.settings;
    try {
      if (challenge.type === "http-01")
        await validateHttp01(authz.identifier, challenge.token, keyAuthorization, settings);
      else if (challenge.type === "dns-01") await validateDns01(authz.identifier, keyAuthorization, settings);
      else await validateTlsAlpn01(authz.identifier, keyAuthorization, settings);
      if (settings.checkCaa && authz.identifier.type === "dns") {
        await checkCaa(this.caa, authz.identifier.value, authz.wildcard, settings.caaIdentities);
      }
      return {
        valid: true,
        validUntil: new Date(this.deps.clock.now().getTime() + settings.validAuthorizationHours * 3_600_000),
      };
    } catch (error) {
      // The failure is the challenge's answer to the client; server-side ones are also logged.
      const problem = recordedProblem(error);
      if (problem.status >= 500) this.deps.logger?.error({ err: error }, "ACME validation failed");
      return { valid: false, error: problem };
    }
  }
}
