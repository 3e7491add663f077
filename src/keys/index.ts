export { checkTransition, KEY_STATES, type KeyState, TRANSITIONS, USES } from "./lifecycle.js";
export {
  KEY_ALGORITHMS,
  KEY_PURPOSES,
  type KeyAlgorithm,
  type KeyPurpose,
  type KeyStore,
  type KeyVersion,
  type ManagedKey,
  type SymmetricKeyOps,
} from "./ports.js";
export { type CreateKeyRequest, type EncryptionContext, KeyService } from "./service.js";
