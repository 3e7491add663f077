import type * as x509 from "@peculiar/x509";
import type { Logger } from "pino";
import type { Actor, AuditEvent } from "../audit/index.js";
import type { Clock } from "../clock/index.js";
import { type KeyCertificateIssuer, KeyCertification } from "./certify.js";
import { KeyCrypto } from "./crypto-service.js";
import { KeyDistribution } from "./distribution.js";
import { KeyImport } from "./import-service.js";
import { KeyPairCrypto } from "./key-pair-crypto.js";
import { KeyLifecycle } from "./lifecycle-service.js";
import type {
  DistributionStore,
  KeyPairCryptoOps,
  KeyPairLifecycleOps,
  KeyStore,
  KeyWrappingOps,
  SecretKeyCryptoOps,
  SecretKeyImportOps,
  SecretKeyLifecycleOps,
} from "./ports.js";
import type { RecipientTrust } from "./recipients.js";
import { RevokedKeyList, type StatementSigner } from "./revoked-list.js";

/** A service key in the token with its certificate chain (leaf first); the signer owns these. */
interface ServiceKeyPort {
  current(): Promise<{ keyUri: string; chain: x509.X509Certificate[] }>;
}

export interface KeysSettings {
  /** Waiting period of a scheduled destruction. */
  destroyWaitDays: number;
  /** Periods of keys created without their own (SP 800-57 Table 1 defaults); 0: none. */
  defaultRotationDays: number;
  defaultCryptoperiodDays: number;
  /** JWE needs the key in process memory on tokens without AES-GCM key wrapping (SoftHSM 2.6). */
  allowJweDistribution: boolean;
  /** Lifetime of the signed revoked-key list. */
  revokedListHours: number;
  /** The `iss` of the revoked-key list: this server's base URL. */
  issuer: string;
}

export interface KeysDeps {
  keyStore: KeyStore;
  distributionStore: DistributionStore;
  /** The HSM's secret-key facet: exactly the methods the KMS calls. */
  secretKeys: SecretKeyLifecycleOps & SecretKeyCryptoOps;
  /** The HSM's key-pair facet (KMS objects only): key pairs' lifecycle and data plane. */
  keyPairs: KeyPairLifecycleOps & KeyPairCryptoOps;
  /** The HSM's wrapping facet: distribution and BYOK import. */
  wrapping: KeyWrappingOps & Pick<SecretKeyImportOps, "importSecretKey">;
  clock: Clock;
  /** Records key uses (state changes are written by the stores in their own transactions). */
  audit: { record(event: Omit<AuditEvent, "at">): Promise<unknown> };
  logger?: Logger;
  /** Metrics and burst detection, for each use and distribution of a key. */
  onUse?: (use: { keyId: string; operation: string; actor: Actor }) => void;
  /** Who may receive distributed keys. */
  trust: RecipientTrust;
  /** The RSA key pair that BYOK senders seal keys to; without it, import is refused. */
  importKey?: ServiceKeyPort;
  /** Normal issuance and revocation, for certificates of key pairs; without it, certify is refused. */
  certificates?: KeyCertificateIssuer;
  /** The key that signs the revoked-key list (its type follows the token), and signing with it (ECDSA raw r‖s). */
  revokedListSigner: StatementSigner;
  settings: KeysSettings;
}

/** The KMS, built: each part takes only what it uses of the ports above. */
export interface Keys {
  /** Keys, versions and their states: create, rotate, state changes, destruction, the scheduler. */
  lifecycle: KeyLifecycle;
  /** Using keys: encrypt/decrypt (JWE), rewrap, data keys, MAC. */
  crypto: KeyCrypto;
  /** Using key pairs: public key, sign, verify, JWS, RSA-OAEP decrypt. */
  keyPairs: KeyPairCrypto;
  /** Certificates for key pairs under Keyward's CA; revoked when a version is compromised. */
  certification: KeyCertification;
  /** BYOK: the import certificate and versions imported under it. */
  imports: KeyImport;
  distribution: KeyDistribution;
  revokedList: RevokedKeyList;
  /**
   * After a version is added (create, rotate, import), e.g. escrow takes it: the explicit port for
   * a module built after the KMS that depends on it. A listener's failure reaches the caller.
   */
  onNewVersion(listener: (keyId: string, actor: Actor) => Promise<unknown>): void;
}

export function createKeys(deps: KeysDeps): Keys {
  const { keyStore, secretKeys, wrapping, clock, logger, settings } = deps;
  const listeners: Array<(keyId: string, actor: Actor) => Promise<unknown>> = [];
  const onNewVersion = async (keyId: string, actor: Actor) => {
    for (const listener of listeners) await listener(keyId, actor);
  };
  const lifecycle = new KeyLifecycle({
    store: keyStore,
    token: {
      generateSecretKey: (algorithm, label, options) => secretKeys.generateSecretKey(algorithm, label, options),
      storeSecretKey: (algorithm, label, value, options) => secretKeys.storeSecretKey(algorithm, label, value, options),
      destroySecretKey: (uri) => secretKeys.destroySecretKey(uri),
      generateKeyPair: (keyType, label, usage) => deps.keyPairs.generateKeyPair(keyType, label, usage),
      destroyKeyPair: (uri) => deps.keyPairs.destroyKeyPair(uri),
      oaepHashes: (uri) => deps.keyPairs.oaepHashes(uri),
    },
    clock,
    logger,
    destroyWaitDays: settings.destroyWaitDays,
    defaults: { rotationDays: settings.defaultRotationDays, cryptoperiodDays: settings.defaultCryptoperiodDays },
    onNewVersion,
    onCompromised: (version, actor) => certification.revokeCompromised(version, actor),
  });
  const certification: KeyCertification = new KeyCertification({
    keys: lifecycle,
    store: keyStore,
    token: deps.keyPairs,
    issuer: deps.certificates,
    clock,
    logger,
  });
  // Rotation certifies the new version of keys that ask for it (key certify --certify-on-rotate).
  listeners.push((keyId, actor) => certification.certifyNewVersion(keyId, actor));
  const crypto = new KeyCrypto({ keys: lifecycle, token: secretKeys, audit: deps.audit, onUse: deps.onUse });
  const keyPairs = new KeyPairCrypto({
    keys: lifecycle,
    token: deps.keyPairs,
    audit: deps.audit,
    onUse: deps.onUse,
    certificateChain: deps.certificates && ((serial) => deps.certificates!.chain(serial)),
    clock,
  });
  const imports = new KeyImport({
    keys: lifecycle,
    store: keyStore,
    // The key arrives through the wrapping facet; an unrecorded one is destroyed as a secret key.
    token: {
      importSecretKey: (importKeyUri, sealed, target) => wrapping.importSecretKey(importKeyUri, sealed, target),
      destroySecretKey: (uri) => secretKeys.destroySecretKey(uri),
    },
    clock,
    logger,
    importKey: deps.importKey,
    onNewVersion,
  });
  const distribution = new KeyDistribution({
    keys: lifecycle,
    store: deps.distributionStore,
    token: wrapping,
    trust: deps.trust,
    clock,
    allowJwe: settings.allowJweDistribution,
    onUse: deps.onUse,
  });
  const revokedList = new RevokedKeyList({
    keys: lifecycle,
    signer: deps.revokedListSigner,
    clock,
    validityHours: settings.revokedListHours,
    issuer: settings.issuer,
  });
  return {
    lifecycle,
    crypto,
    keyPairs,
    certification,
    imports,
    distribution,
    revokedList,
    onNewVersion: (listener) => void listeners.push(listener),
  };
}
