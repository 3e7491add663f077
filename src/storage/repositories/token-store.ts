import type { Kysely } from "kysely";
import type { ApiTokenRecord, TokenStore } from "../../access/tokens.js";
import type { Role } from "../../access/roles.js";
import type { Database } from "../schema.js";

const date = (value: string | null): Date | null => (value ? new Date(value) : null);

export class SqlTokenStore implements TokenStore {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(record: ApiTokenRecord, tokenHash: string): Promise<void> {
    await this.db
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
      })
      .execute();
  }

  async findByHash(tokenHash: string): Promise<ApiTokenRecord | undefined> {
    const row = await this.db
      .selectFrom("api_tokens")
      .selectAll()
      .where("token_hash", "=", tokenHash)
      .executeTakeFirst();
    if (!row) return undefined;
    return {
      id: row.id,
      name: row.name,
      role: row.role as Role,
      createdAt: new Date(row.created_at),
      expiresAt: date(row.expires_at),
      lastUsedAt: date(row.last_used_at),
      revokedAt: date(row.revoked_at),
    };
  }

  async touch(id: string, at: Date): Promise<void> {
    await this.db.updateTable("api_tokens").set({ last_used_at: at.toISOString() }).where("id", "=", id).execute();
  }
}
