export { checkTransition, KEY_STATES, type KeyState, TRANSITIONS, USES } from "./lifecycle.js";
export {
  KEY_ALGORITHMS,
  KEY_PURPOSES,
  type KeyAlgorithm,
  type KeyPurpose,
  type Distribution,
  type DistributionStore,
  type KeyStore,
  type KeyWrappingOps,
  RECIPIENT_POLICIES,
  type RecipientPolicy,
  type KeyVersion,
  type ManagedKey,
  type SymmetricKeyOps,
} from "./ports.js";
export { type CreateKeyRequest, type EncryptionContext, KeyService } from "./service.js";
export { type DistributeRequest, KeyDistribution } from "./distribution.js";
export { caCertificate, checkRecipient, type RecipientTrust, type TrustedAuthority } from "./recipients.js";
export { type RevokedKeyEntry, RevokedKeyList } from "./revoked-list.js";
export { CrlStatus } from "./crl-status.js";
export { loadTrustAnchors, recipientTrust, type TrustAnchor, type TrustAnchorSettings } from "./trust.js";
