import { randomBytes } from "node:crypto";
import { BadRequestError } from "../errors/index.js";
import type { SecretKeyAlgorithm, Wrapping } from "./facets.js";
import {
  type CmsSealedKey,
  exportToHost,
  openImport,
  type RecipientPublicKey,
  type SealedImport,
  sealForCms,
  unwrapUnder,
  wrapUnder,
} from "./key-wrapping.js";
import { secretKeyTemplate } from "./secret-keys.js";
import type { TokenCore } from "./token-core.js";

/** Keys into and out of the token: sealed to recipients, wrapped for escrow, opened on import. */
export class Pkcs11Wrapping implements Wrapping {
  constructor(private readonly core: TokenCore) {}

  /**
   * Imports a key sent to an import key pair in the token (BYOK): see openImport. The new secret
   * gets the same attributes as a generated one.
   */
  async importSecretKey(
    importKeyUri: string,
    sealed: SealedImport,
    target: { algorithm: SecretKeyAlgorithm; label: string; extractable: boolean },
  ): Promise<string> {
    const id = randomBytes(16);
    const length = target.algorithm === "AES-128" ? 16 : 32;
    const template = secretKeyTemplate(target.algorithm, target.label, id, target.extractable);
    const found = await this.core.withKey(importKeyUri, "import secret key", (session, importKey) =>
      openImport(this.core.p11, session, importKey, sealed, template, length),
    );
    if (found !== length) {
      throw new BadRequestError(`the imported key is ${found} bytes; a ${target.algorithm} key is ${length}`);
    }
    return this.core.uri(target.label, id, "secret-key");
  }

  /** Escrow: the key wrapped (AES-KW) under a one-time escrow secret; see EscrowService. */
  wrapSecretKeyUnder(uri: string, wrappingKey: Buffer): Promise<Buffer> {
    return this.core.withSecretKey(uri, "wrap key for escrow", (session, key) =>
      wrapUnder(this.core.p11, session, key, wrappingKey),
    );
  }

  /** Escrow recovery: unwraps a key escrowed by wrapSecretKeyUnder as a new token object. */
  async unwrapSecretKeyUnder(
    wrapped: Buffer,
    wrappingKey: Buffer,
    target: { algorithm: SecretKeyAlgorithm; label: string; extractable: boolean },
  ): Promise<string> {
    const id = randomBytes(16);
    const template = secretKeyTemplate(target.algorithm, target.label, id, target.extractable);
    await this.core.withSession("unwrap escrowed key", (session) =>
      unwrapUnder(this.core.p11, session, wrapped, wrappingKey, template),
    );
    return this.core.uri(target.label, id, "secret-key");
  }

  /** Seals a (distributable) secret key for a CMS recipient inside the token: see sealForCms. */
  sealKeyForCms(uri: string, recipient: RecipientPublicKey, sharedInfo: Buffer): Promise<CmsSealedKey> {
    return this.core.withSecretKey(uri, "seal key for recipient", (session, key) =>
      sealForCms(this.core.p11, session, key, recipient, sharedInfo),
    );
  }

  /** A distributable key's value in host memory, for JWE (see exportToHost); the caller zeroes it. */
  exportSecretKey(uri: string): Promise<Buffer> {
    return this.core.withSecretKey(uri, "export key for JWE", (session, key) =>
      exportToHost(this.core.p11, session, key),
    );
  }
}
