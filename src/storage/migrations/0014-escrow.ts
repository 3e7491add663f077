import type { Kysely } from "kysely";
import type { Columns } from "./columns.js";

export async function up(db: Kysely<unknown>, { blob }: Columns): Promise<void> {
  await db.schema
    .createTable("escrow_agents")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("name", "text", (c) => c.notNull().unique())
    // The person who may submit this agent's share (null: only the local operator, via the CLI).
    .addColumn("user_name", "text")
    .addColumn("certificate", blob, (c) => c.notNull())
    .addColumn("serial", "text", (c) => c.notNull())
    .addColumn("created_at", "text", (c) => c.notNull())
    .execute();
  await db.schema
    .createTable("escrow_policies")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("key_id", "text", (c) => c.unique())
    .addColumn("tag", "text", (c) => c.unique())
    .addColumn("agent_ids", "text", (c) => c.notNull())
    .addColumn("threshold", "integer", (c) => c.notNull())
    .addColumn("created_at", "text", (c) => c.notNull())
    .execute();
  await db.schema
    .createTable("key_escrows")
    .addColumn("key_id", "text", (c) => c.notNull().references("keys.id"))
    .addColumn("version", "integer", (c) => c.notNull())
    .addColumn("threshold", "integer", (c) => c.notNull())
    // The version wrapped (AES-KW) under the escrow secret; the secret itself is only in shares.
    .addColumn("wrapped", blob, (c) => c.notNull())
    .addColumn("created_at", "text", (c) => c.notNull())
    .addPrimaryKeyConstraint("key_escrows_pk", ["key_id", "version"])
    .execute();
  await db.schema
    .createTable("escrow_shares")
    .addColumn("key_id", "text", (c) => c.notNull())
    .addColumn("version", "integer", (c) => c.notNull())
    .addColumn("agent_id", "text", (c) => c.notNull().references("escrow_agents.id"))
    // CMS EnvelopedData to the agent's certificate; and a salted hash that recognises the share.
    .addColumn("cms", blob, (c) => c.notNull())
    .addColumn("share_hash", "text", (c) => c.notNull())
    .addPrimaryKeyConstraint("escrow_shares_pk", ["key_id", "version", "agent_id"])
    .execute();
  await db.schema
    .createTable("escrow_recoveries")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("key_id", "text", (c) => c.notNull())
    .addColumn("version", "integer", (c) => c.notNull())
    .addColumn("status", "text", (c) => c.notNull())
    // A token key that seals submitted shares at rest until the recovery completes.
    .addColumn("sealing_key_uri", "text")
    .addColumn("requested_by", "text", (c) => c.notNull())
    .addColumn("created_at", "text", (c) => c.notNull())
    .addColumn("completed_at", "text")
    .execute();
  await db.schema
    .createTable("escrow_recovery_shares")
    .addColumn("recovery_id", "text", (c) => c.notNull().references("escrow_recoveries.id"))
    .addColumn("agent_id", "text", (c) => c.notNull())
    .addColumn("sealed", blob, (c) => c.notNull())
    .addColumn("submitted_by", "text", (c) => c.notNull())
    .addColumn("submitted_at", "text", (c) => c.notNull())
    .addPrimaryKeyConstraint("escrow_recovery_shares_pk", ["recovery_id", "agent_id"])
    .execute();
}
