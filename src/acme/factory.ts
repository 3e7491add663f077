import type { Logger } from "pino";
import type { Clock } from "../clock/index.js";
import type { Config } from "../config/index.js";
import type { CertificateRecord, IssuanceService } from "../issuance/index.js";
import type { RevocationService } from "../revocation/index.js";
import { AcmeAuthorizations } from "./authorizations.js";
import { AcmeOrders } from "./orders.js";
import type { AcmeOrderStore, AcmeStore, NonceStore } from "./ports.js";
import { type RateLimitStore, RateLimits } from "./rate-limits.js";
import { AcmeRenewals } from "./renewals.js";
import { AcmeRevocation } from "./revocation.js";
import { AcmeService, type EabHmac } from "./service.js";
import { AcmeUrls } from "./urls.js";
import { AcmeViews } from "./views.js";

/** What the ACME module needs from the rest of Keyward. */
export interface AcmeDeps {
  stores: {
    accounts: AcmeStore;
    orders: AcmeOrderStore;
    rateLimits: RateLimitStore;
    /** Memory for one process, the database for instances that share it (see MemoryNonceStore). */
    nonces: NonceStore;
  };
  /** Issues for a finalized order; the issued certificate, its chain, its CA's key identifier. */
  issuance: Pick<IssuanceService, "issue" | "get" | "issuerKeyIdentifier" | "chainOf">;
  /** The certificate with this serial (lowercase hex, as stored), undefined when there is none. */
  findCertificate(serial: string): Promise<CertificateRecord | undefined>;
  revocation: Pick<RevocationService, "revoke">;
  /** External account binding keys (HMAC in the token). */
  hmac: EabHmac;
  clock: Clock;
  config: { baseUrl: string; acme: Config["acme"]; forbiddenNames: readonly string[] };
  /** Certificate profiles ACME clients may choose: name → description (draft-ietf-acme-profiles). */
  profiles: () => Record<string, string>;
  logger?: Logger;
}

export interface Acme {
  urls: AcmeUrls;
  views: AcmeViews;
  /** Directory, nonces, JWS authentication, accounts, external account binding. */
  accounts: AcmeService;
  /** Where issued nonces wait for their use (the store compose.ts chose). */
  nonces: NonceStore;
  rateLimits: RateLimits;
  orders: AcmeOrders;
  authorizations: AcmeAuthorizations;
  renewals: AcmeRenewals;
  revocation: AcmeRevocation;
  profiles: () => Record<string, string>;
  /** Drops used nonces, old rate-limit counters, and orders long expired. */
  cleanup(): Promise<void>;
}

/** How long a challenge POST waits for validation before answering "processing". */
const ANSWER_WITHIN_MS = 1000;
const MAX_IDENTIFIERS = 100;

/** Builds the ACME module (RFC 8555, RFC 9773) from the ports it needs. */
export function createAcme(deps: AcmeDeps): Acme {
  const { clock, config, profiles, logger } = deps;
  const settings = config.acme;
  const urls = new AcmeUrls(config.baseUrl);
  const accounts = new AcmeService({
    store: deps.stores.accounts,
    nonces: deps.stores.nonces,
    clock,
    urls,
    settings,
    profiles,
    hmac: deps.hmac,
  });
  const rateLimits = new RateLimits({ store: deps.stores.rateLimits, clock, settings: settings.rateLimits });
  const certificates = {
    findCertificate: (serial: string) => deps.findCertificate(serial),
    get: (serial: string) => deps.issuance.get(serial),
    issuerKeyIdentifier: (caId: string) => deps.issuance.issuerKeyIdentifier(caId),
  };
  const renewals = new AcmeRenewals({ store: deps.stores.orders, certificates, clock });
  const orders = new AcmeOrders({
    store: deps.stores.orders,
    issuance: deps.issuance,
    renewals,
    rateLimits,
    clock,
    profiles,
    forbiddenNames: config.forbiddenNames,
    settings: {
      orderLifetimeHours: settings.orderLifetimeHours,
      maxIdentifiers: MAX_IDENTIFIERS,
      profile: settings.profile,
    },
  });
  const authorizations = new AcmeAuthorizations({
    store: deps.stores.orders,
    clock,
    ...(logger ? { logger } : {}),
    settings: {
      http01Port: settings.http01Port,
      tlsAlpn01Port: settings.tlsAlpn01Port,
      dnsResolver: settings.dnsResolver,
      timeoutMs: settings.validationTimeoutMs,
      validAuthorizationHours: settings.validAuthorizationHours,
      checkCaa: settings.checkCaa,
      caaIdentities: settings.caaIdentities,
      caaCacheSeconds: settings.caaCacheSeconds,
      answerWithinMs: ANSWER_WITHIN_MS,
    },
  });
  const revocation = new AcmeRevocation({
    store: deps.stores.orders,
    certificates,
    revoke: (request) => deps.revocation.revoke(request),
  });
  return {
    urls,
    views: new AcmeViews(urls),
    accounts,
    nonces: deps.stores.nonces,
    rateLimits,
    orders,
    authorizations,
    renewals,
    revocation,
    profiles,
    async cleanup() {
      await Promise.all([accounts.cleanupNonces(), rateLimits.cleanup(), orders.cleanup()]);
    },
  };
}
