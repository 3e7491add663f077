export type { AcmeAccount, AcmeStore } from "./ports.js";
export { ACME_ALGORITHMS } from "./jws.js";
export { AcmeError, acmeTypeOf } from "./problems.js";
export { type AcmeSettings, AcmeService, type AuthenticatedRequest } from "./service.js";
export { AcmeOrders, type OrderSettings } from "./orders.js";
export { type RateLimitSettings, RateLimits } from "./rate-limits.js";
