import {
  constants,
  createCipheriv,
  createDecipheriv,
  createHmac,
  createPublicKey,
  publicEncrypt,
  randomBytes,
} from "node:crypto";
import { HsmKeyNotFoundError, HsmOperationError, HsmUnsupportedError } from "../errors/index.js";
import type { KeyType } from "../pki/key-types.js";
import type { FeatureSupport } from "./capabilities.js";
import type { KeyPairs, OaepHash, SecretKeyAlgorithm, SecretKeys, Wrapping } from "./facets.js";
import { formatPkcs11Uri } from "./uri.js";

/**
 * How secret keys (KMS keys, TOTP seeds, ACME EAB keys) are kept (`kms.protection`):
 * - `token`: objects in the token, used there by handle (refused with the reason where it cannot);
 * - `sealed`: made from the CSPRNG and stored only wrapped (RSA-OAEP) by a non-extractable RSA key
 *   in the token; each use unwraps the key into process memory in the token and zeroes it after;
 * - `auto`: in the token where it can hold and use the kind of key, sealed otherwise.
 */
export type ProtectionSetting = "token" | "sealed" | "auto";
export type Protection = "token" | "sealed";

/** Handles of sealed keys take the place of a pkcs11: URI wherever a key's URI is stored. */
const SEALED_PREFIX = "keyward-sealed:";

export function protectionOf(uri: string): Protection {
  return uri.startsWith(SEALED_PREFIX) ? "sealed" : "token";
}

/** A wrapped secret: the only form a sealed key has at rest. */
export interface SealedKeyRecord {
  id: string;
  /** AES-128, AES-256, HMAC-SHA256, or HMAC for an imported shared secret (TOTP seed, EAB key). */
  algorithm: SecretKeyAlgorithm | "HMAC";
  /** The token's RSA key pair that decrypts it. */
  kekUri: string;
  oaepHash: OaepHash;
  wrapped: Buffer;
  /** Whether it may be distributed (sent wrapped to a recipient), as for a token key. */
  extractable: boolean;
  createdAt: Date;
}

/** Where sealed keys are kept (the database): deleting the row destroys the key. */
export interface SealedKeyStore {
  get(id: string): Promise<SealedKeyRecord | undefined>;
  put(record: SealedKeyRecord): Promise<void>;
  delete(id: string): Promise<void>;
}

/** The label of the token key pair that seals keys; the KMS key-pair facet decrypts with kms-… objects only. */
export const SEALING_KEY_LABEL = "kms-sealing";
// RSA-3072 keeps sealed AES-256 keys at 128-bit strength; a smaller type only where the token lacks it.
const SEALING_KEY_TYPES: readonly KeyType[] = ["rsa3072", "rsa4096", "rsa2048"];
const OAEP_NODE = { "SHA-256": "sha256", "SHA-1": "sha1" } as const;
const KEY_BYTES: Record<SecretKeyAlgorithm, number> = { "AES-128": 16, "AES-256": 32, "HMAC-SHA256": 32 };

export interface ProtectedSecretKeysDeps {
  token: SecretKeys;
  keyPairs: Pick<KeyPairs, "generateKeyPair" | "publicKey" | "decrypt" | "oaepHashes">;
  store: SealedKeyStore;
  protection: ProtectionSetting;
  tokenLabel: string;
  /** The token's support for a feature (kms.aes, kms.hmac, secrets.import), from its capability profile. */
  feature(name: string): FeatureSupport | undefined;
  keyTypes(): readonly KeyType[];
}

/**
 * The SecretKeys facet as every consumer sees it, with `kms.protection` applied: new keys go to the
 * token or are sealed; existing keys are used by their handle whatever the setting says now.
 */
export class ProtectedSecretKeys implements SecretKeys {
  private sealing: Promise<{ uri: string; spki: Buffer; oaepHash: OaepHash }> | undefined;

  constructor(private readonly deps: ProtectedSecretKeysDeps) {}

  /** How a new key of this kind will be kept, or why it cannot be (for views and `hsm check`). */
  protectionFor(feature: "kms.aes" | "kms.hmac" | "secrets.import"): Protection {
    if (this.deps.protection === "auto") {
      return this.deps.feature(feature)?.status === "unavailable" ? "sealed" : "token";
    }
    return this.deps.protection;
  }

  generateSecretKey(algorithm: SecretKeyAlgorithm, label: string, options: { extractable: boolean }): Promise<string> {
    return this.place(
      algorithm === "HMAC-SHA256" ? "kms.hmac" : "kms.aes",
      () => this.deps.token.generateSecretKey(algorithm, label, options),
      () => this.seal(algorithm, randomBytes(KEY_BYTES[algorithm]), options.extractable),
    );
  }

  /** A registered value (KMIP Register): into the token where it keeps such keys, else sealed. */
  storeSecretKey(
    algorithm: SecretKeyAlgorithm,
    label: string,
    value: Buffer,
    options: { extractable: boolean },
  ): Promise<string> {
    return this.place(
      algorithm === "HMAC-SHA256" ? "secrets.import" : "kms.aes",
      () => this.deps.token.storeSecretKey(algorithm, label, value, options),
      () => this.seal(algorithm, Buffer.from(value), options.extractable),
    );
  }

  importHmacKey(value: Buffer, label: string): Promise<string> {
    return this.place(
      "secrets.import",
      () => this.deps.token.importHmacKey(value, label),
      () => this.seal("HMAC", Buffer.from(value), false),
    );
  }

  async aesGcmEncrypt(uri: string, iv: Buffer, aad: Buffer, plaintext: Buffer): Promise<Buffer> {
    if (protectionOf(uri) === "token") return this.deps.token.aesGcmEncrypt(uri, iv, aad, plaintext);
    return this.withKey(uri, ["AES-128", "AES-256"], (key) => {
      const cipher = createCipheriv(`aes-${key.length * 8}-gcm` as "aes-256-gcm", key, iv).setAAD(aad);
      return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    });
  }

  async aesGcmDecrypt(uri: string, iv: Buffer, aad: Buffer, ciphertextAndTag: Buffer): Promise<Buffer> {
    if (protectionOf(uri) === "token") return this.deps.token.aesGcmDecrypt(uri, iv, aad, ciphertextAndTag);
    return this.withKey(uri, ["AES-128", "AES-256"], (key) => {
      if (ciphertextAndTag.length < 16) throw tagFailure(uri);
      const decipher = createDecipheriv(`aes-${key.length * 8}-gcm` as "aes-256-gcm", key, iv).setAAD(aad);
      decipher.setAuthTag(ciphertextAndTag.subarray(-16));
      try {
        return Buffer.concat([decipher.update(ciphertextAndTag.subarray(0, -16)), decipher.final()]);
      } catch {
        throw tagFailure(uri);
      }
    });
  }

  async hmacSha256(uri: string, data: Uint8Array): Promise<Buffer> {
    if (protectionOf(uri) === "token") return this.deps.token.hmacSha256(uri, data);
    return this.withKey(uri, ["HMAC-SHA256", "HMAC"], (key) => createHmac("sha256", key).update(data).digest());
  }

  async hmacSha1(uri: string, data: Uint8Array): Promise<Buffer> {
    if (protectionOf(uri) === "token") return this.deps.token.hmacSha1(uri, data);
    return this.withKey(uri, ["HMAC"], (key) => createHmac("sha1", key).update(data).digest());
  }

  /** A sealed key is destroyed by deleting its only (wrapped) copy. */
  async destroySecretKey(uri: string): Promise<void> {
    if (protectionOf(uri) === "token") return this.deps.token.destroySecretKey(uri);
    await this.deps.store.delete(sealedId(uri));
  }

  async secretKeyAttributes(uri: string): Promise<{ sensitive: boolean; extractable: boolean; token: boolean }> {
    if (protectionOf(uri) === "token") return this.deps.token.secretKeyAttributes(uri);
    const record = await this.record(uri);
    // Never readable from the token (it is not in it), and plaintext only for one use at a time.
    return { sensitive: true, extractable: record.extractable, token: false };
  }

  /**
   * The key's value, for distribution as JWE (which has it in memory for the call in any case);
   * the caller zeroes it. CMS distribution and escrow need the key in the token: refused for sealed keys.
   */
  /** The token key pair a sealed key opens with (what a backup must say it does not carry). */
  async sealingKeyOf(uri: string): Promise<string> {
    return (await this.record(uri)).kekUri;
  }

  async exportSealed(uri: string): Promise<Buffer> {
    const record = await this.record(uri);
    if (!record.extractable) throw new HsmOperationError(`${uri} is not distributable`, { context: { key: uri } });
    return this.unwrap(record);
  }

  private async place(feature: string, inToken: () => Promise<string>, sealed: () => Promise<string>): Promise<string> {
    switch (this.deps.protection) {
      case "sealed":
        return sealed();
      case "auto":
        if (this.deps.feature(feature)?.status === "unavailable") return sealed();
        try {
          return await inToken();
        } catch (error) {
          // Mechanisms listed but the object refused (tpm2-pkcs11 imports no secrets): auto seals instead.
          if (error instanceof HsmUnsupportedError) return sealed();
          throw error;
        }
      default:
        try {
          return await inToken();
        } catch (error) {
          if (error instanceof HsmUnsupportedError) {
            throw new HsmUnsupportedError(
              `${error.message}; kms.protection is "token": set it to "auto" or "sealed" to keep such keys sealed by a token key instead`,
              { ckr: error.ckr, cause: error, context: error.context },
            );
          }
          throw error;
        }
    }
  }

  private async seal(algorithm: SealedKeyRecord["algorithm"], value: Buffer, extractable: boolean): Promise<string> {
    try {
      const kek = await this.sealingKey();
      const wrapped = publicEncrypt(
        {
          key: createPublicKey({ key: kek.spki, format: "der", type: "spki" }),
          padding: constants.RSA_PKCS1_OAEP_PADDING,
          oaepHash: OAEP_NODE[kek.oaepHash],
        },
        value,
      );
      const id = randomBytes(16).toString("hex");
      await this.deps.store.put({
        id,
        algorithm,
        kekUri: kek.uri,
        oaepHash: kek.oaepHash,
        wrapped,
        extractable,
        createdAt: new Date(),
      });
      return `${SEALED_PREFIX}${id}`;
    } finally {
      value.fill(0);
    }
  }

  /**
   * The token's sealing key pair (RSA, decrypt only, never extractable), made on first use; found
   * by its label so that every process seals to the same one.
   */
  private sealingKey(): Promise<{ uri: string; spki: Buffer; oaepHash: OaepHash }> {
    this.sealing ??= this.findOrMakeSealingKey().catch((error) => {
      this.sealing = undefined;
      throw error;
    });
    return this.sealing;
  }

  private async findOrMakeSealingKey() {
    const byLabel = formatPkcs11Uri({ token: this.deps.tokenLabel, object: SEALING_KEY_LABEL, type: "private" });
    const uri = byLabel;
    let spki: Buffer;
    try {
      spki = await this.deps.keyPairs.publicKey(byLabel);
    } catch (error) {
      if (!(error instanceof HsmKeyNotFoundError)) throw error;
      const keyType = SEALING_KEY_TYPES.find((t) => this.deps.keyTypes().includes(t));
      if (!keyType) {
        throw new HsmUnsupportedError(
          `the token "${this.deps.tokenLabel}" can neither hold this kind of key nor make an RSA key pair to seal it with; see keyward hsm check`,
          { context: { token: this.deps.tokenLabel } },
        );
      }
      // Named by its label from then on, so every record names the one sealing key the same way.
      ({ spki } = await this.deps.keyPairs.generateKeyPair(keyType, SEALING_KEY_LABEL, "decrypt"));
    }
    const [oaepHash] = await this.deps.keyPairs.oaepHashes(uri);
    if (!oaepHash) {
      throw new HsmUnsupportedError(
        `the token "${this.deps.tokenLabel}" cannot decrypt RSA-OAEP (CKM_RSA_PKCS_OAEP), so it cannot seal keys; see keyward hsm check`,
        { context: { token: this.deps.tokenLabel, key: uri, mechanism: "CKM_RSA_PKCS_OAEP" } },
      );
    }
    return { uri, spki, oaepHash };
  }

  private async record(uri: string): Promise<SealedKeyRecord> {
    const record = await this.deps.store.get(sealedId(uri));
    if (!record) {
      throw new HsmKeyNotFoundError(`key missing: ${uri}: no sealed key with this id (destroyed?)`, {
        context: { key: uri },
      });
    }
    return record;
  }

  private unwrap(record: SealedKeyRecord): Promise<Buffer> {
    return this.deps.keyPairs.decrypt(record.kekUri, record.oaepHash, record.wrapped);
  }

  /** Unwraps the key in the token for one operation and zeroes the host copy after. */
  private async withKey<T>(
    uri: string,
    algorithms: Array<SealedKeyRecord["algorithm"]>,
    use: (key: Buffer) => T,
  ): Promise<T> {
    const record = await this.record(uri);
    if (!algorithms.includes(record.algorithm)) {
      throw new HsmOperationError(`${uri} is a sealed ${record.algorithm} key, not ${algorithms.join(" or ")}`, {
        context: { key: uri },
      });
    }
    const key = await this.unwrap(record);
    try {
      return use(key);
    } finally {
      key.fill(0);
    }
  }
}

function sealedId(uri: string): string {
  return uri.slice(SEALED_PREFIX.length);
}

// What the token answers for a tag that does not authenticate: the KMS tells the client it was altered.
function tagFailure(uri: string): HsmOperationError {
  return new HsmOperationError(`the ciphertext does not authenticate under ${uri}`, {
    ckr: "CKR_ENCRYPTED_DATA_INVALID",
    context: { key: uri },
  });
}

/**
 * The Wrapping facet with sealed keys in mind: JWE distribution reads a sealed key's value (as it
 * reads a token key's); what needs the key inside the token (CMS distribution, escrow's AES key
 * wrap) is refused for a sealed key, naming why.
 */
export function protectedWrapping(wrapping: Wrapping, sealed: ProtectedSecretKeys): Wrapping {
  const refuse = (uri: string, what: string) =>
    new HsmUnsupportedError(
      `${uri} is sealed (kms.protection), not a token object: ${what} needs the key in the token`,
      {
        context: { key: uri },
      },
    );
  return {
    importSecretKey: (importKeyUri, sealedImport, target) =>
      wrapping.importSecretKey(importKeyUri, sealedImport, target),
    unwrapSecretKeyUnder: (wrapped, wrappingKey, target) => wrapping.unwrapSecretKeyUnder(wrapped, wrappingKey, target),
    async wrapSecretKeyUnder(uri, wrappingKey) {
      if (protectionOf(uri) === "sealed") throw refuse(uri, "escrow (AES key wrap in the token)");
      return wrapping.wrapSecretKeyUnder(uri, wrappingKey);
    },
    async sealKeyForCms(uri, recipient, sharedInfo) {
      if (protectionOf(uri) === "sealed") throw refuse(uri, "CMS distribution (wrapped in the token)");
      return wrapping.sealKeyForCms(uri, recipient, sharedInfo);
    },
    exportSecretKey: (uri) =>
      protectionOf(uri) === "sealed" ? sealed.exportSealed(uri) : wrapping.exportSecretKey(uri),
  };
}
