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
  /**
   * The key type for a new service key: `preferred` (by default the default issuer's) when the
   * token can make it, else the first the token can make — never a hard-coded one the token lacks.
   * `signature` keys only: an Ed25519 preference falls to the next type where a consumer needs a
   * hash-and-sign algorithm (`hashed`).
   */
  keyType(options?: { preferred?: KeyType; hashed?: boolean }): Promise<KeyType>;
  /** `unwrap`: a key that only receives keys sealed to it (BYOK import), never signs. */
  generateKeyPair(keyType: KeyType, label: string, usage?: "sign" | "unwrap"): Promise<{ uri: string; spki: Buffer }>;
  /** A raw signature (ECDSA as r||s) with a service key. */
  sign(uri: string, algorithm: SigningAlgorithm, data: Uint8Array): Promise<Buffer>;
  /** Lints an OCSP ResponseData and signs it: the DER BasicOCSPResponse without certificates. */
  signOcspResponse(uri: string, keyType: KeyType, responseData: Buffer): Promise<Buffer>;
}

// After the preferred type: the types most verifiers take, smallest first.
const FALLBACK_ORDER: readonly KeyType[] = ["p256", "p384", "rsa2048", "rsa3072", "rsa4096", "ed25519"];

export interface ServiceKeyDeps {
  keys: KeyStore;
  /** The default issuer's key type: service keys take it unless the token cannot. */
  defaultKeyType(): Promise<KeyType>;
  lint: Linter;
  /** Whether the URI names a CA's key (the hierarchy as the CA knows it). */
  isCaKey(uri: string): Promise<boolean>;
}

export function serviceKeys(deps: ServiceKeyDeps): ServiceKeys {
  const refuseCaKey = async (uri: string) => {
    if (await deps.isCaKey(uri)) throw new Error(`service keys never sign with a CA key (${uri})`);
  };
  const supported = async (keyType: KeyType) => {
    try {
      await deps.keys.checkKeyType(keyType);
      return true;
    } catch {
      return false;
    }
  };
  return {
    async keyType(options = {}) {
      const preferred = options.preferred ?? (await deps.defaultKeyType());
      const candidates = [preferred, ...FALLBACK_ORDER].filter((t) => !(options.hashed && t === "ed25519"));
      for (const candidate of candidates) if (await supported(candidate)) return candidate;
      // None: the generation names what the token lacks and what it can make.
      return candidates[0] ?? preferred;
    },
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
