import { randomBytes } from "node:crypto";
import pkcs11js from "pkcs11js";
import { HsmOperationError, HsmUnsupportedError, HsmWeakenedKeyError } from "../errors/index.js";
import type { SecretKeyAlgorithm, SecretKeys } from "./facets.js";
import type { TokenCore } from "./token-core.js";

// The token refused the object itself (not a mechanism): a kind of object it does not hold.
const TEMPLATE_REFUSED = new Set([
  "CKR_ATTRIBUTE_VALUE_INVALID",
  "CKR_ATTRIBUTE_TYPE_INVALID",
  "CKR_TEMPLATE_INCONSISTENT",
  "CKR_TEMPLATE_INCOMPLETE",
  "CKR_FUNCTION_NOT_SUPPORTED",
]);

/** Symmetric secrets in the token: generated or imported there, then used only by handle. */
export class Pkcs11SecretKeys implements SecretKeys {
  constructor(private readonly core: TokenCore) {}

  /**
   * Imports a shared HMAC secret (e.g. an ACME external account binding key, which the admin must
   * see once) as a sensitive, non-extractable token object: from then on it is used only by handle.
   */
  async importHmacKey(value: Buffer, label: string): Promise<string> {
    const id = randomBytes(16);
    const template: pkcs11js.Template = [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_GENERIC_SECRET },
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_PRIVATE, value: true },
      { type: pkcs11js.CKA_SENSITIVE, value: true },
      { type: pkcs11js.CKA_EXTRACTABLE, value: false },
      { type: pkcs11js.CKA_SIGN, value: true },
      { type: pkcs11js.CKA_VERIFY, value: true },
      // Only MACs: SoftHSM would otherwise allow encrypt/decrypt/wrap/unwrap with it by default.
      { type: pkcs11js.CKA_ENCRYPT, value: false },
      { type: pkcs11js.CKA_DECRYPT, value: false },
      { type: pkcs11js.CKA_WRAP, value: false },
      { type: pkcs11js.CKA_UNWRAP, value: false },
      { type: pkcs11js.CKA_DERIVE, value: false },
      { type: pkcs11js.CKA_LABEL, value: label },
      { type: pkcs11js.CKA_ID, value: id },
      { type: pkcs11js.CKA_VALUE, value },
    ];
    this.core.requireFeature("secrets.import");
    const uri = this.core.uri(label, id, "secret-key");
    try {
      await this.core.withSession("import HMAC key", (session) => this.core.p11.C_CreateObject(session, template), {
        key: uri,
      });
    } catch (error) {
      if (error instanceof HsmOperationError && TEMPLATE_REFUSED.has(error.ckr ?? "")) {
        throw new HsmUnsupportedError(
          `the token "${this.core.tokenLabel}" does not accept imported secret keys (TOTP seeds, ACME EAB keys)`,
          { ckr: error.ckr, cause: error, context: error.context },
        );
      }
      throw error;
    }
    await this.refuseWeakened(uri, false);
    return uri;
  }

  /**
   * Generates a symmetric key in the token: always sensitive; extractable only for keys that may be
   * distributed (wrapped to a recipient), so a non-distributable key can never leave in any form.
   */
  async generateSecretKey(
    algorithm: SecretKeyAlgorithm,
    label: string,
    options: { extractable: boolean },
  ): Promise<string> {
    const id = randomBytes(16);
    const template = [
      ...secretKeyTemplate(algorithm, label, id, options.extractable),
      { type: pkcs11js.CKA_VALUE_LEN, value: algorithm === "AES-128" ? 16 : 32 },
    ];
    const mechanism = algorithm === "HMAC-SHA256" ? pkcs11js.CKM_GENERIC_SECRET_KEY_GEN : pkcs11js.CKM_AES_KEY_GEN;
    this.core.requireFeature(algorithm === "HMAC-SHA256" ? "kms.hmac" : "kms.aes");
    const uri = this.core.uri(label, id, "secret-key");
    await this.core.withSession(
      "generate secret key",
      (session) => this.core.p11.C_GenerateKeyAsync(session, { mechanism }, template),
      { key: uri },
    );
    await this.refuseWeakened(uri, options.extractable);
    return uri;
  }

  /**
   * Creates a KMS secret from a value a client registered (KMIP Register, over mutual TLS): the same
   * template as a generated one, so it is sensitive and extractable only when distributable. The
   * caller zeroes the value.
   */
  async storeSecretKey(
    algorithm: SecretKeyAlgorithm,
    label: string,
    value: Buffer,
    options: { extractable: boolean },
  ): Promise<string> {
    const id = randomBytes(16);
    const template = [
      ...secretKeyTemplate(algorithm, label, id, options.extractable),
      { type: pkcs11js.CKA_VALUE, value },
    ];
    this.core.requireFeature("secrets.import");
    const uri = this.core.uri(label, id, "secret-key");
    await this.core.withSession(
      "store registered secret key",
      (session) => this.core.p11.C_CreateObject(session, template),
      {
        key: uri,
      },
    );
    await this.refuseWeakened(uri, options.extractable);
    return uri;
  }

  /** A secret the token made weaker than asked (not sensitive, extractable when it must not be) is destroyed. */
  private async refuseWeakened(uri: string, extractable: boolean): Promise<void> {
    const attributes = await this.secretKeyAttributes(uri);
    const weakened = [
      !attributes.token && "not a token object",
      !attributes.sensitive && "not sensitive",
      attributes.extractable && !extractable && "extractable",
    ].filter((x): x is string => typeof x === "string");
    if (weakened.length === 0) return;
    await this.destroySecretKey(uri);
    throw new HsmWeakenedKeyError(
      `the token "${this.core.tokenLabel}" made a secret key that is ${weakened.join(", ")}; it was destroyed`,
      { context: { key: uri } },
    );
  }

  /** AES-GCM in the token; returns ciphertext with the 16-byte tag appended (JWE splits them). */
  aesGcmEncrypt(uri: string, iv: Buffer, aad: Buffer, plaintext: Buffer): Promise<Buffer> {
    return this.core.withSecretKey(uri, "AES-GCM encrypt", (session, key) => {
      this.core.p11.C_EncryptInit(session, gcm(iv, aad), key);
      return this.core.p11.C_EncryptAsync(session, plaintext, Buffer.alloc(plaintext.length + 16));
    });
  }

  /** AES-GCM decryption in the token; a wrong tag or key is an HSM error (CKR_ENCRYPTED_DATA_INVALID). */
  aesGcmDecrypt(uri: string, iv: Buffer, aad: Buffer, ciphertextAndTag: Buffer): Promise<Buffer> {
    return this.core.withSecretKey(uri, "AES-GCM decrypt", (session, key) => {
      this.core.p11.C_DecryptInit(session, gcm(iv, aad), key);
      return this.core.p11.C_DecryptAsync(session, ciphertextAndTag, Buffer.alloc(ciphertextAndTag.length));
    });
  }

  /** HMAC-SHA-256 with a secret key in the token. */
  hmacSha256(uri: string, data: Uint8Array): Promise<Buffer> {
    return this.hmac(uri, pkcs11js.CKM_SHA256_HMAC, 32, data);
  }

  /** HMAC-SHA-1 with a secret key in the token: TOTP (RFC 6238) as authenticator apps compute it. */
  hmacSha1(uri: string, data: Uint8Array): Promise<Buffer> {
    return this.hmac(uri, pkcs11js.CKM_SHA_1_HMAC, 20, data);
  }

  /** Removes a secret key from the token for good (C_DestroyObject). */
  async destroySecretKey(uri: string): Promise<void> {
    await this.core.withSession("destroy secret key", (session) => {
      for (const handle of this.core.findObjects(session, uri, pkcs11js.CKO_SECRET_KEY))
        this.core.p11.C_DestroyObject(session, handle);
    });
  }

  /** The security attributes of a secret key (sensitive, extractable…), for checks and audits. */
  async secretKeyAttributes(uri: string): Promise<{ sensitive: boolean; extractable: boolean; token: boolean }> {
    return this.core.withSecretKey(uri, "read key attributes", (session, key) => {
      const attrs = this.core.p11.C_GetAttributeValue(session, key, [
        { type: pkcs11js.CKA_SENSITIVE },
        { type: pkcs11js.CKA_EXTRACTABLE },
        { type: pkcs11js.CKA_TOKEN },
      ]);
      const flag = (i: number) => (attrs[i]!.value as Buffer)[0] === 1;
      return { sensitive: flag(0), extractable: flag(1), token: flag(2) };
    });
  }

  private hmac(uri: string, mechanism: number, length: number, data: Uint8Array): Promise<Buffer> {
    const input = Buffer.from(data);
    return this.core.withSecretKey(uri, "HMAC", (session, key) => {
      this.core.p11.C_SignInit(session, { mechanism }, key);
      return this.core.p11.C_SignAsync(session, input, Buffer.alloc(length));
    });
  }
}

/** KMS secrets: always sensitive; extractable only when distributable; AES encrypts, HMAC signs. */
export function secretKeyTemplate(algorithm: SecretKeyAlgorithm, label: string, id: Buffer, extractable: boolean) {
  const aes = algorithm !== "HMAC-SHA256";
  return [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: aes ? pkcs11js.CKK_AES : pkcs11js.CKK_GENERIC_SECRET },
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_PRIVATE, value: true },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: extractable },
    { type: pkcs11js.CKA_ENCRYPT, value: aes },
    { type: pkcs11js.CKA_DECRYPT, value: aes },
    { type: pkcs11js.CKA_SIGN, value: !aes },
    { type: pkcs11js.CKA_VERIFY, value: !aes },
    { type: pkcs11js.CKA_WRAP, value: false },
    { type: pkcs11js.CKA_UNWRAP, value: false },
    { type: pkcs11js.CKA_DERIVE, value: false },
    { type: pkcs11js.CKA_LABEL, value: label },
    { type: pkcs11js.CKA_ID, value: id },
  ] satisfies pkcs11js.Template;
}

function gcm(iv: Buffer, aad: Buffer): pkcs11js.Mechanism {
  return {
    mechanism: pkcs11js.CKM_AES_GCM,
    parameter: { type: pkcs11js.CK_PARAMS_AES_GCM, iv, aad, ivBits: iv.length * 8, tagBits: 128 } as pkcs11js.AesGCM,
  };
}
