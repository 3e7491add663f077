import { type Kysely, sql } from "kysely";
import type { Columns } from "./columns.js";

export async function up(db: Kysely<unknown>, { blob }: Columns): Promise<void> {
  await db.schema
    .createTable("audit_events")
    .addColumn("seq", "integer", (c) => c.primaryKey())
    .addColumn("at", "text", (c) => c.notNull())
    .addColumn("action", "text", (c) => c.notNull())
    .addColumn("actor_id", "text", (c) => c.notNull())
    .addColumn("actor_name", "text", (c) => c.notNull())
    .addColumn("actor_kind", "text", (c) => c.notNull())
    .addColumn("request_id", "text")
    .addColumn("address", "text")
    .addColumn("target_type", "text")
    .addColumn("target_id", "text")
    .addColumn("outcome", "text", (c) => c.notNull())
    .addColumn("details", "text", (c) => c.notNull())
    .addColumn("prev_hash", "text", (c) => c.notNull())
    .addColumn("hash", "text", (c) => c.notNull())
    .execute();
  await db.schema.createIndex("audit_events_action").on("audit_events").column("action").execute();
  await db.schema.createIndex("audit_events_target").on("audit_events").column("target_id").execute();
  // One row: the chain's head. Appending updates it first, which serializes appenders.
  await db.schema
    .createTable("audit_head")
    .addColumn("id", "integer", (c) => c.primaryKey())
    .addColumn("seq", "integer", (c) => c.notNull())
    .addColumn("hash", "text", (c) => c.notNull())
    .execute();
  await sql`INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, ${"0".repeat(64)})`.execute(db);
  await db.schema
    .createTable("audit_checkpoints")
    .addColumn("seq", "integer", (c) => c.primaryKey())
    .addColumn("hash", "text", (c) => c.notNull())
    .addColumn("at", "text", (c) => c.notNull())
    .addColumn("signature", blob, (c) => c.notNull())
    .addColumn("signer_serial", "text", (c) => c.notNull())
    .execute();
  await db.schema
    .createTable("audit_keys")
    .addColumn("id", "integer", (c) => c.primaryKey())
    .addColumn("key_uri", "text", (c) => c.notNull())
    .addColumn("certificate_serial", "text", (c) => c.notNull())
    .addColumn("created_at", "text", (c) => c.notNull())
    .execute();
}
