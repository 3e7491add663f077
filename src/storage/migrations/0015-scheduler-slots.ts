import type { Kysely } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  // A periodic job claims its time slot here; the database lets one instance of a fleet win.
  await db.schema
    .createTable("scheduler_slots")
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("slot", "text", (c) => c.notNull())
    .addColumn("claimed_by", "text", (c) => c.notNull())
    .addColumn("claimed_at", "text", (c) => c.notNull())
    .addPrimaryKeyConstraint("scheduler_slots_pk", ["name", "slot"])
    .execute();
}
