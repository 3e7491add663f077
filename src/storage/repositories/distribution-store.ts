import type { Kysely, Selectable } from "kysely";
import type { AuditEvent } from "../../audit/index.js";
import type { Distribution, DistributionStore } from "../../keys/index.js";
import type { Database, KeyDistributionsTable } from "../schema.js";
import { appendAudit, withAudit } from "./audit-store.js";

// certificateHold suspends a recipient; only a real revocation exposes what it received.
const CERTIFICATE_HOLD = 6;

function toDistribution(row: Selectable<KeyDistributionsTable>): Distribution {
  return {
    id: row.id,
    keyId: row.key_id,
    version: Number(row.version),
    format: row.format as Distribution["format"],
    recipientSerial: row.recipient_serial,
    recipientSubject: row.recipient_subject,
    recipientSpkiSha256: row.recipient_spki_sha256,
    recipientNotAfter: new Date(row.recipient_not_after),
    createdAt: new Date(row.created_at),
    createdBy: row.created_by,
    exposedAt: row.exposed_at ? new Date(row.exposed_at) : null,
    exposureReason: row.exposure_reason,
  };
}

export class SqlDistributionStore implements DistributionStore {
  constructor(private readonly db: Kysely<Database>) {}

  async record(d: Distribution, audit: AuditEvent): Promise<void> {
    await withAudit(this.db, audit, (tx) =>
      tx
        .insertInto("key_distributions")
        .values({
          id: d.id,
          key_id: d.keyId,
          version: d.version,
          format: d.format,
          recipient_serial: d.recipientSerial,
          recipient_subject: d.recipientSubject,
          recipient_spki_sha256: d.recipientSpkiSha256,
          recipient_not_after: d.recipientNotAfter.toISOString(),
          created_at: d.createdAt.toISOString(),
          created_by: d.createdBy,
          exposed_at: null,
          exposure_reason: null,
        })
        .execute(),
    );
  }

  async list(keyId: string): Promise<Distribution[]> {
    const rows = await this.db
      .selectFrom("key_distributions")
      .selectAll()
      .where("key_id", "=", keyId)
      .orderBy("created_at")
      .execute();
    return rows.map(toDistribution);
  }

  async toRevokedRecipients(): Promise<Distribution[]> {
    const rows = await this.db
      .selectFrom("key_distributions as d")
      // Serial and key together: a certificate of an external CA never matches one of ours.
      .innerJoin("certificates as c", (join) =>
        join.onRef("c.serial", "=", "d.recipient_serial").onRef("c.spki_sha256", "=", "d.recipient_spki_sha256"),
      )
      .selectAll("d")
      .where("d.exposed_at", "is", null)
      .where("c.status", "=", "revoked")
      .where((eb) => eb.or([eb("c.revocation_reason", "is", null), eb("c.revocation_reason", "<>", CERTIFICATE_HOLD)]))
      .orderBy("d.created_at")
      .execute();
    return rows.map(toDistribution);
  }

  async markExposed(id: string, at: Date, reason: string, audit: AuditEvent): Promise<boolean> {
    return this.db.transaction().execute(async (tx) => {
      const result = await tx
        .updateTable("key_distributions")
        .set({ exposed_at: at.toISOString(), exposure_reason: reason })
        .where("id", "=", id)
        .where("exposed_at", "is", null)
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) !== 1) return false;
      await appendAudit(tx, audit);
      return true;
    });
  }
}
