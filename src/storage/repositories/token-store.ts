import type { Kysely, Selectable } from "kysely";
import type { AuditEvent } from "../../audit/index.js";
import { withAudit } from "./audit-store.js";
import type { ApiTokenRecord, TokenStore } from "../../access/tokens.js";
import type { Role } from "../../access/roles.js";
import type { ApiTokensTable, Database } from "../schema.js";

const date = (value: string | null): Date | null => (value ? new Date(value) : null);

function toRecord(row: Selectable<ApiTokensTable>): ApiTokenRecord {
  return {
    id: row.id,
    name: row.name,
    role: row.role as Role,
    createdAt: new Date(row.created_at),
    expiresAt: date(row.expires_at),
    lastUsedAt: date(row.last_used_at),
    revokedAt: date(row.revoked_at),
    scopes: JSON.parse(row.scopes),
    clientCertSerial: row.client_cert_serial,
  };
}

export class SqlTokenStore implements TokenStore {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(record: ApiTokenRecord, tokenHash: string, audit: AuditEvent): Promise<void> {
    await withAudit(this.db, audit, (tx) =>
      tx
        .insertInto("api_tokens")
        .values({
          id: record.id,
          name: record.name,
          role: record.role,
          token_hash: tokenHash,
          created_at: record.createdAt.toISOString(),
          expires_at: record.expiresAt?.toISOString() ?? null,
          last_used_at: null,
          revoked_at: null,
          scopes: JSON.stringify(record.scopes),
          client_cert_serial: record.clientCertSerial,
        })
        .execute(),
    );
  }

  async findByClientCertificate(serial: string): Promise<ApiTokenRecord | undefined> {
    const row = await this.db
      .selectFrom("api_tokens")
      .selectAll()
      .where("client_cert_serial", "=", serial)
      .executeTakeFirst();
    return row && toRecord(row);
  }

  async list(): Promise<ApiTokenRecord[]> {
    const rows = await this.db.selectFrom("api_tokens").selectAll().orderBy("created_at").execute();
    return rows.map(toRecord);
  }

  async revoke(id: string, at: Date, audit: AuditEvent): Promise<boolean> {
    return withAudit(
      this.db,
      (revoked: boolean) => (revoked ? audit : undefined),
      async (tx) => {
        const result = await tx
          .updateTable("api_tokens")
          .set({ revoked_at: at.toISOString() })
          .where("id", "=", id)
          .where("revoked_at", "is", null)
          .executeTakeFirst();
        return Number(result.numUpdatedRows) === 1;
      },
    );
  }

  async findByHash(tokenHash: string): Promise<ApiTokenRecord | undefined> {
    const row = await this.db
      .selectFrom("api_tokens")
      .selectAll()
      .where("token_hash", "=", tokenHash)
      .executeTakeFirst();
    return row && toRecord(row);
  }

  async revokedSince(since: Date): Promise<string[]> {
    const rows = await this.db
      .selectFrom("api_tokens")
      .select("id")
      .where("revoked_at", ">=", since.toISOString())
      .execute();
    return rows.map((r) => r.id);
  }

  async touch(id: string, at: Date): Promise<void> {
    await this.db.updateTable("api_tokens").set({ last_used_at: at.toISOString() }).where("id", "=", id).execute();
  }
}
