import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { Actor } from "../audit/index.js";
import type { Clock } from "../clock/index.js";
import { BadRequestError, ConflictError, NotFoundError } from "../errors/index.js";
import { checkTransition, type KeyState } from "./lifecycle.js";
import { isKeyPair, isKeyPairAlgorithm, KEY_TYPE_OF } from "./key-pairs.js";
import type {
  KeyAlgorithm,
  KeyPairLifecycleOps,
  KeyPurpose,
  KeyStore,
  KeyVersion,
  ManagedKey,
  RecipientPolicy,
  SecretKeyAlgorithm,
  SecretKeyLifecycleOps,
} from "./ports.js";
import {
  DAY,
  keyEvent,
  nextVersionNumber,
  primaryVersion,
  REGISTERED_SECRET_TAG,
  recordVersionOrDestroy,
  versionLabel,
  versionOf,
  versionRecord,
} from "./versions.js";

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

function checkName(name: string): void {
  if (!/^[a-z0-9][a-z0-9._-]{0,63}$/.test(name)) {
    throw new BadRequestError("key names are 1-64 lowercase letters, digits, dots, dashes or underscores");
  }
}

/** The purposes each kind of key may have; the first is the default. */
function purposesOf(algorithm: KeyAlgorithm): KeyPurpose[] {
  if (algorithm === "HMAC-SHA256") return ["mac"];
  if (algorithm.startsWith("AES-")) return ["encrypt", "wrap"];
  return algorithm.startsWith("RSA-") ? ["sign", "decrypt"] : ["sign"];
}

/**
 * The key lifecycle of the KMS (DESIGN.md §5): keys whose versions live only in the token, with the
 * NIST SP 800-57 states (lifecycle.ts), rotation, scheduled destruction and the scheduler that
 * activates, deactivates, rotates and destroys on time. State changes are audited by the store in
 * the same transaction. Secret keys and key pairs share all of it; only the token objects a version
 * names differ. Using a key is the data plane's job (KeyCrypto, KeyPairCrypto).
 */
export class KeyLifecycle {
  constructor(
    private readonly deps: {
      store: KeyStore;
      token: SecretKeyLifecycleOps & KeyPairLifecycleOps;
      clock: Clock;
      logger?: Logger;
      destroyWaitDays: number;
      /** Periods of keys created without their own (SP 800-57 Table 1 defaults from config); 0: none. */
      defaults?: { rotationDays: number; cryptoperiodDays: number };
      /** After a version is added (create, rotate): e.g. escrow it. Failures reach the caller. */
      onNewVersion?: (keyId: string, actor: Actor) => Promise<unknown>;
      /** After a version became compromised: e.g. revoke its certificate. Failures reach the caller. */
      onCompromised?: (version: KeyVersion, actor: Actor) => Promise<unknown>;
    },
  ) {}

  async create(request: CreateKeyRequest, actor: Actor): Promise<ManagedKey> {
    return this.make(request, actor);
  }

  /**
   * A secret key whose first version holds a value a client brought (KMIP Register, over mutual
   * TLS): stored in the token with the template of a generated key. The value is zeroed here.
   */
  async register(
    request: CreateKeyRequest & { algorithm: SecretKeyAlgorithm },
    value: Buffer,
    actor: Actor,
  ): Promise<ManagedKey> {
    try {
      const expected = request.algorithm === "AES-128" ? 16 : request.algorithm === "AES-256" ? 32 : undefined;
      // HMAC takes keys of any length; fewer than 16 bytes (a short password) are still a secret to keep.
      if (expected ? value.length !== expected : value.length < 1 || value.length > 1024) {
        throw new BadRequestError(
          `a registered ${request.algorithm} key is ${expected ? `${expected} bytes` : "1 to 1024 bytes"}, not ${value.length}`,
        );
      }
      return await this.make(request, actor, value);
    } finally {
      value.fill(0);
    }
  }

  private async make(request: CreateKeyRequest, actor: Actor, value?: Buffer): Promise<ManagedKey> {
    checkName(request.name);
    const purposes = purposesOf(request.algorithm);
    const purpose = request.purpose ?? purposes[0]!;
    if (!purposes.includes(purpose)) {
      throw new BadRequestError(
        `purpose "${purpose}" does not fit ${request.algorithm}: HMAC keys MAC, AES keys encrypt or wrap, RSA key pairs sign or decrypt, EC and Ed25519 key pairs sign`,
      );
    }
    if (isKeyPairAlgorithm(request.algorithm) && request.distributable) {
      throw new BadRequestError(
        `a ${request.algorithm} key pair cannot be distributable: its private half is generated non-extractable and never leaves the token (share the public key, or certify it)`,
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
      oaepHash: null,
      certifyProfile: null,
      createdAt: now,
      versions: [],
    };
    const version = await this.newVersion(key, 1, now, { activateAt: start > now ? start : undefined, value });
    if (request.deactivateAt) version.deactivateAt = request.deactivateAt;
    if (key.purpose === "decrypt") key.oaepHash = await this.oaepHashOf(key, version.keyUri);
    // The database may refuse (e.g. the name is taken): the new secret must not linger in the token.
    await recordVersionOrDestroy(this.destroyer(key), version.keyUri, () =>
      this.deps.store.create(
        { ...key, versions: [version] },
        keyEvent(value ? "key.register" : "key.create", key, actor, now, {
          algorithm: key.algorithm,
          purpose,
          distributable: key.distributable,
          keyUri: version.keyUri,
          ...(key.oaepHash ? { oaepHash: key.oaepHash } : {}),
        }),
      ),
    );
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

  /** A new name (KMIP Modify Attribute Name): key names are unique, so a taken one is a conflict. */
  async rename(id: string, name: string, actor: Actor): Promise<ManagedKey> {
    checkName(name);
    const key = await this.get(id);
    if (key.name === name) return key;
    await this.deps.store.rename(
      key.id,
      name,
      keyEvent("key.rename", key, actor, this.deps.clock.now(), { newName: name, previous: key.name }),
    );
    return this.get(id);
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
    return primaryVersion(key);
  }

  async rotate(id: string, actor: Actor): Promise<ManagedKey> {
    const key = await this.get(id);
    if (key.tags.includes(REGISTERED_SECRET_TAG))
      throw new ConflictError(
        `key ${key.name} holds registered secret data: a new version would replace it with random bytes; register the new secret instead`,
      );
    const now = this.deps.clock.now();
    const next = nextVersionNumber(key);
    const version = await this.newVersion(key, next, now);
    await recordVersionOrDestroy(this.destroyer(key), version.keyUri, () =>
      this.deps.store.addVersion(
        version,
        keyEvent("key.rotate", key, actor, now, { version: next, keyUri: version.keyUri }),
      ),
    );
    await this.deps.onNewVersion?.(key.id, actor);
    return this.get(id);
  }

  /**
   * Points a version at a new token object holding the same key (escrow recovery, restore into a
   * new token); the old object, if it still exists, is destroyed.
   */
  async replaceVersionObject(id: string, version: number, keyUri: string, actor: Actor, reason: string): Promise<void> {
    const key = await this.get(id);
    const v = versionOf(key, version);
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
    if (v.keyUri === keyUri) return;
    try {
      await this.destroyObject(key, v.keyUri);
    } catch (error) {
      // The version now uses the new object and the recovery is recorded: failing it here would
      // report a done recovery as failed. The old object (a missing one is no error) holds the same
      // key as the new one and no record names it any more, so leaving it exposes nothing new.
      this.deps.logger?.warn(
        { err: error, keyId: key.id, version, keyUri: v.keyUri },
        "the replaced object of a key version could not be destroyed; it is left in the token, unused",
      );
    }
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
        : [versionOf(key, change.version)];
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
      if (change.to === "compromised") await this.deps.onCompromised?.(v, actor);
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
    const v = versionOf(key, version);
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
    const v = versionOf(key, version);
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
      await this.destroyObject(key, v.keyUri);
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
      const primary = primaryVersion(key);
      if (key.rotationDays && primary && primary.createdAt.getTime() + key.rotationDays * DAY <= now.getTime()) {
        await this.rotate(key.id, actor);
        rotated++;
      }
    }
    return { activated, destroyed, deactivated, rotated };
  }

  private async newVersion(
    key: ManagedKey,
    version: number,
    now: Date,
    options: { activateAt?: Date; value?: Buffer } = {},
  ): Promise<KeyVersion> {
    const label = versionLabel(key, version);
    if (options.value && !isKeyPair(key)) {
      const keyUri = await this.deps.token.storeSecretKey(key.algorithm as SecretKeyAlgorithm, label, options.value, {
        extractable: key.distributable,
      });
      return versionRecord(key, version, keyUri, now, options.activateAt);
    }
    if (isKeyPair(key)) {
      const usage = key.purpose === "decrypt" ? "decrypt" : "sign";
      const pair = await this.deps.token.generateKeyPair(KEY_TYPE_OF[key.algorithm], label, usage);
      return versionRecord(key, version, pair.uri, now, options.activateAt, pair.spki);
    }
    const keyUri = await this.deps.token.generateSecretKey(key.algorithm as SecretKeyAlgorithm, label, {
      extractable: key.distributable,
    });
    return versionRecord(key, version, keyUri, now, options.activateAt);
  }

  /**
   * The RSA-OAEP hash a decrypt key pair uses: SHA-256 where the token decrypts with it, SHA-1 on
   * tokens that do OAEP with SHA-1 only (SoftHSM 2.6). A token that does neither gets no such key.
   */
  private async oaepHashOf(key: ManagedKey, keyUri: string) {
    const hashes = await this.deps.token.oaepHashes(keyUri);
    if (hashes.length === 0) {
      await this.destroyObject(key, keyUri);
      throw new ConflictError(
        `this token does not decrypt RSA-OAEP with SHA-256 or SHA-1, so it cannot hold a decrypt key; key ${key.name} was not created`,
      );
    }
    return hashes[0]!;
  }

  /** C_DestroyObject of a version's objects: the secret key, or both halves of a key pair. */
  private destroyObject(key: ManagedKey, keyUri: string): Promise<void> {
    return isKeyPair(key) ? this.deps.token.destroyKeyPair(keyUri) : this.deps.token.destroySecretKey(keyUri);
  }

  private destroyer(key: ManagedKey) {
    return { destroy: (keyUri: string) => this.destroyObject(key, keyUri), logger: this.deps.logger };
  }
}
