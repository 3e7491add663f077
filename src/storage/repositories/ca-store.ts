import type { AuditEvent } from "../../audit/index.js";
import { appendAudit, withAudit } from "./audit-store.js";
import { markCrlDue } from "./revocation-store.js";
import type { Kysely, Selectable } from "kysely";
import { StorageError } from "../../errors/index.js";
import type { KeyType } from "../../pki/key-types.js";
import type { CaRecord, CaStore, PreviousBaseUrl } from "../../signer/ports.js";
import type { CasTable, Database } from "../schema.js";

function toRecord(row: Selectable<CasTable>): CaRecord {
  return {
    id: row.id,
    parentId: row.parent_id,
    kind: row.kind,
    keyType: row.key_type as KeyType,
    keyUri: row.key_uri,
    certificate: Buffer.from(row.certificate),
    subject: row.subject,
    spkiSha256: row.spki_sha256,
    notBefore: new Date(row.not_before),
    notAfter: new Date(row.not_after),
    isDefault: row.is_default === 1,
    createdAt: new Date(row.created_at),
    revokedAt: row.revoked_at ? new Date(row.revoked_at) : null,
    revocationReason: row.revocation_reason,
  };
}

const BASE_URL = "base_url";
const PREVIOUS_BASE_URLS = "previous_base_urls";

async function writeSetting(tx: Kysely<Database>, name: string, value: string, at: Date): Promise<void> {
  await tx
    .insertInto("deployment_settings")
    .values({ name, value, updated_at: at.toISOString() })
    .onConflict((c) => c.column("name").doUpdateSet({ value, updated_at: at.toISOString() }))
    .execute();
}

export class SqlCaStore implements CaStore {
  constructor(private readonly db: Kysely<Database>) {}

  async list(): Promise<CaRecord[]> {
    // Root first ("root" sorts after "intermediate"), then intermediates by age.
    const rows = await this.db
      .selectFrom("cas")
      .selectAll()
      .orderBy("kind", "desc")
      .orderBy("created_at")
      .orderBy("id")
      .execute();
    return rows.map(toRecord);
  }

  async get(id: string): Promise<CaRecord | undefined> {
    const row = await this.db.selectFrom("cas").selectAll().where("id", "=", id).executeTakeFirst();
    return row && toRecord(row);
  }

  async insert(records: CaRecord[], audit: AuditEvent[], baseUrl?: string): Promise<void> {
    try {
      await this.db.transaction().execute(async (tx) => {
        for (const r of records) {
          await tx
            .insertInto("cas")
            .values({
              id: r.id,
              parent_id: r.parentId,
              kind: r.kind,
              key_type: r.keyType,
              key_uri: r.keyUri,
              certificate: r.certificate,
              subject: r.subject,
              spki_sha256: r.spkiSha256,
              not_before: r.notBefore.toISOString(),
              not_after: r.notAfter.toISOString(),
              is_default: r.isDefault ? 1 : 0,
              created_at: r.createdAt.toISOString(),
              revoked_at: r.revokedAt?.toISOString() ?? null,
              revocation_reason: r.revocationReason,
            })
            .execute();
        }
        if (baseUrl !== undefined) await writeSetting(tx, BASE_URL, baseUrl, audit[0]?.at ?? new Date());
        for (const event of audit) await appendAudit(tx, event);
      });
    } catch (error) {
      throw new StorageError(`cannot store CA records: ${(error as Error).message}`, error);
    }
  }

  async baseUrl(): Promise<string | undefined> {
    const row = await this.db
      .selectFrom("deployment_settings")
      .select("value")
      .where("name", "=", BASE_URL)
      .executeTakeFirst();
    return row?.value;
  }

  async setBaseUrl(url: string, audit: AuditEvent, previous: PreviousBaseUrl[]): Promise<void> {
    const earlier = JSON.stringify(previous.map((p) => ({ url: p.url, until: p.until.toISOString() })));
    await withAudit(this.db, audit, async (tx) => {
      await writeSetting(tx, BASE_URL, url, audit.at);
      await writeSetting(tx, PREVIOUS_BASE_URLS, earlier, audit.at);
    });
  }

  async previousBaseUrls(): Promise<PreviousBaseUrl[]> {
    const row = await this.db
      .selectFrom("deployment_settings")
      .select("value")
      .where("name", "=", PREVIOUS_BASE_URLS)
      .executeTakeFirst();
    if (!row) return [];
    return (JSON.parse(row.value) as Array<{ url: string; until: string }>).map((p) => ({
      url: p.url,
      until: new Date(p.until),
    }));
  }

  async revoke(id: string, at: Date, reason: number, audit: AuditEvent): Promise<boolean> {
    return withAudit(
      this.db,
      (revoked: boolean) => (revoked ? audit : undefined),
      async (tx) => {
        const result = await tx
          .updateTable("cas")
          .set({ revoked_at: at.toISOString(), revocation_reason: reason, is_default: 0 })
          .where("id", "=", id)
          .where("revoked_at", "is", null)
          .executeTakeFirst();
        if (Number(result.numUpdatedRows) !== 1) return false;
        // The parent's CRL (the root's, signed at a ceremony when the root is offline) must name it.
        const { parent_id } = await tx
          .selectFrom("cas")
          .select("parent_id")
          .where("id", "=", id)
          .executeTakeFirstOrThrow();
        if (parent_id) await markCrlDue(tx, parent_id, at);
        return true;
      },
    );
  }

  async setDefault(id: string, audit: AuditEvent): Promise<void> {
    await withAudit(this.db, audit, async (tx) => {
      await tx.updateTable("cas").set({ is_default: 0 }).where("is_default", "=", 1).execute();
      await tx.updateTable("cas").set({ is_default: 1 }).where("id", "=", id).execute();
    });
  }
}
