import type * as x509 from "@peculiar/x509";
import type { Logger } from "pino";
import type { Actor } from "../audit/index.js";
import type { Clock } from "../clock/index.js";
import { BadRequestError, ConflictError, HsmError } from "../errors/index.js";
import { parseImport } from "./import.js";
import { secretAlgorithm } from "./key-pairs.js";
import type { KeyStore, ManagedKey, SecretKeyImportOps } from "./ports.js";
import { keyEvent, nextVersionNumber, recordVersionOrDestroy, versionLabel, versionRecord } from "./versions.js";

// What the token says when a sealed key is not for our import key or was altered (SoftHSM reports a
// failed GCM tag as CKR_GENERAL_ERROR).
const UNOPENABLE = new Set([
  "CKR_ENCRYPTED_DATA_INVALID",
  "CKR_ENCRYPTED_DATA_LEN_RANGE",
  "CKR_WRAPPED_KEY_INVALID",
  "CKR_WRAPPED_KEY_LEN_RANGE",
  "CKR_DATA_LEN_RANGE",
  "CKR_GENERAL_ERROR",
]);

/**
 * BYOK (docs/keys.md): the import certificate senders seal keys to, and new versions opened from
 * what they sealed (CMS or JWE, see parseImport), unwrapped by the token under the import key.
 */
export class KeyImport {
  constructor(
    private readonly deps: {
      /** The key as its lifecycle has it now; NotFoundError when there is none. */
      keys: { get(id: string): Promise<ManagedKey> };
      store: Pick<KeyStore, "addVersion">;
      token: SecretKeyImportOps;
      clock: Clock;
      logger?: Logger;
      /** The key pair (RSA, in the token) that keys for import are sealed to, with its certificate chain. */
      importKey?: { current(): Promise<{ keyUri: string; chain: x509.X509Certificate[] }> };
      /** After a version is added: e.g. escrow it. Failures reach the caller. */
      onNewVersion?: (keyId: string, actor: Actor) => Promise<unknown>;
    },
  ) {}

  /** The import certificate and its chain (leaf first): what BYOK senders seal keys to. */
  async importCertificate(): Promise<x509.X509Certificate[]> {
    if (!this.deps.importKey) throw new ConflictError("key import is not configured on this server");
    return (await this.deps.importKey.current()).chain;
  }

  /**
   * Adds a version whose value the caller sealed to the import certificate. It becomes the primary
   * version, with the key's usual token attributes.
   */
  async importVersion(id: string, format: "cms" | "jwe", data: string, actor: Actor): Promise<ManagedKey> {
    const key = await this.deps.keys.get(id);
    const algorithm = secretAlgorithm(key, "imported (bring your own key covers secret keys)");
    if (!this.deps.importKey) throw new ConflictError("key import is not configured on this server");
    const { keyUri: importKeyUri, chain } = await this.deps.importKey.current();
    const sealed = parseImport(format, data, Buffer.from(chain[0]!.rawData));
    const next = nextVersionNumber(key);
    const now = this.deps.clock.now();
    let keyUri: string;
    try {
      keyUri = await this.deps.token.importSecretKey(importKeyUri, sealed, {
        algorithm,
        label: versionLabel(key, next),
        extractable: key.distributable,
      });
    } catch (error) {
      if (error instanceof HsmError && UNOPENABLE.has(error.ckr ?? "")) {
        throw new BadRequestError(
          "the key could not be opened with Keyward's import key: it was sealed to another certificate, or altered",
        );
      }
      throw error;
    }
    const version = versionRecord(key, next, keyUri, now);
    const destroy = (uri: string) => this.deps.token.destroySecretKey(uri);
    await recordVersionOrDestroy({ destroy, logger: this.deps.logger }, keyUri, () =>
      this.deps.store.addVersion(version, keyEvent("key.import", key, actor, now, { version: next, format, keyUri })),
    );
    await this.deps.onNewVersion?.(key.id, actor);
    return this.deps.keys.get(id);
  }
}
