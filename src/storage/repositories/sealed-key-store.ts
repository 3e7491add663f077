import type { Kysely } from "kysely";
import type { OaepHash, SealedKeyRecord, SealedKeyStore } from "../../hsm/index.js";
import type { Database } from "../schema.js";

export class SqlSealedKeyStore implements SealedKeyStore {
  constructor(private readonly db: Kysely<Database>) {}

  async get(id: string): Promise<SealedKeyRecord | undefined> {
    const row = await this.db.selectFrom("sealed_keys").selectAll().where("id", "=", id).executeTakeFirst();
    return (
      row && {
        id: row.id,
        algorithm: row.algorithm as SealedKeyRecord["algorithm"],
        kekUri: row.kek_uri,
        oaepHash: row.oaep_hash as OaepHash,
        wrapped: Buffer.from(row.wrapped),
        extractable: row.extractable === 1,
        createdAt: new Date(row.created_at),
      }
    );
  }

  async put(record: SealedKeyRecord): Promise<void> {
    await this.db
      .insertInto("sealed_keys")
      .values({
        id: record.id,
        algorithm: record.algorithm,
        kek_uri: record.kekUri,
        oaep_hash: record.oaepHash,
        wrapped: record.wrapped,
        extractable: record.extractable ? 1 : 0,
        created_at: record.createdAt.toISOString(),
      })
      .execute();
  }

  async delete(id: string): Promise<void> {
    await this.db.deleteFrom("sealed_keys").where("id", "=", id).execute();
  }
}
