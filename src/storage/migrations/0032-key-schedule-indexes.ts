import { sql, type Kysely } from "kysely";

/**
 * The KMS schedule (every minute) asks for the versions due to activate, to leave their
 * cryptoperiod and to be destroyed. Each question read every key version; these partial indexes
 * hold only the versions still waiting for that change, so a sweep reads what is due.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create index key_versions_activation on key_versions (activate_at)
    where state = 'pre-activation'`.execute(db);
  await sql`create index key_versions_cryptoperiod on key_versions (deactivate_at) where state = 'active'`.execute(db);
  await sql`create index key_versions_destruction on key_versions (destroy_after)
    where state <> 'destroyed'`.execute(db);
}
