import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Actor, AuditEvent } from "../audit/index.js";
import { canonicalJson } from "../audit/index.js";
import { BadRequestError, ConflictError, HsmError } from "../errors/index.js";
import { isKeyPair } from "./key-pairs.js";
import { USES } from "./lifecycle.js";
import type { ManagedKey, SecretKeyCryptoOps } from "./ports.js";
import { primaryVersion, versionOf } from "./versions.js";

const b64u = (b: Buffer) => b.toString("base64url");

/** Encryption context: named values bound to a ciphertext and required again to decrypt it. */
export type EncryptionContext = Record<string, string>;

/**
 * The data plane of the KMS (DESIGN.md §5): encrypt/decrypt as compact JWE (`dir`, A128GCM/A256GCM)
 * and HMAC, done by the HSM with the version the key's lifecycle allows. Every use of a key is an
 * audit event.
 */
export class KeyCrypto {
  constructor(
    private readonly deps: {
      /** The key as its lifecycle has it now; NotFoundError when there is none. */
      keys: { get(id: string): Promise<ManagedKey> };
      token: SecretKeyCryptoOps;
      /** Records key uses (not state changes: stores write those in their own transactions). */
      audit: { record(event: Omit<AuditEvent, "at">): Promise<unknown> };
      /** Metrics and burst detection hook for each use. */
      onUse?: (use: { keyId: string; operation: string; actor: Actor }) => void;
    },
  ) {}

  /** Compact JWE (RFC 7516) with `alg: dir`: any JOSE library decrypts it with the raw key. */
  async encrypt(
    id: string,
    plaintext: Buffer,
    actor: Actor,
    context?: EncryptionContext,
  ): Promise<{ ciphertext: string; version: number }> {
    const key = await this.deps.keys.get(id);
    refuseKeyPair(key, "encrypt");
    if (key.purpose === "mac") throw new BadRequestError(`key ${key.name} is an HMAC key: use mac, not encrypt`);
    const version = primaryVersion(key);
    if (!version) throw new ConflictError(`key ${key.name} has no active version to encrypt with`);
    const header = {
      alg: "dir",
      enc: key.algorithm === "AES-128" ? "A128GCM" : "A256GCM",
      kid: `${key.id}/${version.version}`,
      ...(context ? { "kw-ctx": contextDigest(context) } : {}),
    };
    const protectedHeader = b64u(Buffer.from(JSON.stringify(header)));
    const iv = randomBytes(12);
    const sealed = await this.deps.token.aesGcmEncrypt(
      version.keyUri,
      iv,
      Buffer.from(protectedHeader, "ascii"),
      plaintext,
    );
    await this.used(key, "encrypt", actor, { version: version.version, bytes: plaintext.length });
    const ciphertext = [protectedHeader, "", b64u(iv), b64u(sealed.subarray(0, -16)), b64u(sealed.subarray(-16))].join(
      ".",
    );
    return { ciphertext, version: version.version };
  }

  /**
   * Decrypts a JWE made by encrypt under any version that may still process data (active or
   * deactivated); suspended and compromised versions need `override` with a reason (audited).
   */
  async decrypt(
    id: string,
    jwe: string,
    actor: Actor,
    options: { context?: EncryptionContext; override?: { reason: string } } = {},
  ): Promise<{ plaintext: Buffer; version: number }> {
    const key = await this.deps.keys.get(id);
    refuseKeyPair(key, "decrypt a JWE");
    const parts = jwe.split(".");
    if (parts.length !== 5 || parts[1] !== "" || !parts.every((p) => /^[A-Za-z0-9_-]*$/.test(p))) {
      throw new BadRequestError(
        "the ciphertext is not a compact JWE with alg dir (five base64url parts, empty key part)",
      );
    }
    let header: { alg?: string; enc?: string; kid?: string; "kw-ctx"?: string };
    try {
      header = JSON.parse(Buffer.from(parts[0]!, "base64url").toString("utf8"));
    } catch {
      throw new BadRequestError("the JWE protected header is not JSON");
    }
    const match = /^([0-9a-f-]{36})\/(\d+)$/.exec(header.kid ?? "");
    if (header.alg !== "dir" || !match || match[1] !== key.id) {
      throw new BadRequestError(
        `the JWE was not made by key ${key.name} (kid "${header.kid ?? ""}", alg "${header.alg ?? ""}")`,
      );
    }
    const expectedContext = header["kw-ctx"];
    if (
      (expectedContext !== undefined || options.context !== undefined) &&
      expectedContext !== (options.context && contextDigest(options.context))
    ) {
      throw new BadRequestError("the encryption context does not match the one the data was encrypted with");
    }
    const version = versionOf(key, Number(match[2]));
    if (!USES[version.state].process) {
      const overridable = version.state === "suspended" || version.state === "compromised";
      if (!overridable || !options.override) {
        throw new ConflictError(
          `version ${version.version} of key ${key.name} is ${version.state}: it cannot decrypt${overridable ? " (an administrator may override with a reason)" : ""}`,
        );
      }
    }
    const iv = Buffer.from(parts[2]!, "base64url");
    const sealed = Buffer.concat([Buffer.from(parts[3]!, "base64url"), Buffer.from(parts[4]!, "base64url")]);
    if (iv.length !== 12 || Buffer.from(parts[4]!, "base64url").length !== 16)
      throw new BadRequestError("the JWE needs a 96-bit IV and a 128-bit tag");
    let plaintext: Buffer;
    try {
      plaintext = await this.deps.token.aesGcmDecrypt(version.keyUri, iv, Buffer.from(parts[0]!, "ascii"), sealed);
    } catch (error) {
      if (isTagFailure(error)) {
        throw new BadRequestError(
          "the ciphertext does not authenticate under this key: it was altered or made with another key",
        );
      }
      throw error;
    }
    await this.used(key, "decrypt", actor, {
      version: version.version,
      ...(options.override ? { override: options.override.reason, state: version.state } : {}),
    });
    return { plaintext, version: version.version };
  }

  /**
   * Raw AES-GCM under the primary version, for protocols that carry IV and tag themselves (KMIP
   * Encrypt): nothing in the output names the version, so decryptGcm tries the versions that may
   * still process data. A caller-chosen IV must be 96 bits; without one a random IV is made.
   */
  async encryptGcm(
    id: string,
    input: { plaintext: Buffer; aad?: Buffer; iv?: Buffer },
    actor: Actor,
  ): Promise<{ ciphertext: Buffer; tag: Buffer; iv: Buffer; version: number }> {
    const key = await this.deps.keys.get(id);
    if (key.purpose === "mac") throw new BadRequestError(`key ${key.name} is an HMAC key: use mac, not encrypt`);
    const version = primaryVersion(key);
    if (!version) throw new ConflictError(`key ${key.name} has no active version to encrypt with`);
    const iv = input.iv ?? randomBytes(12);
    if (iv.length !== 12) throw new BadRequestError(`AES-GCM takes a 96-bit IV, not ${iv.length * 8} bits`);
    const sealed = await this.deps.token.aesGcmEncrypt(
      version.keyUri,
      iv,
      input.aad ?? Buffer.alloc(0),
      input.plaintext,
    );
    await this.used(key, "encrypt", actor, { version: version.version, bytes: input.plaintext.length, format: "gcm" });
    return { ciphertext: sealed.subarray(0, -16), tag: sealed.subarray(-16), iv, version: version.version };
  }

  /** Opens what encryptGcm sealed: the newest version that may process data and authenticates it. */
  async decryptGcm(
    id: string,
    input: { ciphertext: Buffer; tag: Buffer; iv: Buffer; aad?: Buffer },
    actor: Actor,
  ): Promise<{ plaintext: Buffer; version: number }> {
    const key = await this.deps.keys.get(id);
    if (key.purpose === "mac") throw new BadRequestError(`key ${key.name} is an HMAC key: it does not decrypt`);
    if (input.iv.length !== 12 || input.tag.length !== 16)
      throw new BadRequestError("AES-GCM here takes a 96-bit IV and a 128-bit tag");
    const candidates = key.versions.filter((v) => USES[v.state].process).sort((a, b) => b.version - a.version);
    if (candidates.length === 0) throw new ConflictError(`key ${key.name} has no version that may decrypt`);
    const sealed = Buffer.concat([input.ciphertext, input.tag]);
    for (const version of candidates) {
      try {
        const plaintext = await this.deps.token.aesGcmDecrypt(
          version.keyUri,
          input.iv,
          input.aad ?? Buffer.alloc(0),
          sealed,
        );
        await this.used(key, "decrypt", actor, { version: version.version, format: "gcm" });
        return { plaintext, version: version.version };
      } catch (error) {
        // Not this version's ciphertext: an older one may open it.
        if (!isTagFailure(error)) throw error;
      }
    }
    throw new BadRequestError(
      `the ciphertext does not authenticate under any usable version of key ${key.name}: it was altered or made with another key`,
    );
  }

  /** Decrypts and re-encrypts under the primary version; the plaintext never leaves the server. */
  async rewrap(id: string, jwe: string, actor: Actor, context?: EncryptionContext) {
    const { plaintext } = await this.decrypt(id, jwe, actor, { context });
    try {
      return await this.encrypt(id, plaintext, actor, context);
    } finally {
      plaintext.fill(0);
    }
  }

  /** Envelope encryption (like AWS GenerateDataKey): a fresh data key, in plaintext and sealed. */
  async generateDataKey(id: string, bytes: 16 | 32, actor: Actor, context?: EncryptionContext) {
    const dataKey = randomBytes(bytes);
    const { ciphertext, version } = await this.encrypt(id, dataKey, actor, context);
    return { plaintext: dataKey, ciphertext, version };
  }

  async mac(id: string, data: Buffer, actor: Actor): Promise<{ mac: string; version: number }> {
    const key = await this.deps.keys.get(id);
    refuseKeyPair(key, "MAC");
    if (key.purpose !== "mac") throw new BadRequestError(`key ${key.name} is not an HMAC key`);
    const version = primaryVersion(key);
    if (!version) throw new ConflictError(`key ${key.name} has no active version to MAC with`);
    const tag = await this.deps.token.hmacSha256(version.keyUri, data);
    await this.used(key, "mac", actor, { version: version.version });
    return { mac: b64u(tag), version: version.version };
  }

  async verifyMac(id: string, data: Buffer, mac: string, version: number, actor: Actor): Promise<boolean> {
    const key = await this.deps.keys.get(id);
    refuseKeyPair(key, "verify a MAC");
    const v = versionOf(key, version);
    if (!USES[v.state].process)
      throw new ConflictError(`version ${version} of key ${key.name} is ${v.state}: it cannot verify`);
    const expected = await this.deps.token.hmacSha256(v.keyUri, data);
    const given = Buffer.from(mac, "base64url");
    await this.used(key, "verify", actor, { version });
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  private async used(key: ManagedKey, operation: string, actor: Actor, details: Record<string, string | number>) {
    this.deps.onUse?.({ keyId: key.id, operation, actor });
    await this.deps.audit.record({
      action: `key.${operation}`,
      actor,
      target: { type: "key", id: key.id },
      outcome: "success",
      details: { name: key.name, ...details },
    });
  }
}

/** The secret-key data plane refuses key pairs, naming what they do instead. */
function refuseKeyPair(key: ManagedKey, operation: string): void {
  if (!isKeyPair(key)) return;
  throw new BadRequestError(
    key.purpose === "decrypt"
      ? `key ${key.name} is an ${key.algorithm} decrypt key pair: it cannot ${operation}; encrypt to its public key (GET /api/v1/keys/${key.id}/public-key) and send the RSA-OAEP ciphertext to decrypt`
      : `key ${key.name} is a ${key.algorithm} signing key pair: it cannot ${operation}; it signs (sign, sign-jws) and verifies signatures`,
  );
}

/** A failed GCM tag is CKR_ENCRYPTED_DATA_INVALID in PKCS#11; SoftHSM 2.6 reports it as CKR_GENERAL_ERROR. */
function isTagFailure(error: unknown): boolean {
  return (
    error instanceof HsmError &&
    /ENCRYPTED_DATA_INVALID|ENCRYPTED_DATA_LEN_RANGE|GENERAL_ERROR/.test(`${error.ckr ?? ""} ${error.message}`)
  );
}

/** The context enters the protected header only as a digest: it authenticates without being disclosed. */
function contextDigest(context: EncryptionContext): string {
  return createHash("sha256").update(canonicalJson(context)).digest("base64url");
}
