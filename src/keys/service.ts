import { createHash, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import type * as x509 from "@peculiar/x509";
import type { Actor, AuditEvent } from "../audit/index.js";
import { canonicalJson } from "../audit/index.js";
import type { Clock } from "../clock/index.js";
import { BadRequestError, ConflictError, HsmError, NotFoundError } from "../errors/index.js";
import { parseImport } from "./import.js";
import { checkTransition, type KeyState, USES } from "./lifecycle.js";
import type {
  KeyAlgorithm,
  KeyPurpose,
  KeyStore,
  KeyVersion,
  ManagedKey,
  RecipientPolicy,
  SymmetricKeyOps,
} from "./ports.js";

const DAY = 86_400_000;
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
const b64u = (b: Buffer) => b.toString("base64url");

export interface CreateKeyRequest {
  name: string;
  algorithm: KeyAlgorithm;
  purpose?: KeyPurpose;
  distributable?: boolean;
  rotationDays?: number;
  cryptoperiodDays?: number;
  tags?: string[];
  onRecipientRevoked?: RecipientPolicy;
  /** The first version starts in pre-activation and is activated by the scheduler at this time. */
  activateAt?: Date;
  /** The first version is deactivated at this time (instead of after the cryptoperiod). */
  deactivateAt?: Date;
}

/** Encryption context: named values bound to a ciphertext and required again to decrypt it. */
export type EncryptionContext = Record<string, string>;

/**
 * The KMS (DESIGN.md §5): symmetric keys whose versions live only in the token, with the NIST
 * SP 800-57 lifecycle, rotation, and encrypt/decrypt as compact JWE (`dir`, A128GCM/A256GCM) done
 * by the HSM. Every use of a key is an audit event.
 */
export class KeyService {
  constructor(
    private readonly deps: {
      store: KeyStore;
      token: SymmetricKeyOps;
      clock: Clock;
      /** Records key uses (not state changes: stores write those in their own transactions). */
      audit: { record(event: Omit<AuditEvent, "at">): Promise<unknown> };
      /** Metrics and burst detection hook for each use. */
      onUse?: (use: { keyId: string; operation: string; actor: Actor }) => void;
      destroyWaitDays: number;
      /** Periods of keys created without their own (SP 800-57 Table 1 defaults from config); 0: none. */
      defaults?: { rotationDays: number; cryptoperiodDays: number };
      /** The key pair (RSA, in the token) that keys for import are sealed to, with its certificate chain. */
      importKey?: { current(): Promise<{ keyUri: string; chain: x509.X509Certificate[] }> };
      /** After a version is added (create, rotate, import): e.g. escrow it. Failures reach the caller. */
      onNewVersion?: (keyId: string, actor: Actor) => Promise<unknown>;
    },
  ) {}

  /**
   * Points a version at a new token object holding the same key (escrow recovery, restore into a
   * new token); the old object, if it still exists, is destroyed.
   */
  async replaceVersionObject(id: string, version: number, keyUri: string, actor: Actor, reason: string): Promise<void> {
    const key = await this.get(id);
    const v = this.version(key, version);
    await this.deps.store.replaceVersionUri(
      key.id,
      version,
      keyUri,
      keyEvent("key.recovered", key, actor, this.deps.clock.now(), {
        version,
        keyUri,
        previousUri: v.keyUri,
        reason,
      }),
    );
    if (v.keyUri !== keyUri) await this.deps.token.destroySecretKey(v.keyUri).catch(() => undefined);
  }

  /** The import certificate and its chain (leaf first): what BYOK senders seal keys to. */
  async importCertificate(): Promise<x509.X509Certificate[]> {
    if (!this.deps.importKey) throw new ConflictError("key import is not configured on this server");
    return (await this.deps.importKey.current()).chain;
  }

  /**
   * BYOK: adds a version whose value the caller sealed to the import certificate (CMS or JWE,
   * see parseImport). It becomes the primary version, with the key's usual token attributes.
   */
  async importVersion(id: string, format: "cms" | "jwe", data: string, actor: Actor): Promise<ManagedKey> {
    const key = await this.get(id);
    if (!this.deps.importKey) throw new ConflictError("key import is not configured on this server");
    const { keyUri: importKeyUri, chain } = await this.deps.importKey.current();
    const sealed = parseImport(format, data, Buffer.from(chain[0]!.rawData));
    const next = Math.max(...key.versions.map((v) => v.version)) + 1;
    const now = this.deps.clock.now();
    let keyUri: string;
    try {
      keyUri = await this.deps.token.importSecretKey(importKeyUri, sealed, {
        algorithm: key.algorithm,
        label: `kms-${key.name}-v${next}-${randomBytes(3).toString("hex")}`,
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
    await this.deps.store
      .addVersion(version, keyEvent("key.import", key, actor, now, { version: next, format, keyUri }))
      .catch(async (error) => {
        await this.deps.token.destroySecretKey(keyUri).catch(() => undefined);
        throw error;
      });
    await this.deps.onNewVersion?.(key.id, actor);
    return this.get(id);
  }

  async create(request: CreateKeyRequest, actor: Actor): Promise<ManagedKey> {
    if (!/^[a-z0-9][a-z0-9._-]{0,63}$/.test(request.name)) {
      throw new BadRequestError("key names are 1-64 lowercase letters, digits, dots, dashes or underscores");
    }
    const purpose = request.purpose ?? (request.algorithm === "HMAC-SHA256" ? "mac" : "encrypt");
    if ((purpose === "mac") !== (request.algorithm === "HMAC-SHA256")) {
      throw new BadRequestError(
        `purpose "${purpose}" does not fit ${request.algorithm}: HMAC keys MAC, AES keys encrypt or wrap`,
      );
    }
    const now = this.deps.clock.now();
    const start = request.activateAt && request.activateAt > now ? request.activateAt : now;
    if (request.deactivateAt && request.deactivateAt <= start) {
      throw new BadRequestError("deactivateAt must be after the activation date (or now)");
    }
    const key: ManagedKey = {
      id: randomUUID(),
      name: request.name,
      algorithm: request.algorithm,
      purpose,
      distributable: request.distributable ?? false,
      rotationDays: request.rotationDays ?? (this.deps.defaults?.rotationDays || null),
      cryptoperiodDays: request.cryptoperiodDays ?? (this.deps.defaults?.cryptoperiodDays || null),
      tags: request.tags ?? [],
      onRecipientRevoked: request.onRecipientRevoked ?? "flag",
      createdAt: now,
      versions: [],
    };
    const version = await this.newVersion(key, 1, now, { activateAt: start > now ? start : undefined });
    if (request.deactivateAt) version.deactivateAt = request.deactivateAt;
    await this.deps.store
      .create(
        { ...key, versions: [version] },
        keyEvent("key.create", key, actor, now, {
          algorithm: key.algorithm,
          purpose,
          distributable: key.distributable,
          keyUri: version.keyUri,
        }),
      )
      .catch(async (error) => {
        // The database refused (e.g. the name is taken): the new secret must not linger in the token.
        await this.deps.token.destroySecretKey(version.keyUri).catch(() => undefined);
        throw error;
      });
    await this.deps.onNewVersion?.(key.id, actor);
    return (await this.deps.store.get(key.id))!;
  }

  list(): Promise<ManagedKey[]> {
    return this.deps.store.list();
  }

  async get(id: string): Promise<ManagedKey> {
    const key = await this.deps.store.get(id);
    if (!key) throw new NotFoundError(`no key with id ${id}`);
    return key;
  }

  /** Chooses what revoking a recipient certificate does to this key (see RecipientPolicy). */
  async setPolicy(id: string, onRecipientRevoked: RecipientPolicy, actor: Actor): Promise<ManagedKey> {
    const key = await this.get(id);
    await this.deps.store.setPolicy(
      key.id,
      onRecipientRevoked,
      keyEvent("key.policy", key, actor, this.deps.clock.now(), {
        onRecipientRevoked,
        previous: key.onRecipientRevoked,
      }),
    );
    return this.get(id);
  }

  /** The newest active version: the one that protects new data. */
  primary(key: ManagedKey): KeyVersion | undefined {
    return key.versions.filter((v) => v.state === "active").sort((a, b) => b.version - a.version)[0];
  }

  async rotate(id: string, actor: Actor): Promise<ManagedKey> {
    const key = await this.get(id);
    const now = this.deps.clock.now();
    const next = Math.max(...key.versions.map((v) => v.version)) + 1;
    const version = await this.newVersion(key, next, now);
    await this.deps.store
      .addVersion(version, keyEvent("key.rotate", key, actor, now, { version: next, keyUri: version.keyUri }))
      .catch(async (error) => {
        await this.deps.token.destroySecretKey(version.keyUri).catch(() => undefined);
        throw error;
      });
    await this.deps.onNewVersion?.(key.id, actor);
    return this.get(id);
  }

  /**
   * Moves one version (or every version for which the move is legal) to a new state along the
   * NIST SP 800-57 transitions; `destroyed` is reached only through scheduleDestroy.
   */
  async changeState(
    id: string,
    change: { to: Exclude<KeyState, "destroyed" | "pre-activation">; version?: number; reason?: string },
    actor: Actor,
  ): Promise<ManagedKey> {
    const key = await this.get(id);
    const targets =
      change.version === undefined
        ? key.versions.filter((v) => v.state !== "destroyed")
        : [this.version(key, change.version)];
    const now = this.deps.clock.now();
    const movable = targets.filter((v) => v.state !== change.to);
    if (movable.length === 0) throw new ConflictError(`no version of key ${key.name} can become ${change.to}`);
    for (const v of movable) checkTransition(v.state, change.to, `version ${v.version} of key ${key.name}`);
    for (const v of movable) {
      const moved = await this.deps.store.updateVersion(
        key.id,
        v.version,
        v.state,
        { state: change.to },
        keyEvent(`key.${change.to}`, key, actor, now, {
          version: v.version,
          from: v.state,
          ...(change.reason ? { reason: change.reason } : {}),
        }),
      );
      if (!moved) throw new ConflictError(`version ${v.version} of key ${key.name} changed state just now; try again`);
    }
    return this.get(id);
  }

  /** Schedules destruction after the waiting period; until then `cancelDestroy` keeps the key. */
  async scheduleDestroy(
    id: string,
    version: number,
    actor: Actor,
    waitDays = this.deps.destroyWaitDays,
  ): Promise<ManagedKey> {
    const key = await this.get(id);
    const v = this.version(key, version);
    checkTransition(v.state, "destroyed", `version ${version} of key ${key.name}`);
    if (v.destroyAfter)
      throw new ConflictError(`version ${version} of key ${key.name} is already scheduled for destruction`);
    const now = this.deps.clock.now();
    const destroyAfter = new Date(now.getTime() + waitDays * DAY);
    await this.deps.store.updateVersion(
      key.id,
      version,
      v.state,
      { destroyAfter },
      keyEvent("key.destroy.schedule", key, actor, now, { version, destroyAfter: destroyAfter.toISOString() }),
    );
    return this.get(id);
  }

  async cancelDestroy(id: string, version: number, actor: Actor): Promise<ManagedKey> {
    const key = await this.get(id);
    const v = this.version(key, version);
    if (!v.destroyAfter || v.state === "destroyed")
      throw new ConflictError(`version ${version} of key ${key.name} is not scheduled for destruction`);
    await this.deps.store.updateVersion(
      key.id,
      version,
      v.state,
      { destroyAfter: null },
      keyEvent("key.destroy.cancel", key, actor, this.deps.clock.now(), { version }),
    );
    return this.get(id);
  }

  /**
   * The scheduler's work: destroy what is due (C_DestroyObject, then the record), deactivate
   * versions past their cryptoperiod, and rotate keys whose rotation period has passed.
   */
  async runSchedule(
    actor: Actor,
  ): Promise<{ activated: number; destroyed: number; deactivated: number; rotated: number }> {
    const now = this.deps.clock.now();
    let activated = 0;
    for (const v of await this.deps.store.dueForActivation(now)) {
      const key = (await this.deps.store.get(v.keyId))!;
      const event = keyEvent("key.active", key, actor, now, { version: v.version, reason: "activation date" });
      if (await this.deps.store.updateVersion(v.keyId, v.version, "pre-activation", { state: "active" }, event))
        activated++;
    }
    let destroyed = 0;
    for (const v of await this.deps.store.dueForDestruction(now)) {
      const key = (await this.deps.store.get(v.keyId))!;
      await this.deps.token.destroySecretKey(v.keyUri);
      const event = keyEvent("key.destroy", key, actor, now, { version: v.version, keyUri: v.keyUri });
      if (
        await this.deps.store.updateVersion(
          v.keyId,
          v.version,
          v.state,
          { state: "destroyed", destroyedAt: now },
          event,
        )
      )
        destroyed++;
    }
    let deactivated = 0;
    for (const v of await this.deps.store.pastCryptoperiod(now)) {
      const key = (await this.deps.store.get(v.keyId))!;
      const event = keyEvent("key.deactivated", key, actor, now, {
        version: v.version,
        reason: "cryptoperiod ended",
      });
      if (await this.deps.store.updateVersion(v.keyId, v.version, "active", { state: "deactivated" }, event))
        deactivated++;
    }
    let rotated = 0;
    for (const key of await this.deps.store.list()) {
      const primary = this.primary(key);
      if (key.rotationDays && primary && primary.createdAt.getTime() + key.rotationDays * DAY <= now.getTime()) {
        await this.rotate(key.id, actor);
        rotated++;
      }
    }
    return { activated, destroyed, deactivated, rotated };
  }

  /** Compact JWE (RFC 7516) with `alg: dir`: any JOSE library decrypts it with the raw key. */
  async encrypt(
    id: string,
    plaintext: Buffer,
    actor: Actor,
    context?: EncryptionContext,
  ): Promise<{ ciphertext: string; version: number }> {
    const key = await this.get(id);
    if (key.purpose === "mac") throw new BadRequestError(`key ${key.name} is an HMAC key: use mac, not encrypt`);
    const version = this.primary(key);
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
    const key = await this.get(id);
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
    const version = this.version(key, Number(match[2]));
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
      // A failed GCM tag is CKR_ENCRYPTED_DATA_INVALID in PKCS#11; SoftHSM 2.6 reports it as CKR_GENERAL_ERROR.
      if (
        error instanceof HsmError &&
        /ENCRYPTED_DATA_INVALID|ENCRYPTED_DATA_LEN_RANGE|GENERAL_ERROR/.test(error.message)
      ) {
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
    const key = await this.get(id);
    if (key.purpose !== "mac") throw new BadRequestError(`key ${key.name} is not an HMAC key`);
    const version = this.primary(key);
    if (!version) throw new ConflictError(`key ${key.name} has no active version to MAC with`);
    const tag = await this.deps.token.hmacSha256(version.keyUri, data);
    await this.used(key, "mac", actor, { version: version.version });
    return { mac: b64u(tag), version: version.version };
  }

  async verifyMac(id: string, data: Buffer, mac: string, version: number, actor: Actor): Promise<boolean> {
    const key = await this.get(id);
    const v = this.version(key, version);
    if (!USES[v.state].process)
      throw new ConflictError(`version ${version} of key ${key.name} is ${v.state}: it cannot verify`);
    const expected = await this.deps.token.hmacSha256(v.keyUri, data);
    const given = Buffer.from(mac, "base64url");
    await this.used(key, "verify", actor, { version });
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  private version(key: ManagedKey, version: number): KeyVersion {
    const v = key.versions.find((x) => x.version === version);
    if (!v) throw new NotFoundError(`key ${key.name} has no version ${version}`);
    return v;
  }

  private async newVersion(
    key: ManagedKey,
    version: number,
    now: Date,
    options: { activateAt?: Date } = {},
  ): Promise<KeyVersion> {
    const keyUri = await this.deps.token.generateSecretKey(
      key.algorithm,
      `kms-${key.name}-v${version}-${randomBytes(3).toString("hex")}`,
      { extractable: key.distributable },
    );
    return versionRecord(key, version, keyUri, now, options.activateAt);
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

/** A successful change to a key, as its audit event (the key's name always among the details). */
export function keyEvent(
  action: string,
  key: ManagedKey,
  actor: Actor,
  at: Date,
  details: Record<string, string | number | boolean>,
): AuditEvent {
  return {
    action,
    actor,
    target: { type: "key", id: key.id },
    outcome: "success",
    details: { name: key.name, ...details },
    at,
  };
}

/** The context enters the protected header only as a digest: it authenticates without being disclosed. */
function contextDigest(context: EncryptionContext): string {
  return createHash("sha256").update(canonicalJson(context)).digest("base64url");
}

function versionRecord(key: ManagedKey, version: number, keyUri: string, now: Date, activateAt?: Date): KeyVersion {
  const start = activateAt ?? now;
  return {
    keyId: key.id,
    version,
    keyUri,
    state: activateAt ? "pre-activation" : "active",
    createdAt: now,
    activateAt: activateAt ?? null,
    deactivateAt: key.cryptoperiodDays ? new Date(start.getTime() + key.cryptoperiodDays * DAY) : null,
    destroyAfter: null,
    destroyedAt: null,
  };
}
