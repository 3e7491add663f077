import { randomUUID } from "node:crypto";
import type { Kysely } from "kysely";
import type { Clock } from "../../clock/index.js";
import type { Database } from "../schema.js";
import { isUniqueViolation } from "./unique.js";

/**
 * Exactly-once periodic work across a fleet: a job runs in a time slot only on the instance whose
 * insert of (job, slot) the database accepted. Old claims are pruned by the winners.
 */
export class SchedulerSlots {
  private readonly holder = `${process.pid}-${randomUUID().slice(0, 8)}`;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly clock: Clock,
  ) {}

  /** True when this instance won `name` for the current slot of `periodMs`. */
  async claim(name: string, periodMs: number): Promise<boolean> {
    const now = this.clock.now();
    const slot = String(Math.floor(now.getTime() / periodMs));
    try {
      await this.db
        .insertInto("scheduler_slots")
        .values({ name, slot, claimed_by: this.holder, claimed_at: now.toISOString() })
        .execute();
    } catch (error) {
      if (isUniqueViolation(error)) return false;
      throw error;
    }
    await this.db
      .deleteFrom("scheduler_slots")
      .where("name", "=", name)
      .where("claimed_at", "<", new Date(now.getTime() - 86_400_000).toISOString())
      .execute();
    return true;
  }
}
