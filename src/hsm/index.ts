export { type GeneratedKeyPair, type KeyAttributes, Pkcs11Hsm, type Pkcs11HsmOptions } from "./pkcs11-hsm.js";
export { readPin } from "./pin.js";
export { formatPkcs11Uri, type Pkcs11Uri, parsePkcs11Uri } from "./uri.js";
export { type CmsSealedKey, type RecipientPublicKey, recipientPublicKey, type SealedImport } from "./key-wrapping.js";
export { type OfflineTokenOptions, TokenSet } from "./token-set.js";
