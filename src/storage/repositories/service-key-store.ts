import type { Kysely } from "kysely";
import type { AuditEvent } from "../../audit/index.js";
import type { ServiceKeyRecord, ServiceKeyStore } from "../../signer/index.js";
import type { Database } from "../schema.js";
import { withAudit } from "./audit-store.js";

export class SqlServiceKeyStore implements ServiceKeyStore {
  constructor(private readonly db: Kysely<Database>) {}

  async get(purpose: string): Promise<ServiceKeyRecord | undefined> {
    const row = await this.db
      .selectFrom("service_signing_keys")
      .selectAll()
      .where("purpose", "=", purpose)
      .executeTakeFirst();
    return row && { keyUri: row.key_uri, certificateSerial: row.certificate_serial };
  }

  async put(purpose: string, record: ServiceKeyRecord & { createdAt: Date }, audit: AuditEvent): Promise<void> {
    const values = {
      key_uri: record.keyUri,
      certificate_serial: record.certificateSerial,
      created_at: record.createdAt.toISOString(),
    };
    await withAudit(this.db, audit, (tx) =>
      tx
        .insertInto("service_signing_keys")
        .values({ purpose, ...values })
        .onConflict((oc) => oc.column("purpose").doUpdateSet(values))
        .execute(),
    );
  }
}
