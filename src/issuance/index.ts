export { checkCsrsWithoutThreads, type ParsedCsr, parseCsr } from "./csr.js";
export {
  type BlockedKeyCheck,
  type CertificateFilter,
  type CertificateRecord,
  type CertificateStatus,
  type CertificateStore,
  DuplicateSerialError,
} from "./ports.js";
export { type IssuedCertificate, IssuanceService, type IssueRequest } from "./service.js";
