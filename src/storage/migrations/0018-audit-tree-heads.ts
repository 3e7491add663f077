import type { Kysely } from "kysely";
import type { Columns } from "./columns.js";

export async function up(db: Kysely<unknown>, { blob }: Columns): Promise<void> {
  // Signed tree heads of the audit log's Merkle tree (RFC 9162 shape), replacing the chain-head
  // checkpoints of 0008 (that table stays, unread: the first tree head covers those events too).
  // `leaves` holds the leaf hashes the head added after the head of size `leaves_from`: the signed
  // root authenticates them, so a verifier can name the exact event that no longer matches.
  await db.schema
    .createTable("audit_tree_heads")
    .addColumn("size", "integer", (c) => c.primaryKey())
    .addColumn("root_hash", "text", (c) => c.notNull())
    .addColumn("at", "text", (c) => c.notNull())
    .addColumn("signature", blob, (c) => c.notNull())
    .addColumn("signer_serial", "text", (c) => c.notNull())
    .addColumn("leaves_from", "integer", (c) => c.notNull())
    .addColumn("leaves", blob)
    .execute();
}
