import { createHash, createPublicKey, randomBytes } from "node:crypto";
import pkcs11js from "pkcs11js";
import {
  BadRequestError,
  HsmError,
  HsmKeyNotFoundError,
  HsmModuleError,
  HsmTokenNotFoundError,
} from "../errors/index.js";
import { type KeyType, keyFamily, rsaBits, type SigningAlgorithm } from "../pki/key-types.js";
import { isCkr, toHsmError } from "./errors.js";
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
import { ThreadPool } from "../threads/index.js";
import { SessionPool } from "./session-pool.js";
import type { SignRequest } from "./signing-thread.js";
import { formatPkcs11Uri, parsePkcs11Uri } from "./uri.js";

type Handle = Buffer;

// pkcs11js 2.1.7 has no EdDSA constants (PKCS#11 3.0 values).
const CKK_EC_EDWARDS = 0x40;
const CKM_EC_EDWARDS_KEY_PAIR_GEN = 0x1055;
const CKM_EDDSA = 0x1057;

const EC_PARAMS: Record<"p256" | "p384" | "ed25519", Buffer> = {
  p256: Buffer.from("06082a8648ce3d030107", "hex"),
  p384: Buffer.from("06052b81040022", "hex"),
  ed25519: Buffer.from("06032b6570", "hex"),
};
const EC_POINT_BYTES = { p256: 65, p384: 97, ed25519: 32 } as const;
const CURVE_NAME = { p256: "P-256", p384: "P-384" } as const;

export interface Pkcs11HsmOptions {
  /** Path of the PKCS#11 module (.so). */
  modulePath: string;
  /** CKA label of the token to use. */
  tokenLabel: string;
  /** User PIN; read from the configured pin source by the caller, never logged. */
  pin: string;
  /** Sessions in the pool: how many operations may run in the token at once. */
  sessions?: number;
  /**
   * Threads that sign certificates, OCSP answers and CRLs with a session each, off the event loop
   * (0: signed from the pool, with C_SignInit on the event loop).
   */
  signingThreads?: number;
}

export interface GeneratedKeyPair {
  /** RFC 7512 URI of the private key. */
  uri: string;
  /** DER SubjectPublicKeyInfo of the new key. */
  spki: Buffer;
}

export interface KeyAttributes {
  token: boolean;
  private: boolean;
  sensitive: boolean;
  extractable: boolean;
  alwaysSensitive: boolean;
  neverExtractable: boolean;
}

interface LoadedModule {
  p11: pkcs11js.PKCS11;
  users: number;
}

// C_Initialize may run once per process and C_Finalize ends every session in it, so modules are
// shared by all Pkcs11Hsm instances of this process and finalised when the last one closes.
const loadedModules = new Map<string, LoadedModule>();

function loadModule(modulePath: string): LoadedModule {
  let loaded = loadedModules.get(modulePath);
  if (loaded) {
    loaded.users++;
    return loaded;
  }
  const p11 = new pkcs11js.PKCS11();
  try {
    p11.load(modulePath);
  } catch (error) {
    throw new HsmModuleError(`cannot load PKCS#11 module ${modulePath}: ${(error as Error).message}`, { cause: error });
  }
  try {
    // Without OS locking the module assumes one thread, and the *Async calls race inside it.
    p11.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
  } catch (error) {
    if (!isCkr(error, pkcs11js.CKR_CRYPTOKI_ALREADY_INITIALIZED)) throw toHsmError(error, "initialize");
  }
  loaded = { p11, users: 1 };
  loadedModules.set(modulePath, loaded);
  return loaded;
}

function releaseModule(modulePath: string): void {
  const loaded = loadedModules.get(modulePath);
  if (!loaded) return;
  loaded.users--;
  if (loaded.users > 0) return;
  loadedModules.delete(modulePath);
  try {
    loaded.p11.C_Finalize();
  } finally {
    loaded.p11.close();
  }
}

const bool = (value: Buffer | undefined): boolean => value !== undefined && value.length > 0 && value[0] === 1;

/**
 * The PKCS#11 adapter: one logged-in token, a pool of sessions, keys named by pkcs11: URIs.
 * Private keys are created sensitive and non-extractable and only ever used by handle.
 */
export class Pkcs11Hsm {
  private readonly handles = new Map<string, Handle>();
  private readonly spkis = new Map<string, Buffer>();
  private closed = false;

  private constructor(
    private readonly options: Required<Pkcs11HsmOptions>,
    private readonly p11: pkcs11js.PKCS11,
    private readonly sessions: Handle[],
    private readonly pool: SessionPool<Handle>,
    /**
     * pkcs11js runs C_SignInit on the calling thread, where the token does real work (SoftHSM
     * decrypts and loads the key; a network HSM makes a round trip): on the event loop that would
     * hold up every other request.
     */
    private readonly signingThreads: ThreadPool<SignRequest, Uint8Array> | undefined,
  ) {}

  static async open(options: Pkcs11HsmOptions): Promise<Pkcs11Hsm> {
    const opts = { sessions: 4, signingThreads: 0, ...options };
    const { p11 } = loadModule(opts.modulePath);
    const sessions: Handle[] = [];
    try {
      const slot = findTokenSlot(p11, opts.tokenLabel, opts.modulePath);
      const open = () => p11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
      for (let i = 0; i < opts.sessions + opts.signingThreads; i++) sessions.push(open());
      try {
        p11.C_Login(sessions[0]!, pkcs11js.CKU_USER, opts.pin);
      } catch (error) {
        // Login is per application and token: another Pkcs11Hsm in this process may have done it.
        if (!isCkr(error, pkcs11js.CKR_USER_ALREADY_LOGGED_IN)) throw toHsmError(error, "login");
      }
    } catch (error) {
      for (const session of sessions) p11.C_CloseSession(session);
      releaseModule(opts.modulePath);
      throw toHsmError(error, "open");
    }
    const threadData = sessions.slice(opts.sessions).map((session) => ({ modulePath: opts.modulePath, session }));
    const threads = threadData.length
      ? new ThreadPool<SignRequest, Uint8Array>("signing", new URL("./signing-thread.js", import.meta.url), threadData)
      : undefined;
    return new Pkcs11Hsm(opts, p11, sessions, new SessionPool(sessions.slice(0, opts.sessions)), threads);
  }

  /** Whether an initialised token with this label is in the module's slots now (no login). */
  static tokenPresent(modulePath: string, label: string): boolean {
    const { p11 } = loadModule(modulePath);
    try {
      findTokenSlot(p11, label, modulePath);
      return true;
    } catch (error) {
      if (error instanceof HsmTokenNotFoundError) return false;
      throw error;
    } finally {
      releaseModule(modulePath);
    }
  }

  get tokenLabel(): string {
    return this.options.tokenLabel;
  }

  /** Generates a key pair inside the token: private half sensitive, never extractable. */
  async generateKeyPair(keyType: KeyType, label: string, usage: "sign" | "unwrap" = "sign"): Promise<GeneratedKeyPair> {
    const sign = usage === "sign";
    const id = randomBytes(16);
    const common = [
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_LABEL, value: label },
      { type: pkcs11js.CKA_ID, value: id },
    ];
    const publicTemplate: pkcs11js.Template = [
      ...common,
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
      { type: pkcs11js.CKA_PRIVATE, value: false },
      { type: pkcs11js.CKA_VERIFY, value: sign },
      { type: pkcs11js.CKA_WRAP, value: !sign },
      { type: pkcs11js.CKA_ENCRYPT, value: !sign },
    ];
    const privateTemplate: pkcs11js.Template = [
      ...common,
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
      { type: pkcs11js.CKA_PRIVATE, value: true },
      { type: pkcs11js.CKA_SENSITIVE, value: true },
      { type: pkcs11js.CKA_EXTRACTABLE, value: false },
      { type: pkcs11js.CKA_SIGN, value: sign },
      // An import key only unwraps keys sent to it; it never signs and never decrypts data.
      { type: pkcs11js.CKA_UNWRAP, value: !sign },
      { type: pkcs11js.CKA_DECRYPT, value: false },
    ];
    let mechanism: number;
    switch (keyFamily(keyType)) {
      case "ec":
        mechanism = pkcs11js.CKM_EC_KEY_PAIR_GEN;
        publicTemplate.push({ type: pkcs11js.CKA_EC_PARAMS, value: EC_PARAMS[keyType as "p256" | "p384"] });
        break;
      case "ed25519":
        mechanism = CKM_EC_EDWARDS_KEY_PAIR_GEN;
        publicTemplate.push({ type: pkcs11js.CKA_KEY_TYPE, value: CKK_EC_EDWARDS });
        privateTemplate.push({ type: pkcs11js.CKA_KEY_TYPE, value: CKK_EC_EDWARDS });
        publicTemplate.push({ type: pkcs11js.CKA_EC_PARAMS, value: EC_PARAMS.ed25519 });
        break;
      default:
        mechanism = pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN;
        publicTemplate.push({ type: pkcs11js.CKA_MODULUS_BITS, value: rsaBits(keyType) });
        publicTemplate.push({ type: pkcs11js.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) });
        break;
    }
    const pair = await this.withSession("generate key pair", (session) =>
      this.p11.C_GenerateKeyPairAsync(session, { mechanism }, publicTemplate, privateTemplate),
    );
    const uri = formatPkcs11Uri({ token: this.options.tokenLabel, object: label, id, type: "private" });
    this.handles.set(uri, pair.privateKey);
    return { uri, spki: await this.publicKey(uri) };
  }

  /** DER SubjectPublicKeyInfo of the key pair the private-key URI names, read from its public half. */
  async publicKey(uri: string): Promise<Buffer> {
    const cached = this.spkis.get(uri);
    if (cached) return cached;
    const spki = await this.withSession("read public key", (session) => {
      const publicHandle = this.findObject(session, uri, pkcs11js.CKO_PUBLIC_KEY);
      const [typeAttr] = this.p11.C_GetAttributeValue(session, publicHandle, [{ type: pkcs11js.CKA_KEY_TYPE }]);
      const keyType = (typeAttr!.value as Buffer).readUInt32LE(0);
      if (keyType === pkcs11js.CKK_RSA) {
        const [n, e] = this.p11.C_GetAttributeValue(session, publicHandle, [
          { type: pkcs11js.CKA_MODULUS },
          { type: pkcs11js.CKA_PUBLIC_EXPONENT },
        ]);
        return spkiFromJwk({ kty: "RSA", n: b64u(n?.value as Buffer), e: b64u(e?.value as Buffer) });
      }
      const [params, point] = this.p11.C_GetAttributeValue(session, publicHandle, [
        { type: pkcs11js.CKA_EC_PARAMS },
        { type: pkcs11js.CKA_EC_POINT },
      ]);
      const curve = curveOf(params?.value as Buffer);
      const raw = unwrapEcPoint(point?.value as Buffer, EC_POINT_BYTES[curve]);
      if (curve === "ed25519") return spkiFromJwk({ kty: "OKP", crv: "Ed25519", x: b64u(raw) });
      const half = (raw.length - 1) / 2;
      return spkiFromJwk({
        kty: "EC",
        crv: CURVE_NAME[curve],
        x: b64u(raw.subarray(1, 1 + half)),
        y: b64u(raw.subarray(1 + half)),
      });
    });
    this.spkis.set(uri, spki);
    return spki;
  }

  /**
   * Signs with the private key the URI names. ECDSA hashes here and signs the digest with CKM_ECDSA
   * (SoftHSM has no CKM_ECDSA_SHA384), returning raw r||s as WebCrypto does.
   */
  async sign(uri: string, algorithm: SigningAlgorithm, data: Uint8Array): Promise<Buffer> {
    let input: Buffer;
    let mechanism: number;
    switch (algorithm.name) {
      case "ECDSA":
        mechanism = pkcs11js.CKM_ECDSA;
        // Hashed here, so large inputs (CRLs) are neither copied nor sent through the module.
        input = createHash(algorithm.hash.replace("-", "").toLowerCase()).update(data).digest();
        break;
      case "RSASSA-PKCS1-v1_5":
        mechanism = {
          "SHA-256": pkcs11js.CKM_SHA256_RSA_PKCS,
          "SHA-384": pkcs11js.CKM_SHA384_RSA_PKCS,
          "SHA-512": pkcs11js.CKM_SHA512_RSA_PKCS,
        }[algorithm.hash];
        input = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
        break;
      case "Ed25519":
        mechanism = CKM_EDDSA;
        input = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
        break;
    }
    const threads = this.signingThreads;
    if (threads?.running) {
      return this.withKeyHandle(uri, "sign", async (key) => Buffer.from(await threads.run({ key, mechanism, input })));
    }
    return this.withKey(uri, "sign", (session, key) => {
      this.p11.C_SignInit(session, { mechanism }, key);
      return this.p11.C_SignAsync(session, input, Buffer.alloc(512));
    });
  }

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
    await this.withSession("import HMAC key", (session) => this.p11.C_CreateObject(session, template));
    return formatPkcs11Uri({ token: this.options.tokenLabel, object: label, id, type: "secret-key" });
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
    await this.withSession("generate secret key", (session) =>
      this.p11.C_GenerateKeyAsync(session, { mechanism }, template),
    );
    return formatPkcs11Uri({ token: this.options.tokenLabel, object: label, id, type: "secret-key" });
  }

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
    const found = await this.withKey(importKeyUri, "import secret key", (session, importKey) =>
      openImport(this.p11, session, importKey, sealed, template, length),
    );
    if (found !== length) {
      throw new BadRequestError(`the imported key is ${found} bytes; a ${target.algorithm} key is ${length}`);
    }
    return formatPkcs11Uri({ token: this.options.tokenLabel, object: target.label, id, type: "secret-key" });
  }

  /** Escrow: the key wrapped (AES-KW) under a one-time escrow secret; see EscrowService. */
  wrapSecretKeyUnder(uri: string, wrappingKey: Buffer): Promise<Buffer> {
    return this.withSecretKey(uri, "wrap key for escrow", (session, key) =>
      wrapUnder(this.p11, session, key, wrappingKey),
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
    await this.withSession("unwrap escrowed key", (session) =>
      unwrapUnder(this.p11, session, wrapped, wrappingKey, template),
    );
    return formatPkcs11Uri({ token: this.options.tokenLabel, object: target.label, id, type: "secret-key" });
  }

  /** AES-GCM in the token; returns ciphertext with the 16-byte tag appended (JWE splits them). */
  aesGcmEncrypt(uri: string, iv: Buffer, aad: Buffer, plaintext: Buffer): Promise<Buffer> {
    return this.withSecretKey(uri, "AES-GCM encrypt", (session, key) => {
      this.p11.C_EncryptInit(session, gcm(iv, aad), key);
      return this.p11.C_EncryptAsync(session, plaintext, Buffer.alloc(plaintext.length + 16));
    });
  }

  /** AES-GCM decryption in the token; a wrong tag or key is an HSM error (CKR_ENCRYPTED_DATA_INVALID). */
  aesGcmDecrypt(uri: string, iv: Buffer, aad: Buffer, ciphertextAndTag: Buffer): Promise<Buffer> {
    return this.withSecretKey(uri, "AES-GCM decrypt", (session, key) => {
      this.p11.C_DecryptInit(session, gcm(iv, aad), key);
      return this.p11.C_DecryptAsync(session, ciphertextAndTag, Buffer.alloc(ciphertextAndTag.length));
    });
  }

  /** Seals a (distributable) secret key for a CMS recipient inside the token: see sealForCms. */
  sealKeyForCms(uri: string, recipient: RecipientPublicKey, sharedInfo: Buffer): Promise<CmsSealedKey> {
    return this.withSecretKey(uri, "seal key for recipient", (session, key) =>
      sealForCms(this.p11, session, key, recipient, sharedInfo),
    );
  }

  /** A distributable key's value in host memory, for JWE (see exportToHost); the caller zeroes it. */
  exportSecretKey(uri: string): Promise<Buffer> {
    return this.withSecretKey(uri, "export key for JWE", (session, key) => exportToHost(this.p11, session, key));
  }

  /** Removes a secret key from the token for good (C_DestroyObject). */
  async destroySecretKey(uri: string): Promise<void> {
    await this.withSession("destroy secret key", (session) => {
      for (const handle of this.findObjects(session, uri, pkcs11js.CKO_SECRET_KEY))
        this.p11.C_DestroyObject(session, handle);
    });
  }

  /** The security attributes of a secret key (sensitive, extractable…), for checks and audits. */
  async secretKeyAttributes(uri: string): Promise<{ sensitive: boolean; extractable: boolean; token: boolean }> {
    return this.withSecretKey(uri, "read key attributes", (session, key) => {
      const attrs = this.p11.C_GetAttributeValue(session, key, [
        { type: pkcs11js.CKA_SENSITIVE },
        { type: pkcs11js.CKA_EXTRACTABLE },
        { type: pkcs11js.CKA_TOKEN },
      ]);
      const flag = (i: number) => (attrs[i]!.value as Buffer)[0] === 1;
      return { sensitive: flag(0), extractable: flag(1), token: flag(2) };
    });
  }

  /** Readiness: the token is present and the session is logged in (C_GetSessionInfo on a pooled session). */
  async ping(): Promise<void> {
    await this.withSession("check the token", (session) => {
      const info = this.p11.C_GetSessionInfo(session);
      // CKS_RO_USER_FUNCTIONS (1) or CKS_RW_USER_FUNCTIONS (3): pkcs11js exports no names for these.
      if (info.state !== 1 && info.state !== 3) throw new HsmError("the token session is not logged in");
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

  private hmac(uri: string, mechanism: number, length: number, data: Uint8Array): Promise<Buffer> {
    const input = Buffer.from(data);
    return this.withSecretKey(uri, "HMAC", (session, key) => {
      this.p11.C_SignInit(session, { mechanism }, key);
      return this.p11.C_SignAsync(session, input, Buffer.alloc(length));
    });
  }

  private async withSecretKey<T>(
    uri: string,
    operation: string,
    work: (session: Handle, key: Handle) => Promise<T> | T,
  ) {
    return this.withSession(operation, (session) =>
      work(session, this.findObject(session, uri, pkcs11js.CKO_SECRET_KEY)),
    );
  }

  /** The security attributes of the private key, for checks that it cannot leave the token. */
  async keyAttributes(uri: string): Promise<KeyAttributes> {
    return this.withKey(uri, "read key attributes", (session, key) => {
      const attrs = this.p11.C_GetAttributeValue(session, key, [
        { type: pkcs11js.CKA_TOKEN },
        { type: pkcs11js.CKA_PRIVATE },
        { type: pkcs11js.CKA_SENSITIVE },
        { type: pkcs11js.CKA_EXTRACTABLE },
        { type: pkcs11js.CKA_ALWAYS_SENSITIVE },
        { type: pkcs11js.CKA_NEVER_EXTRACTABLE },
      ]);
      const [token, priv, sensitive, extractable, alwaysSensitive, neverExtractable] = attrs.map((a) =>
        bool(a.value as Buffer),
      );
      return {
        token: token!,
        private: priv!,
        sensitive: sensitive!,
        extractable: extractable!,
        alwaysSensitive: alwaysSensitive!,
        neverExtractable: neverExtractable!,
      };
    });
  }

  /** Removes both halves of a key pair (used to roll back a failed CA creation). */
  async destroyKeyPair(uri: string): Promise<void> {
    await this.withSession("destroy key", (session) => {
      for (const cls of [pkcs11js.CKO_PRIVATE_KEY, pkcs11js.CKO_PUBLIC_KEY]) {
        for (const handle of this.findObjects(session, uri, cls)) this.p11.C_DestroyObject(session, handle);
      }
    });
    this.handles.delete(uri);
    this.spkis.delete(uri);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // The threads use the module: they stop before it can be finalised.
    await this.signingThreads?.close();
    for (const session of this.sessions) {
      try {
        this.p11.C_CloseSession(session);
      } catch {
        // The session is gone either way.
      }
    }
    releaseModule(this.options.modulePath);
  }

  /** Times every token operation (latency and errors by operation), e.g. for Prometheus. */
  instrument(observe: <T>(operation: string, run: () => Promise<T>) => Promise<T>): void {
    this.observe = observe;
  }
  private observe: (<T>(operation: string, run: () => Promise<T>) => Promise<T>) | undefined;

  private withSession<T>(operation: string, work: (session: Handle) => Promise<T> | T): Promise<T> {
    return this.run(operation, () => this.pool.withSession(work));
  }

  /** Every token operation: refused once closed, timed, and its errors typed. */
  private async run<T>(operation: string, work: () => Promise<T>): Promise<T> {
    if (this.closed) throw new HsmError(`HSM ${operation} failed: the HSM connection is closed`);
    const run = async () => {
      try {
        return await work();
      } catch (error) {
        throw toHsmError(error, operation);
      }
    };
    return this.observe ? this.observe(operation, run) : run();
  }

  /** The private key's handle, cached (object handles hold for every session of the process). */
  private keyHandle(session: Handle, uri: string): Handle {
    let key = this.handles.get(uri);
    if (!key) {
      key = this.findObject(session, uri, pkcs11js.CKO_PRIVATE_KEY);
      this.handles.set(uri, key);
    }
    return key;
  }

  /** withKey for work done elsewhere (a signing thread) with only the key's handle. */
  private withKeyHandle<T>(uri: string, operation: string, work: (key: Handle) => Promise<T>): Promise<T> {
    return this.retryStale(uri, async () => {
      const key =
        this.handles.get(uri) ?? (await this.withSession(operation, (session) => this.keyHandle(session, uri)));
      return this.run(operation, () => work(key));
    });
  }

  /**
   * Runs work with the private key's handle. Handles are cached; when one has gone stale (the key was
   * re-created, or another instance changed the token) the key is found again once by its URI.
   */
  private withKey<T>(uri: string, operation: string, work: (session: Handle, key: Handle) => Promise<T> | T) {
    return this.retryStale(uri, () =>
      this.withSession(operation, (session) => work(session, this.keyHandle(session, uri))),
    );
  }

  private async retryStale<T>(uri: string, attempt: () => Promise<T>): Promise<T> {
    for (let tries = 0; ; tries++) {
      try {
        return await attempt();
      } catch (error) {
        const stale =
          error instanceof HsmError &&
          (error.ckr === "CKR_OBJECT_HANDLE_INVALID" || error.ckr === "CKR_KEY_HANDLE_INVALID");
        if (!stale || tries > 0) throw error;
        this.handles.delete(uri);
      }
    }
  }

  private findObject(session: Handle, uri: string, objectClass: number): Handle {
    const found = this.findObjects(session, uri, objectClass);
    const kind =
      objectClass === pkcs11js.CKO_PUBLIC_KEY
        ? "public key"
        : objectClass === pkcs11js.CKO_SECRET_KEY
          ? "secret key"
          : "private key";
    if (found.length === 0) throw new HsmKeyNotFoundError(`HSM has no ${kind} matching ${uri}`);
    if (found.length > 1) throw new HsmError(`HSM has ${found.length} ${kind}s matching ${uri}; the URI must name one`);
    return found[0]!;
  }

  private findObjects(session: Handle, uri: string, objectClass: number): Handle[] {
    let parsed: ReturnType<typeof parsePkcs11Uri>;
    try {
      parsed = parsePkcs11Uri(uri);
    } catch (error) {
      throw new HsmError((error as Error).message);
    }
    if (parsed.token !== undefined && parsed.token !== this.options.tokenLabel) {
      throw new HsmTokenNotFoundError(`key ${uri} is on token "${parsed.token}", not on "${this.options.tokenLabel}"`);
    }
    if (parsed.id === undefined && parsed.object === undefined) throw new HsmError(`${uri} names no object or id`);
    const template: pkcs11js.Template = [{ type: pkcs11js.CKA_CLASS, value: objectClass }];
    if (parsed.id !== undefined) template.push({ type: pkcs11js.CKA_ID, value: parsed.id });
    if (parsed.object !== undefined) template.push({ type: pkcs11js.CKA_LABEL, value: parsed.object });
    this.p11.C_FindObjectsInit(session, template);
    try {
      return this.p11.C_FindObjects(session, 16);
    } finally {
      this.p11.C_FindObjectsFinal(session);
    }
  }
}

function findTokenSlot(p11: pkcs11js.PKCS11, label: string, modulePath: string): Handle {
  const labels: string[] = [];
  for (const slot of p11.C_GetSlotList(true)) {
    const info = p11.C_GetTokenInfo(slot);
    const tokenLabel = info.label.trim();
    if (tokenLabel === label) {
      if ((info.flags & pkcs11js.CKF_TOKEN_INITIALIZED) === 0) break;
      return slot;
    }
    if (tokenLabel !== "") labels.push(tokenLabel);
  }
  const present = labels.length ? `tokens present: ${labels.map((l) => `"${l}"`).join(", ")}` : "no initialised token";
  throw new HsmTokenNotFoundError(`no token labelled "${label}" in ${modulePath} (${present})`);
}

function curveOf(params: Buffer): "p256" | "p384" | "ed25519" {
  for (const [name, der] of Object.entries(EC_PARAMS)) if (der.equals(params)) return name as "p256";
  // SoftHSM also accepts the PrintableString form for Ed25519.
  if (params.toString("latin1").includes("edwards25519")) return "ed25519";
  throw new HsmError(`HSM key has unsupported EC parameters ${params.toString("hex")}`);
}

/** CKA_EC_POINT is a DER OCTET STRING around the point in most modules, the bare point in some. */
function unwrapEcPoint(point: Buffer, size: number): Buffer {
  if (point.length === size) return point;
  if (point[0] === 0x04 && point[1] === size && point.length === size + 2) return point.subarray(2);
  if (point[0] === 0x04 && point[1] === 0x81 && point[2] === size && point.length === size + 3)
    return point.subarray(3);
  throw new HsmError(`HSM returned an EC point of unexpected length ${point.length}`);
}

function b64u(value: Buffer): string {
  return value.toString("base64url");
}

function spkiFromJwk(jwk: Record<string, string>): Buffer {
  return createPublicKey({ key: jwk, format: "jwk" }).export({ type: "spki", format: "der" });
}

type SecretKeyAlgorithm = "AES-128" | "AES-256" | "HMAC-SHA256";

/** KMS secrets: always sensitive; extractable only when distributable; AES encrypts, HMAC signs. */
function secretKeyTemplate(algorithm: SecretKeyAlgorithm, label: string, id: Buffer, extractable: boolean) {
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
