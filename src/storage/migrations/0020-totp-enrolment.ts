import type { Kysely } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  // A person whose authenticator (or its seed in the token) is lost logs in with a recovery code
  // and must enrol a new one before anything else; a new seed waits here until confirmed.
  await db.schema
    .alterTable("users")
    .addColumn("totp_enrolment_required", "integer", (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.alterTable("users").addColumn("totp_pending_key_uri", "text").execute();
}
