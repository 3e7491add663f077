export { CrlEntries, type CrlSettings, CrlPublisher } from "./crl.js";
export { type CertificateLookup, type OcspAnswer, OcspResponder, type OcspSettings } from "./ocsp.js";
export type { BlockedKey, RevocationRecord, RevocationStore, StoredCrl } from "./ports.js";
export { errorResponse, OCSP_STATUS, type OcspAnswerSummary } from "./ocsp-der.js";
export { REASONS, REVOCATION_REASONS, reasonCode, reasonName } from "../pki/reasons.js";
export {
  type KeyReference,
  type RevocationResult,
  RevocationService,
  type RevokeRequest,
  spkiSha256Of,
} from "./service.js";
export { type CompromiseOutcome, CompromisedKeys, type KeyExposure } from "./compromised-keys.js";
export { type ChangeNotices, createRevocation, type Revocation, type RevocationSettings } from "./factory.js";
export { compromiseView, ocspAnswerView, revocationRecordView, revocationView } from "./views.js";
