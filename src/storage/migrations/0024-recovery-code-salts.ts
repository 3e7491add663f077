import { type Kysely, sql } from "kysely";
import { newRecoverySalt, saltDigest } from "../../access/recovery-codes.js";

/**
 * Recovery codes were stored as their unsalted SHA-256 (issue 22). The codes themselves are gone,
 * but their digests are what the salted form hashes: each is wrapped in scrypt in place, one salt
 * per person, and every code handed out before keeps working. Used codes too, so no unsalted
 * digest stays behind.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const rows = (
    await sql<{ user_id: string; code_hash: string }>`SELECT user_id, code_hash FROM recovery_codes`.execute(db)
  ).rows.filter((r) => /^[0-9a-f]{64}$/.test(r.code_hash));
  const salts = new Map<string, Buffer>();
  for (const row of rows) {
    const salt = salts.get(row.user_id) ?? newRecoverySalt();
    salts.set(row.user_id, salt);
    const salted = await saltDigest(row.code_hash, salt);
    await sql`UPDATE recovery_codes SET code_hash = ${salted} WHERE user_id = ${row.user_id} AND code_hash = ${row.code_hash}`.execute(
      db,
    );
  }
}
