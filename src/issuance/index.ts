export { checkCsrsWithoutThreads, type ParsedCsr, parseCsr } from "./csr.js";
export type {
  CertificateFilter,
  CertificateRecord,
  CertificateStatus,
  CertificateStore,
} from "./ports.js";
export { type IssuedCertificate, IssuanceService, type IssueRequest } from "./service.js";
export { createIssuance, type Issuance } from "./factory.js";
export { certifiedServiceKeys, type ServiceKeySpec, type SigningServiceKey } from "./service-keys.js";
export { certificateText, certificateView } from "./views.js";
