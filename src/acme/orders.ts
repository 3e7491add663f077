import type { Actor } from "../audit/index.js";
import { acmeActor } from "./service.js";
import { createPublicKey, randomBytes } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { isIP } from "node:net";
import { calculateJwkThumbprint, type JWK } from "jose";
import type { Logger } from "pino";
import type { Clock } from "../clock/index.js";
import { BadRequestError, KeywardError } from "../errors/index.js";
import { parseCsr, type IssuanceService } from "../issuance/index.js";
import { canonicalDnsName, canonicalIp, matchesPattern } from "../issuance/names.js";
import { certificatePem } from "../pki/pem.js";
import { reasonName, type RevocationService } from "../revocation/index.js";
import type { AcmeAccount, AcmeAuthorization, AcmeChallenge, AcmeOrder, AcmeOrderStore, Identifier } from "./ports.js";
import { AcmeError, acmeTypeOf } from "./problems.js";
import { Resolver } from "node:dns/promises";
import { checkCaa } from "./caa.js";
import type { RateLimits } from "./rate-limits.js";
import {
  resolverFor,
  type ValidationSettings,
  validateDns01,
  validateHttp01,
  validateTlsAlpn01,
} from "./validation.js";

export interface OrderSettings extends ValidationSettings {
  orderLifetimeHours: number;
  /** RFC 8659 CAA checks (off only for private zones that cannot carry CAA records). */
  checkCaa: boolean;
  caaIdentities: readonly string[];
  /** How long a validated authorization stays valid, and reusable by new orders of the account. */
  validAuthorizationHours: number;
  /** How long a challenge POST waits for validation before answering "processing". */
  answerWithinMs: number;
  maxIdentifiers: number;
  /** The certificate profile ACME orders use. */
  profile: string;
}

const newId = () => randomBytes(12).toString("base64url");

/** Reasons a subscriber may give over ACME (RFC 8555 §7.6 with RFC 5280 codes). */
const ACME_REASONS = new Set([0, 1, 3, 4, 5, 9]);

/**
 * Orders, authorizations, challenges and finalize (RFC 8555 §7.4-7.5). Validation starts when the
 * challenge is posted; when it finishes quickly the answer already shows the final state.
 */
export class AcmeOrders {
  constructor(
    private readonly deps: {
      store: AcmeOrderStore;
      issuance: IssuanceService;
      clock: Clock;
      baseUrl: string;
      settings: OrderSettings;
      forbiddenNames: readonly string[];
      revocation: RevocationService;
      rateLimits: RateLimits;
      /** Certificate profiles ACME clients may choose: name → description. */
      profiles: () => Record<string, string>;
      logger?: Logger;
    },
  ) {}

  url(path: string): string {
    return `${this.deps.baseUrl}/acme/${path}`;
  }

  async newOrder(account: AcmeAccount, payload: unknown): Promise<AcmeOrder> {
    const identifiers = this.identifiers(payload);
    const profile = this.profileOf(payload);
    const replaces = await this.replacedCertId(account, payload);
    await this.deps.rateLimits.chargeNewOrder(
      account.id,
      identifiers.filter((i) => i.type === "dns").map((i) => i.value),
    );
    const now = this.deps.clock.now();
    const expiresAt = new Date(now.getTime() + this.deps.settings.orderLifetimeHours * 3_600_000);
    const authorizationIds: string[] = [];
    const created: AcmeAuthorization[] = [];
    for (const requested of identifiers) {
      const wildcard = requested.value.startsWith("*.");
      const identifier: Identifier = wildcard ? { type: "dns", value: requested.value.slice(2) } : requested;
      // A valid authorization of this account that outlives the order is reused (RFC 8555 §7.1.4).
      const reused = await this.deps.store.reusableAuthorization(account.id, identifier, wildcard, expiresAt);
      if (reused) {
        authorizationIds.push(reused);
        continue;
      }
      const id = newId();
      // Wildcards can only be proven through DNS; IP addresses only over HTTP (RFC 8738).
      const types: AcmeChallenge["type"][] = wildcard
        ? ["dns-01"]
        : identifier.type === "ip"
          ? ["http-01"]
          : ["http-01", "dns-01", "tls-alpn-01"];
      created.push({
        id,
        accountId: account.id,
        identifier,
        wildcard,
        status: "pending",
        expiresAt,
        challenges: types.map((type) => ({
          id: newId(),
          authorizationId: id,
          type,
          token: randomBytes(32).toString("base64url"),
          status: "pending",
          validatedAt: null,
          error: null,
        })),
      });
      authorizationIds.push(id);
    }
    const order: AcmeOrder = {
      id: newId(),
      accountId: account.id,
      status: created.length === 0 ? "ready" : "pending",
      identifiers,
      authorizationIds,
      profile,
      expiresAt,
      createdAt: now,
      certificateSerial: null,
      error: null,
      replaces,
    };
    await this.deps.store.createOrder(order, created);
    return order;
  }

  async order(account: AcmeAccount, id: string): Promise<AcmeOrder> {
    const order = await this.deps.store.order(id);
    if (!order) throw new AcmeError("malformed", `no order ${id}`, undefined, 404);
    if (order.accountId !== account.id) throw new AcmeError("unauthorized", "the order belongs to another account");
    // An unfinished order past its expiry is invalid (RFC 8555 §7.1.6); the database records it.
    if ((order.status === "pending" || order.status === "ready") && order.expiresAt <= this.deps.clock.now()) {
      const error = { type: "urn:ietf:params:acme:error:malformed", status: 400, detail: "the order expired" };
      await this.deps.store.setOrder(order.id, [order.status], { status: "invalid", error });
      return (await this.deps.store.order(order.id))!;
    }
    return order;
  }

  /** The account's unfinished orders (RFC 8555 §7.1.2.1). */
  async ordersOf(account: AcmeAccount): Promise<string[]> {
    return (await this.deps.store.ordersOfAccount(account.id, 1000)).map((id) => this.url(`order/${id}`));
  }

  async authorization(account: AcmeAccount, id: string): Promise<AcmeAuthorization> {
    const authz = await this.deps.store.authorization(id);
    if (!authz) throw new AcmeError("malformed", `no authorization ${id}`, undefined, 404);
    if (authz.accountId !== account.id)
      throw new AcmeError("unauthorized", "the authorization belongs to another account");
    if (authz.status === "pending" && authz.expiresAt <= this.deps.clock.now()) {
      await this.deps.store.setAuthorization(authz.id, "expired");
      return { ...authz, status: "expired" };
    }
    return authz;
  }

  async challenge(account: AcmeAccount, challengeId: string): Promise<AcmeChallenge> {
    const challenge = await this.deps.store.challenge(challengeId);
    if (!challenge) throw new AcmeError("malformed", `no challenge ${challengeId}`, undefined, 404);
    await this.authorization(account, challenge.authorizationId);
    return challenge;
  }

  /** Starts validation of a challenge and waits briefly for it, so fast validations answer final. */
  async respondToChallenge(
    account: AcmeAccount,
    challengeId: string,
  ): Promise<{ challenge: AcmeChallenge; done: boolean }> {
    const challenge = await this.deps.store.challenge(challengeId);
    if (!challenge) throw new AcmeError("malformed", `no challenge ${challengeId}`, undefined, 404);
    const authz = await this.authorization(account, challenge.authorizationId);
    if (
      authz.status === "pending" &&
      (await this.deps.store.setChallenge(challenge.id, ["pending"], "processing", null, this.deps.clock.now()))
    ) {
      const keyAuthorization = `${challenge.token}.${await calculateJwkThumbprint(account.jwk, "sha256")}`;
      const validation = this.validate(authz, challenge, keyAuthorization);
      await Promise.race([validation, new Promise((r) => setTimeout(r, this.deps.settings.answerWithinMs).unref())]);
    }
    const current = (await this.deps.store.challenge(challengeId))!;
    return { challenge: current, done: current.status !== "processing" };
  }

  private async validate(authz: AcmeAuthorization, challenge: AcmeChallenge, keyAuthorization: string): Promise<void> {
    const now = () => this.deps.clock.now();
    let outcome: { valid: true; validUntil: Date } | { valid: false; error: unknown };
    try {
      if (challenge.type === "http-01")
        await validateHttp01(authz.identifier, challenge.token, keyAuthorization, this.deps.settings);
      else if (challenge.type === "dns-01") await validateDns01(authz.identifier, keyAuthorization, this.deps.settings);
      else await validateTlsAlpn01(authz.identifier, keyAuthorization, this.deps.settings);
      if (this.deps.settings.checkCaa && authz.identifier.type === "dns") {
        const resolver =
          resolverFor(this.deps.settings) ?? new Resolver({ timeout: this.deps.settings.timeoutMs, tries: 2 });
        await checkCaa(resolver, authz.identifier.value, authz.wildcard, this.deps.settings.caaIdentities);
      }
      outcome = {
        valid: true,
        validUntil: new Date(now().getTime() + this.deps.settings.validAuthorizationHours * 3_600_000),
      };
    } catch (error) {
      const problem = problemOf(error);
      if (problem.type === "urn:ietf:params:acme:error:serverInternal")
        this.deps.logger?.error({ err: error }, "ACME validation failed");
      outcome = { valid: false, error: problem };
    }
    // Challenge, authorization and orders change together: a crash between them would leave an
    // authorization pending whose challenge can no longer be answered.
    await this.deps.store
      .concludeValidation({ challengeId: challenge.id, authorizationId: authz.id, at: now(), ...outcome })
      .catch((error) => this.deps.logger?.error({ err: error }, "ACME validation outcome not recorded"));
  }

  /** RFC 8555 §7.4: the CSR must name exactly the order's identifiers; issuance is the admin API's. */
  async finalize(account: AcmeAccount, orderId: string, payload: unknown): Promise<AcmeOrder> {
    const order = await this.order(account, orderId);
    if (order.status !== "ready") {
      throw new AcmeError(
        "orderNotReady",
        `the order is ${order.status}, not ready: complete its authorizations first`,
      );
    }
    const csrText = (payload as { csr?: unknown } | undefined)?.csr;
    if (typeof csrText !== "string" || !/^[A-Za-z0-9_-]+$/.test(csrText))
      throw new AcmeError("malformed", "finalize needs a base64url DER csr");
    const der = Buffer.from(csrText, "base64url");
    const csr = await parseCsr(der).catch((error) => {
      throw new AcmeError("badCSR", (error as Error).message);
    });
    const wanted = new Set(order.identifiers.map((i) => `${i.type}:${i.value}`));
    const requested = new Set(csrNames(csr.sans, csr.commonName));
    const same = wanted.size === requested.size && [...wanted].every((n) => requested.has(n));
    if (!same) {
      throw new AcmeError(
        "badCSR",
        `the CSR names (${[...requested].join(", ")}) are not the order's identifiers (${[...wanted].join(", ")})`,
      );
    }
    if (order.replaces && (await this.deps.store.isReplaced(order.replaces, order.id))) {
      throw new AcmeError(
        "alreadyReplaced",
        `the certificate with certID ${order.replaces} was already replaced by another order`,
      );
    }
    if (!(await this.deps.store.setOrder(order.id, ["ready"], { status: "processing" }))) {
      throw new AcmeError("orderNotReady", "the order is being finalized by another request");
    }
    try {
      const issued = await this.deps.issuance.issue({
        csr,
        profile: order.profile,
        actor: acmeActor(account.id),
      });
      await this.deps.store.setOrder(order.id, ["processing"], { status: "valid", certificateSerial: issued.serial });
    } catch (error) {
      // A refused CSR leaves the order ready for another; any other failure ends it.
      const retryable = error instanceof KeywardError && (error.code === "badCSR" || error.code === "policyViolation");
      await this.deps.store.setOrder(
        order.id,
        ["processing"],
        retryable ? { status: "ready" } : { status: "invalid", error: problemOf(error) },
      );
      if (error instanceof KeywardError && error.code === "policyViolation")
        throw new AcmeError("badCSR", error.message);
      throw error;
    }
    return (await this.deps.store.order(order.id))!;
  }

  /**
   * RFC 8555 §7.6: revoke by the account that ordered the certificate (kid) or by the holder of
   * the certificate's key (jwk). Only permanent reasons; certificateHold is not for ACME.
   */
  async revokeCertificate(auth: { account?: AcmeAccount; jwk: JWK }, payload: unknown): Promise<void> {
    const { certificate, reason } = (payload ?? {}) as { certificate?: unknown; reason?: unknown };
    if (typeof certificate !== "string" || !/^[A-Za-z0-9_-]+$/.test(certificate)) {
      throw new AcmeError("malformed", "revokeCert needs the certificate as base64url DER");
    }
    const code = reason === undefined ? 0 : reason;
    if (typeof code !== "number" || !ACME_REASONS.has(code)) {
      throw new AcmeError(
        "badRevocationReason",
        `reason ${JSON.stringify(code)} is not allowed; use 0, 1, 3, 4, 5 or 9`,
      );
    }
    const der = Buffer.from(certificate, "base64url");
    let parsed: x509.X509Certificate;
    try {
      parsed = new x509.X509Certificate(new Uint8Array(der));
    } catch {
      throw new AcmeError("malformed", "the certificate is not a DER X.509 certificate");
    }
    const serial = parsed.serialNumber.toLowerCase().replace(/^(00)+/, "");
    const record = await this.deps.issuance.get(serial).catch(() => undefined);
    if (!record?.certificate?.equals(der)) {
      throw new AcmeError("malformed", "this server did not issue that certificate", undefined, 404);
    }
    if (auth.account) {
      if (!(await this.deps.store.accountOwnsCertificate(auth.account.id, serial))) {
        throw new AcmeError("unauthorized", "this account did not order that certificate");
      }
    } else {
      const spki = createPublicKey({ key: auth.jwk as never, format: "jwk" }).export({ type: "spki", format: "der" });
      if (!spki.equals(Buffer.from(parsed.publicKey.rawData))) {
        throw new AcmeError("unauthorized", "the JWS is not signed by the certificate's key");
      }
    }
    if (record.status === "revoked") throw new AcmeError("alreadyRevoked", `certificate ${serial} is already revoked`);
    await this.deps.revocation.revoke({
      serial,
      reason: reasonName(code)!,
      actor: auth.account
        ? acmeActor(auth.account.id)
        : { id: "acme:certificate-key", name: "acme:certificate-key", kind: "acme" },
    });
  }

  /**
   * RFC 9773 ARI: when to renew a certificate. The window sits at 2/3 to 3/4 of its lifetime; a
   * revoked certificate should be replaced now, so its window has already begun; a window an
   * administrator forced (key compromise, CA rollover) wins over both.
   */
  async renewalInfo(
    certId: string,
  ): Promise<{ suggestedWindow: { start: string; end: string }; explanationURL?: string }> {
    const record = await this.certificateByCertId(certId);
    const now = this.deps.clock.now().getTime();
    const forced = await this.deps.store.renewalWindow(record.serial);
    if (forced) {
      return {
        suggestedWindow: { start: forced.start.toISOString(), end: forced.end.toISOString() },
        ...(forced.explanationUrl ? { explanationURL: forced.explanationUrl } : {}),
      };
    }
    if (record.status === "revoked") {
      return {
        suggestedWindow: { start: new Date(now - 60_000).toISOString(), end: new Date(now + 3_600_000).toISOString() },
      };
    }
    const from = record.notBefore.getTime();
    const lifetime = record.notAfter.getTime() - from;
    return {
      suggestedWindow: {
        start: new Date(from + (lifetime * 2) / 3).toISOString(),
        end: new Date(from + (lifetime * 3) / 4).toISOString(),
      },
    };
  }

  /**
   * Asks clients to renew now: the certificates' ARI window becomes [start, end] (default: the
   * next hour), for the listed serials or for every unexpired certificate of a CA.
   */
  async forceRenewal(
    target: { serials: string[] } | { caId: string },
    options: { start?: Date; end?: Date; explanationUrl?: string; actor: Actor },
  ): Promise<{ certificates: number; window: { start: Date; end: Date } }> {
    const now = this.deps.clock.now();
    const start = options.start ?? now;
    const end = options.end ?? new Date(start.getTime() + 3_600_000);
    if (end <= start) throw new BadRequestError("the renewal window must end after it starts");
    // Unknown serials or CAs are refused (404) rather than silently forcing nothing.
    if ("serials" in target) {
      for (const serial of target.serials) await this.deps.issuance.get(serial);
    } else {
      await this.deps.issuance.issuerKeyIdentifier(target.caId);
    }
    const certificates = await this.deps.store.forceRenewalWindow(
      target,
      { start, end, explanationUrl: options.explanationUrl ?? null },
      now,
      {
        action: "acme.renewal-window.force",
        actor: options.actor,
        target:
          "caId" in target
            ? { type: "ca", id: target.caId }
            : { type: "certificates", id: target.serials.join(",").slice(0, 200) },
        outcome: "success",
        details: { start: start.toISOString(), end: end.toISOString() },
        at: now,
      },
    );
    return { certificates, window: { start, end } };
  }

  /** Removes orders and authorizations that expired more than `retentionHours` ago. */
  cleanup(retentionHours = 7 * 24): Promise<number> {
    return this.deps.store.deleteExpired(new Date(this.deps.clock.now().getTime() - retentionHours * 3_600_000));
  }

  /**
   * RFC 9773 §5: `replaces` names a certificate of this account that no finalized order replaced.
   * Returns its certID in canonical form, so two spellings of one certificate compare equal.
   */
  private async replacedCertId(account: AcmeAccount, payload: unknown): Promise<string | null> {
    const replaces = (payload as { replaces?: unknown } | undefined)?.replaces;
    if (replaces === undefined) return null;
    if (typeof replaces !== "string") throw new AcmeError("malformed", "replaces must be an ARI certID string");
    const record = await this.certificateByCertId(replaces).catch((error: AcmeError) => {
      throw new AcmeError("malformed", `replaces: ${error.message}`);
    });
    if (!(await this.deps.store.accountOwnsCertificate(account.id, record.serial))) {
      throw new AcmeError("unauthorized", "replaces names a certificate this account did not order");
    }
    const certId = await this.canonicalCertId(record);
    if (await this.deps.store.isReplaced(certId)) {
      throw new AcmeError("alreadyReplaced", `certificate ${record.serial} was already replaced by another order`);
    }
    return certId;
  }

  private async canonicalCertId(record: { serial: string; caId: string }): Promise<string> {
    const keyId = Buffer.from((await this.deps.issuance.issuerKeyIdentifier(record.caId)) ?? "", "hex");
    // The serial's DER INTEGER content: a leading zero octet when the high bit is set.
    const serial = Buffer.from(record.serial.length % 2 ? `0${record.serial}` : record.serial, "hex");
    const content = serial[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), serial]) : serial;
    return `${keyId.toString("base64url")}.${content.toString("base64url")}`;
  }

  /** RFC 9773 §4.1: certID = base64url(authority key identifier) "." base64url(serial DER value). */
  private async certificateByCertId(certId: string) {
    const match = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(certId);
    if (!match) throw new AcmeError("malformed", "the certID must be base64url(keyIdentifier).base64url(serial)");
    const keyId = Buffer.from(match[1]!, "base64url").toString("hex");
    const serial = Buffer.from(match[2]!, "base64url")
      .toString("hex")
      .replace(/^(00)+/, "");
    const record = serial ? await this.deps.issuance.get(serial).catch(() => undefined) : undefined;
    const issuerKeyId = record && (await this.deps.issuance.issuerKeyIdentifier(record.caId));
    if (!record?.certificate || issuerKeyId !== keyId)
      throw new AcmeError("malformed", "no certificate has that certID", undefined, 404);
    return record;
  }

  /** The issued certificate with its chain, leaf first (application/pem-certificate-chain). */
  async certificateChain(account: AcmeAccount, orderId: string): Promise<string> {
    const order = await this.order(account, orderId);
    if (!order.certificateSerial) throw new AcmeError("malformed", "the order has no certificate", undefined, 404);
    const record = await this.deps.issuance.get(order.certificateSerial);
    const chain = await this.deps.issuance.chainOf(record.caId);
    return certificatePem(record.certificate!) + chain.map((c) => certificatePem(new Uint8Array(c.rawData))).join("");
  }

  orderView(order: AcmeOrder) {
    return {
      status: order.status,
      expires: order.expiresAt.toISOString(),
      identifiers: order.identifiers,
      authorizations: order.authorizationIds.map((id) => this.url(`authz/${id}`)),
      finalize: this.url(`order/${order.id}/finalize`),
      profile: order.profile,
      ...(order.replaces ? { replaces: order.replaces } : {}),
      ...(order.certificateSerial ? { certificate: this.url(`cert/${order.id}`) } : {}),
      ...(order.error ? { error: order.error } : {}),
    };
  }

  authorizationView(authz: AcmeAuthorization) {
    return {
      status: authz.status,
      expires: authz.expiresAt.toISOString(),
      identifier: authz.identifier,
      challenges: authz.challenges.map((c) => this.challengeView(c)),
      ...(authz.wildcard ? { wildcard: true } : {}),
    };
  }

  challengeView(c: AcmeChallenge) {
    return {
      type: c.type,
      url: this.url(`chall/${c.id}`),
      status: c.status,
      token: c.token,
      ...(c.validatedAt ? { validated: c.validatedAt.toISOString() } : {}),
      ...(c.error ? { error: c.error } : {}),
    };
  }

  /** draft-ietf-acme-profiles: the client may pick one of the profiles in the directory's meta. */
  private profileOf(payload: unknown): string {
    const requested = (payload as { profile?: unknown } | undefined)?.profile;
    if (requested === undefined) return this.deps.settings.profile;
    const offered = this.deps.profiles();
    if (typeof requested !== "string" || !Object.hasOwn(offered, requested)) {
      throw new AcmeError(
        "invalidProfile",
        `profile ${JSON.stringify(requested)} is not offered; profiles are ${Object.keys(offered).join(", ")}`,
      );
    }
    return requested;
  }

  private identifiers(payload: unknown): Identifier[] {
    const list = (payload as { identifiers?: unknown } | undefined)?.identifiers;
    if (!Array.isArray(list) || list.length === 0)
      throw new AcmeError("malformed", "newOrder needs a non-empty identifiers array");
    if (list.length > this.deps.settings.maxIdentifiers) {
      throw new AcmeError("rejectedIdentifier", `at most ${this.deps.settings.maxIdentifiers} identifiers per order`);
    }
    const seen = new Map<string, Identifier>();
    const rejected: AcmeError[] = [];
    const rejectedIdentifiers: Identifier[] = [];
    for (const item of list) {
      const { type, value } = (item ?? {}) as { type?: unknown; value?: unknown };
      if (typeof value !== "string") throw new AcmeError("malformed", "each identifier needs a string value");
      try {
        const identifier = this.identifier(type, value);
        seen.set(`${identifier.type}:${identifier.value}`, identifier);
      } catch (error) {
        rejected.push(error as AcmeError);
        rejectedIdentifiers.push({ type: type as Identifier["type"], value });
      }
    }
    if (rejected.length === 1) throw rejected[0]!;
    if (rejected.length > 1) {
      const type = rejected.every((e) => e.acmeType === rejected[0]!.acmeType) ? rejected[0]!.acmeType : "malformed";
      throw AcmeError.withSubproblems(
        type,
        `${rejected.length} identifiers were refused; see subproblems`,
        rejected,
        rejectedIdentifiers,
      );
    }
    return [...seen.values()];
  }

  private identifier(type: unknown, value: string): Identifier {
    let identifier: Identifier;
    try {
      if (type === "dns") identifier = { type, value: canonicalDnsName(value, true) };
      else if (type === "ip") identifier = { type, value: canonicalIp(value) };
      else
        throw new AcmeError(
          "unsupportedIdentifier",
          `identifier type ${JSON.stringify(type)} is not supported (dns, ip)`,
        );
    } catch (error) {
      if (error instanceof AcmeError) throw error;
      throw new AcmeError("rejectedIdentifier", (error as Error).message);
    }
    if (identifier.type === "dns" && this.deps.forbiddenNames.some((p) => matchesPattern(identifier, p))) {
      throw new AcmeError("rejectedIdentifier", `DNS name "${identifier.value}" is forbidden by policy`);
    }
    return identifier;
  }
}

/** Names a CSR asks for, as `type:value`, with the same CN promotion issuance applies. */
function csrNames(sans: Array<{ type: string; value: string }>, commonName: string | undefined): string[] {
  const names = sans.length ? sans : commonName ? [{ type: isIP(commonName) ? "ip" : "dns", value: commonName }] : [];
  return names.map((n) => {
    try {
      return n.type === "ip"
        ? `ip:${canonicalIp(n.value)}`
        : `${n.type}:${n.type === "dns" ? canonicalDnsName(n.value, true) : n.value}`;
    } catch {
      return `${n.type}:${n.value}`;
    }
  });
}

function problemOf(error: unknown) {
  if (error instanceof KeywardError) {
    const { type, status } = acmeTypeOf(error);
    return {
      type: `urn:ietf:params:acme:error:${type}`,
      status,
      detail: status < 500 ? error.message : "the server failed",
    };
  }
  return { type: "urn:ietf:params:acme:error:serverInternal", status: 500, detail: "the server failed" };
}
