import type { Kysely } from "kysely";
import type { Columns } from "./columns.js";

/** The SSH certificate authority (src/ssh): its CA keys, its certificates, its KRLs. */
export async function up(db: Kysely<unknown>, { blob }: Columns): Promise<void> {
  await db.schema
    .createTable("ssh_ca_keys")
    .addColumn("type", "text", (c) => c.primaryKey())
    .addColumn("key_type", "text", (c) => c.notNull())
    .addColumn("key_uri", "text", (c) => c.notNull())
    .addColumn("spki", blob, (c) => c.notNull())
    .addColumn("created_at", "text", (c) => c.notNull())
    .execute();
  // serial: the uint64 in decimal (text: PostgreSQL's bigint is signed).
  await db.schema
    .createTable("ssh_certificates")
    .addColumn("serial", "text", (c) => c.primaryKey())
    .addColumn("type", "text", (c) => c.notNull())
    .addColumn("key_id", "text", (c) => c.notNull())
    .addColumn("principals", "text", (c) => c.notNull())
    .addColumn("profile", "text", (c) => c.notNull())
    .addColumn("key_algorithm", "text", (c) => c.notNull())
    .addColumn("fingerprint", "text", (c) => c.notNull())
    .addColumn("spki_sha256", "text", (c) => c.notNull())
    .addColumn("public_key", blob, (c) => c.notNull())
    .addColumn("valid_after", "text", (c) => c.notNull())
    .addColumn("valid_before", "text", (c) => c.notNull())
    .addColumn("status", "text", (c) => c.notNull())
    .addColumn("body", blob, (c) => c.notNull())
    .addColumn("certificate", blob)
    .addColumn("requested_by", "text", (c) => c.notNull())
    .addColumn("created_at", "text", (c) => c.notNull())
    .addColumn("revoked_at", "text")
    .addColumn("revocation_reason", "text")
    .execute();
  await db.schema.createIndex("ssh_certificates_key_id").on("ssh_certificates").column("key_id").execute();
  await db.schema.createIndex("ssh_certificates_spki").on("ssh_certificates").column("spki_sha256").execute();
  await db.schema
    .createIndex("ssh_certificates_status")
    .on("ssh_certificates")
    .columns(["status", "valid_before"])
    .execute();
  await db.schema
    .createTable("ssh_krls")
    .addColumn("version", "bigint", (c) => c.primaryKey())
    .addColumn("generated_at", "text", (c) => c.notNull())
    .addColumn("krl", blob, (c) => c.notNull())
    .execute();
}
