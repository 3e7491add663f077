export { type OpenDatabase, openDatabase } from "./database.js";
export { SqlCaStore } from "./repositories/ca-store.js";
export { SqlCertificateStore } from "./repositories/certificate-store.js";
export { SqlTokenStore } from "./repositories/token-store.js";
export { SqlRevocationStore } from "./repositories/revocation-store.js";
export { SqlAcmeStore } from "./repositories/acme-store.js";
export { SqlAcmeOrderStore } from "./repositories/acme-order-store.js";
export { SqlRateLimitStore } from "./repositories/rate-limit-store.js";
export { appendAudit, SqlAuditStore, withAudit } from "./repositories/audit-store.js";
