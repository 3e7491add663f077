export {
  type CertificateToSign,
  CertificateAuthority,
  type HierarchySettings,
  type PreparedCertificate,
} from "./authority.js";
export type { CaRecord, CaStore, KeyStore } from "./ports.js";
export { signingCrypto, TokenPrivateKey } from "./webcrypto.js";
export { signatureAlgorithmIdentifier, signStructure } from "./structure.js";
export { type ServiceKeyRecord, type ServiceKeyStore, ServiceKey } from "./service-key.js";
export type { ServiceKeys } from "./service-keys.js";
export { caView } from "./views.js";
export { caKeyMissing } from "./missing-keys.js";
export { type BaseUrlChoice, baseUrlOfHierarchy, chooseBaseUrl, normalizeBaseUrl } from "./base-url.js";
export {
  type PreparedSshSignature,
  SshAuthority,
  type SshCaKeyRecord,
  type SshCaKeyStore,
  type SshCaType,
} from "./ssh-authority.js";
