export type {
  GeneratedKeyPair,
  KeyAttributes,
  KeyPairMechanism,
  KeyPairs,
  OaepHash,
  SecretKeyAlgorithm,
  SecretKeys,
  SigningKeys,
  Wrapping,
} from "./facets.js";
export { Pkcs11Hsm } from "./pkcs11-hsm.js";
export type { Pkcs11HsmOptions } from "./token-core.js";
export { readPin } from "./pin.js";
export { formatPkcs11Uri, type Pkcs11Uri, parsePkcs11Uri } from "./uri.js";
export { type CmsSealedKey, type RecipientPublicKey, recipientPublicKey, type SealedImport } from "./key-wrapping.js";
export type { FeatureStatus, FeatureSupport, HsmReport } from "./capabilities.js";
export { type KeyProbe, type OfflineTokenOptions, TokenSet } from "./token-set.js";
export { openTokens, type TokenSettings, useSoftHsmConf } from "./open.js";
export {
  type Protection,
  ProtectedSecretKeys,
  type ProtectionSetting,
  protectedWrapping,
  protectionOf,
  type SealedKeyRecord,
  type SealedKeyStore,
} from "./sealed-secret-keys.js";
