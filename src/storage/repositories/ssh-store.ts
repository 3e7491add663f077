import { type Kysely, PostgresAdapter, type Selectable, sql } from "kysely";
import type { AuditEvent } from "../../audit/index.js";
import { ConflictError } from "../../errors/index.js";
import type { KeyType } from "../../pki/key-types.js";
import type { SshCaKeyRecord, SshCaKeyStore } from "../../signer/index.js";
import type { SshCertificateFilter, SshCertificateRecord, SshStore, StoredKrl } from "../../ssh/index.js";
import { GroupCommit } from "../group-commit.js";
import type { Database, SshCertificatesTable } from "../schema.js";
import { type AlongsideRow, appendAudit, appendTogether, withAudit } from "./audit-store.js";
import { blockedKeyError } from "./revocation-store.js";
import { isBlockedKeyRefusal, isUniqueViolation } from "./unique.js";
import { contains } from "./like.js";

function toRecord(row: Selectable<SshCertificatesTable>): SshCertificateRecord {
  return {
    serial: row.serial,
    type: row.type,
    keyId: row.key_id,
    principals: JSON.parse(row.principals) as string[],
    profile: row.profile,
    keyAlgorithm: row.key_algorithm,
    fingerprint: row.fingerprint,
    spkiSha256: row.spki_sha256,
    publicKey: Buffer.from(row.public_key),
    validAfter: new Date(row.valid_after),
    validBefore: new Date(row.valid_before),
    status: row.status,
    body: Buffer.from(row.body),
    certificate: row.certificate ? Buffer.from(row.certificate) : null,
    requestedBy: row.requested_by,
    createdAt: new Date(row.created_at),
    revokedAt: row.revoked_at ? new Date(row.revoked_at) : null,
    revocationReason: row.revocation_reason,
  };
}

/**
 * A page of SSH certificates in creation order, after `after` (migration 0031's index serves the
 * order: a page no longer reads and sorts the whole table).
 */
export function sshListing(db: Kysely<Database>, f: SshCertificateFilter, after?: SshCertificateRecord) {
  let q = db.selectFrom("ssh_certificates").selectAll();
  if (f.type) q = q.where("type", "=", f.type);
  if (f.keyId) q = q.where("key_id", "=", f.keyId);
  if (f.fingerprint) q = q.where("fingerprint", "=", f.fingerprint);
  // Principals are a JSON array of strings: match one whole element.
  if (f.principal) q = q.where(contains("principals", JSON.stringify(f.principal)));
  const now = f.now.toISOString();
  if (f.status === "expired") q = q.where("status", "=", "valid").where("valid_before", "<=", now);
  else if (f.status === "valid") q = q.where("status", "=", "valid").where("valid_before", ">", now);
  else if (f.status) q = q.where("status", "=", f.status);
  if (after) {
    q = q.where((eb) =>
      eb.or([
        eb("created_at", ">", after.createdAt.toISOString()),
        eb.and([eb("created_at", "=", after.createdAt.toISOString()), eb("serial", ">", after.serial)]),
      ]),
    );
  }
  return q.orderBy("created_at").orderBy("serial").limit(f.limit);
}

/**
 * The public keys of SSH certificates whose key is blocked, for the KRL: looked up from the
 * blocked keys (a few) through the spki index. As a join, SQLite scanned every SSH certificate.
 */
export function blockedSshKeys(db: Kysely<Database>) {
  return db
    .selectFrom("ssh_certificates")
    .select("public_key")
    .where("spki_sha256", "in", db.selectFrom("blocked_keys").select("spki_sha256"))
    .distinct();
}

/** The SSH CA's keys, certificates and KRLs (src/ssh, src/signer/ssh-authority.ts). */
export class SqlSshStore implements SshStore, SshCaKeyStore {
  /** A signature's two writes are group-committed, as X.509 issuance's: concurrent signings share fsyncs. */
  private readonly writes: GroupCommit;
  private readonly postgres: boolean;

  constructor(private readonly db: Kysely<Database>) {
    this.writes = new GroupCommit(db);
    this.postgres = db.getExecutor().adapter instanceof PostgresAdapter;
  }

  async sshCaKeys(): Promise<SshCaKeyRecord[]> {
    const rows = await this.db.selectFrom("ssh_ca_keys").selectAll().orderBy("type", "desc").execute();
    return rows.map((r) => ({
      type: r.type,
      keyType: r.key_type as KeyType,
      keyUri: r.key_uri,
      spki: Buffer.from(r.spki),
      createdAt: new Date(r.created_at),
    }));
  }

  async insertSshCaKey(record: SshCaKeyRecord, audit: AuditEvent): Promise<boolean> {
    try {
      await withAudit(this.db, audit, (tx) =>
        tx
          .insertInto("ssh_ca_keys")
          .values({
            type: record.type,
            key_type: record.keyType,
            key_uri: record.keyUri,
            spki: record.spki,
            created_at: record.createdAt.toISOString(),
          })
          .execute(),
      );
      return true;
    } catch (error) {
      if (isUniqueViolation(error)) return false;
      throw error;
    }
  }

  async recordIntent(r: SshCertificateRecord, audit: AuditEvent): Promise<void> {
    // As X.509 intents (certificate-store.ts): on PostgreSQL the intent goes in its audit event's
    // statement, autocommitted when alone, and intents ready together in one statement.
    const alongside: AlongsideRow = {
      into: "ssh_certificates",
      row: {
        serial: r.serial,
        type: r.type,
        key_id: r.keyId,
        principals: JSON.stringify(r.principals),
        profile: r.profile,
        key_algorithm: r.keyAlgorithm,
        fingerprint: r.fingerprint,
        spki_sha256: r.spkiSha256,
        public_key: r.publicKey,
        valid_after: r.validAfter.toISOString(),
        valid_before: r.validBefore.toISOString(),
        status: "pending",
        body: r.body,
        certificate: null,
        requested_by: r.requestedBy,
        created_at: r.createdAt.toISOString(),
        revoked_at: null,
        revocation_reason: null,
      },
    };
    try {
      await this.writes.run<void>(
        async (tx) => {
          await appendAudit(tx, audit, alongside);
        },
        this.postgres ? { alone: true, together: { item: { event: audit, alongside }, all: appendTogether } } : {},
      );
    } catch (error) {
      if (isUniqueViolation(error)) throw new ConflictError(`SSH certificate serial ${r.serial} is already used`);
      if (isBlockedKeyRefusal(error)) throw await blockedKeyError(this.db, r.spkiSha256);
      throw error;
    }
  }

  async markIssued(serial: string, certificate: Buffer): Promise<void> {
    await this.writes.run(
      (tx) =>
        tx
          .updateTable("ssh_certificates")
          .set({ status: "valid", certificate })
          .where("serial", "=", serial)
          .where("status", "=", "pending")
          .execute(),
      // One statement: atomic without a transaction, so alone it needs no BEGIN and COMMIT.
      { alone: this.postgres },
    );
  }

  async markFailed(serial: string): Promise<void> {
    await this.db
      .updateTable("ssh_certificates")
      .set({ status: "failed" })
      .where("serial", "=", serial)
      .where("status", "=", "pending")
      .execute();
  }

  async get(serial: string): Promise<SshCertificateRecord | undefined> {
    const row = await this.db
      .selectFrom("ssh_certificates")
      .selectAll()
      .where("serial", "=", serial)
      .executeTakeFirst();
    return row && toRecord(row);
  }

  async list(f: SshCertificateFilter): Promise<SshCertificateRecord[]> {
    const after = f.after ? await this.get(f.after) : undefined;
    const rows = await sshListing(this.db, f, after).execute();
    return rows.map(toRecord);
  }

  async revoke(
    target: { serial: string } | { keyId: string },
    revocation: { at: Date; reason: string; blockKey: boolean; by: string },
    audit: (serials: string[]) => AuditEvent | undefined,
  ): Promise<string[]> {
    return this.db.transaction().execute(async (tx) => {
      const rows = await tx
        .updateTable("ssh_certificates")
        .set({ status: "revoked", revoked_at: revocation.at.toISOString(), revocation_reason: revocation.reason })
        .where("status", "=", "valid")
        .where("serial" in target ? "serial" : "key_id", "=", "serial" in target ? target.serial : target.keyId)
        .returning(["serial", "spki_sha256"])
        .execute();
      if (revocation.blockKey) {
        for (const spki of new Set(rows.map((r) => r.spki_sha256))) {
          await tx
            .insertInto("blocked_keys")
            .values({
              spki_sha256: spki,
              reason: "keyCompromise",
              blocked_at: revocation.at.toISOString(),
              blocked_by: revocation.by,
            })
            .onConflict((oc) => oc.column("spki_sha256").doNothing())
            .execute();
        }
      }
      const serials = rows.map((r) => r.serial);
      const event = audit(serials);
      if (event) await appendAudit(tx, event);
      return serials;
    });
  }

  async revokedUnexpired(now: Date): Promise<{ type: "user" | "host"; serial: string }[]> {
    return this.db
      .selectFrom("ssh_certificates")
      .select(["type", "serial"])
      .where("status", "=", "revoked")
      .where("valid_before", ">", now.toISOString())
      .execute();
  }

  async blockedKeyBlobs(): Promise<Buffer[]> {
    const rows = await blockedSshKeys(this.db).execute();
    return rows.map((r) => Buffer.from(r.public_key));
  }

  async currentKrl(): Promise<StoredKrl | undefined> {
    const row = await this.db
      .selectFrom("ssh_krls")
      .selectAll()
      .orderBy(sql`version`, "desc")
      .limit(1)
      .executeTakeFirst();
    return row && { version: BigInt(row.version), generatedAt: new Date(row.generated_at), krl: Buffer.from(row.krl) };
  }

  async storeKrl(krl: StoredKrl): Promise<boolean> {
    try {
      await this.db.transaction().execute(async (tx) => {
        await tx
          .insertInto("ssh_krls")
          .values({ version: krl.version.toString(), generated_at: krl.generatedAt.toISOString(), krl: krl.krl })
          .execute();
        // Only the newest is ever served.
        await tx.deleteFrom("ssh_krls").where("version", "<", krl.version.toString()).execute();
      });
      return true;
    } catch (error) {
      if (isUniqueViolation(error)) return false;
      throw error;
    }
  }
}
