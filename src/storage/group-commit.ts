import { type Kysely, sql } from "kysely";
import type { Database } from "./schema.js";

interface Pending {
  work: (tx: Kysely<Database>) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** Most writes committed together; bounds the time one transaction holds the write lock. */
const MAX_BATCH = 64;

/**
 * Group commit: writes that arrive together (concurrent issuances) share one transaction, so one
 * durable commit (one fsync) serves them all. Each write runs in its own savepoint: one that fails
 * is rolled back alone and fails alone. A write's promise settles only after the COMMIT, so
 * nothing is acknowledged before it is on disk, and a crash loses only unacknowledged writes.
 */
export class GroupCommit {
  private queue: Pending[] = [];
  private flushing = false;
  private scheduled = false;
  /** Transactions committed and writes in them (for tests and metrics). */
  readonly stats = { commits: 0, writes: 0 };

  constructor(private readonly db: Kysely<Database>) {}

  run<T>(work: (tx: Kysely<Database>) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.flushing) return;
    this.scheduled = true;
    // After the current I/O callbacks: writes that became ready together join one batch.
    setImmediate(() => {
      this.scheduled = false;
      this.flushing = true;
      void this.flush().finally(() => {
        this.flushing = false;
        if (this.queue.length) this.schedule();
      });
    });
  }

  private async flush(): Promise<void> {
    const batch = this.queue.splice(0, MAX_BATCH);
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    try {
      await this.db.transaction().execute(async (tx) => {
        if (batch.length === 1) {
          outcomes.push({ ok: true, value: await batch[0]!.work(tx) });
          return;
        }
        for (const [i, item] of batch.entries()) {
          const savepoint = sql.raw(`group_write_${i}`);
          await sql`savepoint ${savepoint}`.execute(tx);
          try {
            outcomes.push({ ok: true, value: await item.work(tx) });
          } catch (error) {
            await sql`rollback to savepoint ${savepoint}`.execute(tx);
            outcomes.push({ ok: false, error });
          }
          await sql`release savepoint ${savepoint}`.execute(tx);
        }
      });
    } catch (error) {
      // The single write failed, or the COMMIT did: nothing of this batch is stored.
      for (const item of batch) item.reject(error);
      return;
    }
    this.stats.commits++;
    this.stats.writes += outcomes.filter((o) => o.ok).length;
    for (const [i, item] of batch.entries()) {
      const outcome = outcomes[i]!;
      if (outcome.ok) item.resolve(outcome.value);
      else item.reject(outcome.error);
    }
  }
}
