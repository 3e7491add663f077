import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import type { Actor, AuditEvent } from "../audit/index.js";
import { NotFoundError } from "../errors/index.js";
import type { KeyVersion, ManagedKey } from "./ports.js";

export const DAY = 86_400_000;

/** The newest active version: the one that protects new data. */
export function primaryVersion(key: ManagedKey): KeyVersion | undefined {
  return key.versions.filter((v) => v.state === "active").sort((a, b) => b.version - a.version)[0];
}

/** One version of a key; NotFoundError when it has none with that number. */
export function versionOf(key: ManagedKey, version: number): KeyVersion {
  const v = key.versions.find((x) => x.version === version);
  if (!v) throw new NotFoundError(`key ${key.name} has no version ${version}`);
  return v;
}

/** The number the next version of a key gets. */
export function nextVersionNumber(key: ManagedKey): number {
  return Math.max(...key.versions.map((v) => v.version)) + 1;
}

/** The token label of a version's object: readable in token listings, unique by its random suffix. */
export function versionLabel(key: ManagedKey, version: number): string {
  return `kms-${key.name}-v${version}-${randomBytes(3).toString("hex")}`;
}

/** A successful change to a key, as its audit event (the key's name always among the details). */
/**
 * Registered secret data (KMIP Register of a password or seed): a value someone chose, kept as a
 * generic secret. A new version would be random bytes in its place, so it is never rotated.
 */
export const REGISTERED_SECRET_TAG = "kmip-secret-data";

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

/** The record of a new version (active now, or pre-activation until `activateAt`). */
export function versionRecord(
  key: ManagedKey,
  version: number,
  keyUri: string,
  now: Date,
  activateAt?: Date,
  publicKey: Buffer | null = null,
): KeyVersion {
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
    publicKey,
    certificateSerial: null,
  };
}

/**
 * Records a version whose token object was just made (create, rotate, import). When the database
 * refuses the record (e.g. the name is taken), the new object is destroyed so the secret does not
 * linger in the token, and the refusal reaches the caller.
 */
export async function recordVersionOrDestroy(
  deps: { destroy(keyUri: string): Promise<void>; logger?: Logger },
  keyUri: string,
  record: () => Promise<void>,
): Promise<void> {
  try {
    await record();
  } catch (error) {
    try {
      await deps.destroy(keyUri);
    } catch (destroyError) {
      // The refusal is what the caller must see, so it propagates and this failure is logged. The
      // object left behind protects nothing: no record names it, so Keyward never uses it and no
      // ciphertext depends on it; an operator may remove it by its URI.
      deps.logger?.error(
        { err: destroyError, keyUri, refusal: (error as Error).message },
        "a new key version's object could not be destroyed after its record was refused; it is left in the token, unused",
      );
    }
    throw error;
  }
}
