import { type Kysely, sql } from "kysely";
import type { DailyCount, OverviewStore } from "../../overview/index.js";
import type { Database } from "../schema.js";

/** Times are ISO-8601 strings, so the first ten characters are the UTC day on both engines. */
const day = (column: "created_at" | "revoked_at") => sql<string>`substr(${sql.ref(column)}, 1, 10)`;

export class SqlOverviewStore implements OverviewStore {
  constructor(private readonly db: Kysely<Database>) {}

  async issuedPerDay(since: Date): Promise<DailyCount[]> {
    const rows = await this.db
      .selectFrom("certificates")
      .select([day("created_at").as("day"), (eb) => eb.fn.countAll().as("count")])
      .where("status", "in", ["valid", "revoked"])
      .where("created_at", ">=", since.toISOString())
      .groupBy(day("created_at"))
      .execute();
    return rows.map((r) => ({ day: r.day, count: Number(r.count) }));
  }

  async revokedPerDay(since: Date): Promise<DailyCount[]> {
    const rows = await this.db
      .selectFrom("certificates")
      .select([day("revoked_at").as("day"), (eb) => eb.fn.countAll().as("count")])
      .where("status", "=", "revoked")
      .where("revoked_at", ">=", since.toISOString())
      .groupBy(day("revoked_at"))
      .execute();
    return rows.map((r) => ({ day: r.day, count: Number(r.count) }));
  }

  async ocspCoverage(now: Date, refreshBefore: Date, internalProfiles: readonly string[]) {
    // Keyward's own certificates (responders carry id-pkix-ocsp-nocheck; the others sign its
    // statements and are answered on demand) are left out on purpose.
    const excluded = ["ocsp-responder", ...internalProfiles];
    const covered = () =>
      this.db
        .selectFrom("certificates as c")
        .leftJoin("ocsp_responses as o", (join) =>
          join.onRef("o.serial", "=", "c.serial").on("o.hash", "=", "sha1").on("o.next_update", ">", now.toISOString()),
        )
        .where("c.status", "in", ["valid", "revoked"])
        .where("c.not_after", ">", now.toISOString())
        .where("c.profile", "not in", excluded);
    const row = await covered()
      .select([
        (eb) => eb.fn.countAll().as("certificates"),
        (eb) => eb.fn.count("o.serial").as("answered"),
        sql<number | string>`sum(case when o.this_update < ${refreshBefore.toISOString()} then 1 else 0 end)`.as("due"),
      ])
      .executeTakeFirstOrThrow();
    const unanswered = await covered()
      .select("c.serial")
      .where("o.serial", "is", null)
      .orderBy("c.serial")
      .limit(UNANSWERED_NAMED)
      .execute();
    return {
      certificates: Number(row.certificates),
      answered: Number(row.answered),
      due: Number(row.due ?? 0),
      unansweredSerials: unanswered.map((r) => r.serial),
    };
  }
}

/** How many unanswered certificates the overview names (and links), beyond the count. */
const UNANSWERED_NAMED = 5;
