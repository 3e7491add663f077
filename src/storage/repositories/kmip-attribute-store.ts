import type { Kysely } from "kysely";
import type { AuditEvent } from "../../audit/index.js";
import type { CustomAttribute, CustomAttributeStore } from "../../kmip/index.js";
import type { Database } from "../schema.js";
import { withAudit } from "./audit-store.js";

export class SqlKmipAttributeStore implements CustomAttributeStore {
  constructor(private readonly db: Kysely<Database>) {}

  async list(keyId: string): Promise<CustomAttribute[]> {
    const rows = await this.db
      .selectFrom("kmip_attributes")
      .selectAll()
      .where("key_id", "=", keyId)
      .orderBy("name")
      .orderBy("idx")
      .execute();
    return rows.map((r) => ({ name: r.name, index: Number(r.idx), value: r.value }));
  }

  async put(keyId: string, attribute: CustomAttribute, audit: AuditEvent): Promise<void> {
    await withAudit(this.db, audit, async (tx) => {
      await tx
        .deleteFrom("kmip_attributes")
        .where("key_id", "=", keyId)
        .where("name", "=", attribute.name)
        .where("idx", "=", attribute.index)
        .execute();
      await tx
        .insertInto("kmip_attributes")
        .values({ key_id: keyId, name: attribute.name, idx: attribute.index, value: attribute.value })
        .execute();
    });
  }

  async remove(keyId: string, name: string, index: number, audit: AuditEvent): Promise<void> {
    await withAudit(this.db, audit, (tx) =>
      tx
        .deleteFrom("kmip_attributes")
        .where("key_id", "=", keyId)
        .where("name", "=", name)
        .where("idx", "=", index)
        .execute(),
    );
  }
}
