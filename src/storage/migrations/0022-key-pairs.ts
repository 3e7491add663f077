import type { Kysely } from "kysely";
import type { Columns } from "./columns.js";

export async function up(db: Kysely<unknown>, { blob }: Columns): Promise<void> {
  // KMS key pairs: the RSA-OAEP hash a decrypt key uses on this token (SHA-256, or SHA-1 where the
  // token does no other), each version's public key (DER SPKI: served and certified without the
  // token) and the certificate Keyward issued for it.
  await db.schema.alterTable("keys").addColumn("oaep_hash", "text").execute();
  // The profile each new version of a key pair is certified with when the key rotates (null: none).
  await db.schema.alterTable("keys").addColumn("certify_profile", "text").execute();
  await db.schema.alterTable("key_versions").addColumn("public_key", blob).execute();
  await db.schema.alterTable("key_versions").addColumn("certificate_serial", "text").execute();
}
