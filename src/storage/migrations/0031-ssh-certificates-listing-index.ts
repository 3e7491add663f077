import type { Kysely } from "kysely";

/**
 * SSH certificates are listed in creation order (`GET /api/v1/ssh/certificates`, pages after a
 * serial). Without an index every page read and sorted the whole table: 37 ms at 200,000 SSH
 * certificates for the first 50. As 0026 did for X.509 certificates.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createIndex("ssh_certificates_listing")
    .on("ssh_certificates")
    .columns(["created_at", "serial"])
    .execute();
}
