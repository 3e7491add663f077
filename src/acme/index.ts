export type { AcmeAccount, AcmeStore, AcmeOrderStore, NonceStore } from "./ports.js";
export { MemoryNonceStore } from "./memory-nonces.js";
export { ACME_ALGORITHMS } from "./jws.js";
export { AcmeError, type AcmeProblem, problemResponse } from "./problems.js";
export { type AcmeSettings, AcmeService, type AuthenticatedRequest, type EabHmac } from "./service.js";
export { type Acme, type AcmeDeps, createAcme } from "./factory.js";
export { AcmeOrders, type FinalizeRequest, type NewOrderRequest, profileNotOffered } from "./orders.js";
export { AcmeAuthorizations } from "./authorizations.js";
export { AcmeRenewals } from "./renewals.js";
export {
  ACME_REVOCATION_REASONS,
  type AcmeRevocationReason,
  AcmeRevocation,
  type RevokeCertRequest,
} from "./revocation.js";
export type { RequestedIdentifier } from "./identifiers.js";
export { AcmeViews } from "./views.js";
export { AcmeUrls } from "./urls.js";
export { type RateLimitSettings, type RateLimitStore, RateLimits } from "./rate-limits.js";
