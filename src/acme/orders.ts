import { publicRandom } from "../pki/public-random.js";
import type { Clock } from "../clock/index.js";
import { KeywardError } from "../errors/index.js";
import { type IssuanceService, parseCsr } from "../issuance/index.js";
import { certificatePem } from "../pki/pem.js";
import { csrNames, orderIdentifiers, type RequestedIdentifier } from "./identifiers.js";
import type { AcmeAccount, AcmeAuthorization, AcmeChallenge, AcmeOrder, AcmeOrderStore, Identifier } from "./ports.js";
import { AcmeError, recordedProblem } from "./problems.js";
import type { RateLimits } from "./rate-limits.js";
import type { AcmeRenewals } from "./renewals.js";
import { acmeActor } from "./service.js";

export interface OrderSettings {
  orderLifetimeHours: number;
  maxIdentifiers: number;
  /** The certificate profile ACME orders use. */
  profile: string;
}

/** A newOrder payload as the edge checked it (RFC 8555 §7.4; profile, replaces: RFC 9773, profiles draft). */
export interface NewOrderRequest {
  identifiers: RequestedIdentifier[];
  profile?: string;
  replaces?: string;
}

/** A finalize payload as the edge checked it: the CSR's DER. */
export interface FinalizeRequest {
  csr: Buffer;
}

/** What orders ask of issuance: issue for a CSR, and the issued certificate with its chain. */
export type OrderIssuance = Pick<IssuanceService, "issue" | "get" | "chainOf">;

/**
 * Order, authorization and challenge ids: the milliseconds since 1970 in hex, then 72 CSPRNG bits
 * (base64url). Time first, so the index of each id takes new rows at its right edge, in a page the
 * previous order wrote, as serials do (pki/serial.ts): a random id dirtied a page of its own in
 * each of four indexes per order. An id grants nothing (every request is checked against its
 * account), and its time says no more than the order's own timestamps.
 */
export const newAcmeId = () => Date.now().toString(16).padStart(12, "0") + publicRandom(9).toString("base64url");

/** draft-ietf-acme-profiles: the refusal of a profile the directory does not offer. */
export function profileNotOffered(requested: unknown, offered: Record<string, string>): AcmeError {
  return new AcmeError(
    "invalidProfile",
    `profile ${JSON.stringify(requested)} is not offered; profiles are ${Object.keys(offered).join(", ")}`,
  );
}

/** Orders (RFC 8555 §7.4): new order, lookup, finalize, and the issued certificate. */
export class AcmeOrders {
  constructor(
    private readonly deps: {
      store: AcmeOrderStore;
      issuance: OrderIssuance;
      renewals: Pick<AcmeRenewals, "replacement">;
      rateLimits: Pick<RateLimits, "chargeNewOrder">;
      clock: Clock;
      settings: OrderSettings;
      forbiddenNames: readonly string[];
      /** Certificate profiles ACME clients may choose: name → description. */
      profiles: () => Record<string, string>;
    },
  ) {}

  async newOrder(account: AcmeAccount, request: NewOrderRequest): Promise<AcmeOrder> {
    const identifiers = orderIdentifiers(request.identifiers, {
      maxIdentifiers: this.deps.settings.maxIdentifiers,
      forbiddenNames: this.deps.forbiddenNames,
    });
    const profile = this.profileOf(request.profile);
    const replaces =
      request.replaces === undefined ? null : await this.deps.renewals.replacement(account, request.replaces);
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
      const authorization = newAuthorization(account, identifier, wildcard, expiresAt);
      created.push(authorization);
      authorizationIds.push(authorization.id);
    }
    const order: AcmeOrder = {
      id: newAcmeId(),
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
      const error = recordedProblem(new AcmeError("malformed", "the order expired"));
      await this.deps.store.setOrder(order.id, order.status, { status: "invalid", error });
      return (await this.deps.store.order(order.id))!;
    }
    return order;
  }

  /** Ids of the account's unfinished orders (RFC 8555 §7.1.2.1). */
  async ordersOf(account: AcmeAccount): Promise<string[]> {
    return this.deps.store.ordersOfAccount(account.id, 1000);
  }

  /** RFC 8555 §7.4: the CSR must name exactly the order's identifiers; issuance is the admin API's. */
  async finalize(account: AcmeAccount, orderId: string, request: FinalizeRequest): Promise<AcmeOrder> {
    const order = await this.order(account, orderId);
    if (order.status !== "ready") {
      throw new AcmeError(
        "orderNotReady",
        `the order is ${order.status}, not ready: complete its authorizations first`,
      );
    }
    // A CSR that does not decode or verify is a BadCsrError: the badCSR problem.
    const csr = await parseCsr(request.csr);
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
    if (!(await this.deps.store.startFinalizing(order.id))) {
      throw new AcmeError("orderNotReady", "the order is being finalized by another request");
    }
    try {
      const issued = await this.deps.issuance.issue({
        csr,
        profile: order.profile,
        actor: acmeActor(account.id),
      });
      // Only this request moves a processing order on: once its update applies, the order is what it
      // wrote, with nothing to read back.
      const changes = { status: "valid" as const, certificateSerial: issued.serial };
      if (await this.deps.store.setOrder(order.id, "processing", changes)) return { ...order, ...changes };
    } catch (error) {
      // A refused CSR leaves the order ready for another; any other failure ends it.
      const retryable = error instanceof KeywardError && (error.code === "badCSR" || error.code === "policyViolation");
      await this.deps.store.setOrder(
        order.id,
        "processing",
        retryable ? { status: "ready" } : { status: "invalid", error: recordedProblem(error) },
      );
      if (error instanceof KeywardError && error.code === "policyViolation")
        throw new AcmeError("badCSR", error.message);
      throw error;
    }
    return (await this.deps.store.order(order.id))!;
  }

  /** The issued certificate with its chain, leaf first (application/pem-certificate-chain). */
  async certificateChain(account: AcmeAccount, orderId: string): Promise<string> {
    const order = await this.order(account, orderId);
    if (!order.certificateSerial) throw new AcmeError("malformed", "the order has no certificate", undefined, 404);
    // A valid order's certificate exists: not finding it is a failure, not "no certificate".
    const record = await this.deps.issuance.get(order.certificateSerial);
    const chain = await this.deps.issuance.chainOf(record.caId);
    return certificatePem(record.certificate!) + chain.map((c) => certificatePem(new Uint8Array(c.rawData))).join("");
  }

  /** Removes orders and authorizations that expired more than `retentionHours` ago. */
  cleanup(retentionHours = 7 * 24): Promise<number> {
    return this.deps.store.deleteExpired(new Date(this.deps.clock.now().getTime() - retentionHours * 3_600_000));
  }

  /** draft-ietf-acme-profiles: the client may pick one of the profiles in the directory's meta. */
  private profileOf(requested: string | undefined): string {
    if (requested === undefined) return this.deps.settings.profile;
    const offered = this.deps.profiles();
    if (!Object.hasOwn(offered, requested)) throw profileNotOffered(requested, offered);
    return requested;
  }
}

/** A pending authorization with its challenges. */
function newAuthorization(
  account: AcmeAccount,
  identifier: Identifier,
  wildcard: boolean,
  expiresAt: Date,
): AcmeAuthorization {
  const id = newAcmeId();
  // Wildcards can only be proven through DNS; IP addresses only over HTTP (RFC 8738).
  const types: AcmeChallenge["type"][] = wildcard
    ? ["dns-01"]
    : identifier.type === "ip"
      ? ["http-01"]
      : ["http-01", "dns-01", "tls-alpn-01"];
  return {
    id,
    accountId: account.id,
    identifier,
    wildcard,
    status: "pending",
    expiresAt,
    challenges: types.map((type) => ({
      id: newAcmeId(),
      authorizationId: id,
      type,
      token: publicRandom(32).toString("base64url"),
      status: "pending",
      validatedAt: null,
      error: null,
    })),
  };
}
