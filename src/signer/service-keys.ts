import type { KeyType, SigningAlgorithm } from "../pki/key-types.js";
import type { Linter } from "../lint/index.js";
import type { KeyStore } from "./ports.js";
import { signStructure } from "./structure.js";

/**
 * Keyward's own key pairs in the token — OCSP responders, audit checkpoints, KMS statements and
 * backups, the key-import key — reached through this port that the signer owns. It never signs
 * with a CA key: only the CertificateAuthority does, so "what can touch a CA key?" has one answer.
 */
export interface ServiceKeys {
  /** `unwrap`: a key that only receives keys sealed to it (BYOK import), never signs. */
  generateKeyPair(keyType: KeyType, label: string, usage?: "sign" | "unwrap"): Promise<{ uri: string; spki: Buffer }>;
  /** A raw signature (ECDSA as r||s) with a service key. */
  sign(uri: string, algorithm: SigningAlgorithm, data: Uint8Array): Promise<Buffer>;
  /** Lints an OCSP ResponseData and signs it: the DER BasicOCSPResponse without certificates. */
  signOcspResponse(uri: string, keyType: KeyType, responseData: Buffer): Promise<Buffer>;
}

export interface ServiceKeyDeps {
  keys: KeyStore;
  lint: Linter;
  /** Whether the URI names a CA's key (the hierarchy as the CA knows it). */
  isCaKey(uri: string): Promise<boolean>;
}

export function serviceKeys(deps: ServiceKeyDeps): ServiceKeys {
  const refuseCaKey = async (uri: string) => {
    if (await deps.isCaKey(uri)) throw new Error(`service keys never sign with a CA key (${uri})`);
  };
  return {
    generateKeyPair: (keyType, label, usage) => deps.keys.generateKeyPair(keyType, label, usage),
    async sign(uri, algorithm, data) {
      await refuseCaKey(uri);
      return deps.keys.sign(uri, algorithm, data);
    },
    async signOcspResponse(uri, keyType, responseData) {
      await refuseCaKey(uri);
      deps.lint.check("ocsp", responseData);
      return signStructure(deps.keys, uri, keyType, responseData);
    },
  };
}
