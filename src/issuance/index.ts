export { checkCsrsWithoutThreads, type ParsedCsr, parseCsr } from "./csr.js";
export type {
  BlockedKeyCheck,
  CertificateFilter,
  CertificateRecord,
  CertificateStatus,
  CertificateStore,
} from "./ports.js";
export { type IssuedCertificate, IssuanceService, type IssueRequest } from "./service.js";
