export { CrlEntries, type CrlSettings, CrlPublisher } from "./crl.js";
export { type CertificateLookup, type OcspAnswer, OcspResponder, type OcspSettings } from "./ocsp.js";
export type { BlockedKey, RevocationRecord, RevocationStore, StoredCrl } from "./ports.js";
export { REASONS, REVOCATION_REASONS, reasonCode, reasonName } from "./reasons.js";
export { type KeyReference, type RevocationResult, RevocationService, type RevokeRequest } from "./service.js";
