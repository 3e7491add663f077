export { checkTransition, KEY_STATES, type KeyState, TRANSITIONS, USES } from "./lifecycle.js";
export {
  KEY_ALGORITHMS,
  KEY_PAIR_ALGORITHMS,
  KEY_PURPOSES,
  SECRET_KEY_ALGORITHMS,
  type KeyAlgorithm,
  type KeyPairAlgorithm,
  type KeyPairCryptoOps,
  type KeyPairLifecycleOps,
  type KeyPurpose,
  type OaepHash,
  type Distribution,
  type DistributionStore,
  type KeyStore,
  type KeyWrappingOps,
  RECIPIENT_POLICIES,
  type RecipientPolicy,
  type KeyVersion,
  type ManagedKey,
  type SecretKeyAlgorithm,
  type SecretKeyCryptoOps,
  type SecretKeyImportOps,
  type SecretKeyLifecycleOps,
} from "./ports.js";
export { type CreateKeyRequest, KeyLifecycle } from "./lifecycle-service.js";
export {
  isKeyPair,
  keyPairNeverLeaves,
  SIGNATURE_ALGORITHMS,
  type SignatureAlgorithm,
  secretAlgorithm,
  signatureAlgorithmsFor,
} from "./key-pairs.js";
export { type EncryptionContext, KeyCrypto } from "./crypto-service.js";
export {
  type CertifyRequest,
  type CertifyResult,
  type KeyCertificateIssuer,
  KeyCertification,
} from "./certify.js";
export { KeyPairCrypto, MAX_SIGN_MESSAGE_BYTES, OAEP_ALGORITHMS, type SignResult } from "./key-pair-crypto.js";
export { PUBLIC_KEY_FORMATS, type PublicKeyFormat } from "./public-key.js";
export { KeyImport } from "./import-service.js";
export { createKeys, type Keys, type KeysDeps, type KeysSettings } from "./factory.js";
export { keyEvent, primaryVersion, REGISTERED_SECRET_TAG } from "./versions.js";
export { type DistributeRequest, KeyDistribution } from "./distribution.js";
export { caCertificate, checkRecipient, type RecipientTrust, type TrustedAuthority } from "./recipients.js";
export { type RevokedKeyEntry, RevokedKeyList } from "./revoked-list.js";
export { CrlStatus } from "./crl-status.js";
export { loadTrustAnchors, recipientTrust, type TrustAnchor, type TrustAnchorSettings } from "./trust.js";
export { distributionView, keyView } from "./views.js";
