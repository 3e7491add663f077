import { type Kysely, type Selectable, sql } from "kysely";
import type { AuditEvent } from "../../audit/index.js";
import { ConflictError } from "../../errors/index.js";
import type {
  KeyAlgorithm,
  KeyPurpose,
  KeyState,
  KeyStore,
  KeyVersion,
  ManagedKey,
  OaepHash,
  RecipientPolicy,
} from "../../keys/index.js";
import type { Database, KeysTable, KeyVersionsTable } from "../schema.js";
import { appendAudit, withAudit } from "./audit-store.js";
import { isUniqueViolation } from "./unique.js";

const date = (v: string | null) => (v ? new Date(v) : null);

function toVersion(row: Selectable<KeyVersionsTable>): KeyVersion {
  return {
    keyId: row.key_id,
    version: Number(row.version),
    keyUri: row.key_uri,
    state: row.state as KeyState,
    createdAt: new Date(row.created_at),
    activateAt: date(row.activate_at),
    deactivateAt: date(row.deactivate_at),
    destroyAfter: date(row.destroy_after),
    destroyedAt: date(row.destroyed_at),
    publicKey: row.public_key ? Buffer.from(row.public_key) : null,
    certificateSerial: row.certificate_serial,
  };
}

function versionRow(v: KeyVersion) {
  return {
    key_id: v.keyId,
    version: v.version,
    key_uri: v.keyUri,
    state: v.state,
    created_at: v.createdAt.toISOString(),
    activate_at: v.activateAt?.toISOString() ?? null,
    deactivate_at: v.deactivateAt?.toISOString() ?? null,
    destroy_after: v.destroyAfter?.toISOString() ?? null,
    destroyed_at: v.destroyedAt?.toISOString() ?? null,
    public_key: v.publicKey,
    certificate_serial: v.certificateSerial,
  };
}

/**
 * The key versions whose scheduled change is due: the time column and the state condition of
 * migration 0032's partial index, the state written as a literal so the planner sees it applies.
 */
const SCHEDULE = {
  activation: { column: "activate_at", state: sql<boolean>`state = 'pre-activation'` },
  cryptoperiod: { column: "deactivate_at", state: sql<boolean>`state = 'active'` },
  destruction: { column: "destroy_after", state: sql<boolean>`state <> 'destroyed'` },
} as const;

export function scheduleDue(db: Kysely<Database>, change: keyof typeof SCHEDULE, now: Date) {
  const { column, state } = SCHEDULE[change];
  return db.selectFrom("key_versions").selectAll().where(state).where(column, "<=", now.toISOString());
}

export class SqlKeyStore implements KeyStore {
  constructor(private readonly db: Kysely<Database>) {}

  async create(key: ManagedKey, audit: AuditEvent): Promise<void> {
    try {
      await withAudit(this.db, audit, async (tx) => {
        await tx
          .insertInto("keys")
          .values({
            id: key.id,
            name: key.name,
            algorithm: key.algorithm,
            purpose: key.purpose,
            distributable: key.distributable ? 1 : 0,
            rotation_days: key.rotationDays,
            cryptoperiod_days: key.cryptoperiodDays,
            tags: JSON.stringify(key.tags),
            on_recipient_revoked: key.onRecipientRevoked,
            oaep_hash: key.oaepHash,
            certify_profile: key.certifyProfile,
            created_at: key.createdAt.toISOString(),
          })
          .execute();
        for (const v of key.versions) await tx.insertInto("key_versions").values(versionRow(v)).execute();
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw new ConflictError(`a key named "${key.name}" already exists`);
      throw error;
    }
  }

  async get(id: string): Promise<ManagedKey | undefined> {
    const row = await this.db.selectFrom("keys").selectAll().where("id", "=", id).executeTakeFirst();
    return row && (await this.withVersions([row]))[0];
  }

  async list(): Promise<ManagedKey[]> {
    return this.withVersions(await this.db.selectFrom("keys").selectAll().orderBy("name").execute());
  }

  async addVersion(version: KeyVersion, audit: AuditEvent): Promise<void> {
    await withAudit(this.db, audit, (tx) => tx.insertInto("key_versions").values(versionRow(version)).execute());
  }

  async updateVersion(
    keyId: string,
    version: number,
    from: KeyState,
    changes: Partial<Pick<KeyVersion, "state" | "destroyAfter" | "destroyedAt">>,
    audit: AuditEvent,
  ): Promise<boolean> {
    return this.db.transaction().execute(async (tx) => {
      const result = await tx
        .updateTable("key_versions")
        .set({
          ...(changes.state ? { state: changes.state } : {}),
          ...(changes.destroyAfter !== undefined ? { destroy_after: changes.destroyAfter?.toISOString() ?? null } : {}),
          ...(changes.destroyedAt !== undefined ? { destroyed_at: changes.destroyedAt?.toISOString() ?? null } : {}),
        })
        .where("key_id", "=", keyId)
        .where("version", "=", version)
        .where("state", "=", from)
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) !== 1) return false;
      await appendAudit(tx, audit);
      return true;
    });
  }

  async setPolicy(keyId: string, onRecipientRevoked: RecipientPolicy, audit: AuditEvent): Promise<void> {
    await withAudit(this.db, audit, (tx) =>
      tx.updateTable("keys").set({ on_recipient_revoked: onRecipientRevoked }).where("id", "=", keyId).execute(),
    );
  }

  async dueForDestruction(now: Date): Promise<KeyVersion[]> {
    return (await scheduleDue(this.db, "destruction", now).execute()).map(toVersion);
  }

  async replaceVersionUri(keyId: string, version: number, keyUri: string, audit: AuditEvent): Promise<void> {
    await withAudit(this.db, audit, (tx) =>
      tx
        .updateTable("key_versions")
        .set({ key_uri: keyUri })
        .where("key_id", "=", keyId)
        .where("version", "=", version)
        .execute(),
    );
  }

  async setVersionCertificate(keyId: string, version: number, serial: string, audit: AuditEvent): Promise<void> {
    await withAudit(this.db, audit, (tx) =>
      tx
        .updateTable("key_versions")
        .set({ certificate_serial: serial })
        .where("key_id", "=", keyId)
        .where("version", "=", version)
        .execute(),
    );
  }

  async rename(keyId: string, name: string, audit: AuditEvent): Promise<void> {
    try {
      await withAudit(this.db, audit, (tx) => tx.updateTable("keys").set({ name }).where("id", "=", keyId).execute());
    } catch (error) {
      if (isUniqueViolation(error)) throw new ConflictError(`a key named "${name}" already exists`);
      throw error;
    }
  }

  async setCertifyProfile(keyId: string, profile: string | null, audit: AuditEvent): Promise<void> {
    await withAudit(this.db, audit, (tx) =>
      tx.updateTable("keys").set({ certify_profile: profile }).where("id", "=", keyId).execute(),
    );
  }

  async dueForActivation(now: Date): Promise<KeyVersion[]> {
    return (await scheduleDue(this.db, "activation", now).execute()).map(toVersion);
  }

  async pastCryptoperiod(now: Date): Promise<KeyVersion[]> {
    return (await scheduleDue(this.db, "cryptoperiod", now).execute()).map(toVersion);
  }

  private async withVersions(rows: Selectable<KeysTable>[]): Promise<ManagedKey[]> {
    if (rows.length === 0) return [];
    const versions = await this.db
      .selectFrom("key_versions")
      .selectAll()
      .where(
        "key_id",
        "in",
        rows.map((r) => r.id),
      )
      .orderBy("version")
      .execute();
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      algorithm: r.algorithm as KeyAlgorithm,
      purpose: r.purpose as KeyPurpose,
      distributable: Number(r.distributable) === 1,
      rotationDays: r.rotation_days === null ? null : Number(r.rotation_days),
      cryptoperiodDays: r.cryptoperiod_days === null ? null : Number(r.cryptoperiod_days),
      tags: JSON.parse(r.tags),
      onRecipientRevoked: r.on_recipient_revoked as RecipientPolicy,
      oaepHash: r.oaep_hash as OaepHash | null,
      certifyProfile: r.certify_profile,
      createdAt: new Date(r.created_at),
      versions: versions.filter((v) => v.key_id === r.id).map(toVersion),
    }));
  }
}
