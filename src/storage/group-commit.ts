import type { Kysely } from "kysely";
import { isStalePlan } from "./prepared-statements.js";
import type { Database } from "./schema.js";

/**
 * Writes of one kind that one statement can make together: on PostgreSQL, k certificates stored
 * in one round trip instead of BEGIN, k statements and COMMIT. The statement commits by itself and
 * is atomic per item, not across them: `all` answers each item's value, or the Error that item
 * alone fails with (the others are stored). If `all` throws, nothing of it was stored and the
 * items run as a batch of their own, where one that fails fails alone. Writes whose `all` is the
 * same function go together.
 */
export interface Together<T> {
  item: unknown;
  all(db: Kysely<Database>, items: unknown[]): Promise<(T | Error)[]>;
}

interface Pending {
  work: (tx: Kysely<Database>) => Promise<unknown>;
  alone: boolean;
  together?: Together<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** Most writes committed together; bounds the time one transaction holds the write lock. */
const MAX_BATCH = 64;

/**
 * Group commit: writes that arrive together (concurrent issuances) share one transaction, so one
 * durable commit (one fsync) serves them all. A write that fails fails alone: the others run again
 * without it. A write's promise settles only after the COMMIT, so
 * nothing is acknowledged before it is on disk, and a crash loses only unacknowledged writes.
 */
export class GroupCommit {
  private queue: Pending[] = [];
  private flushing = false;
  private scheduled = false;
  /** Transactions committed and writes in them (for tests and metrics). */
  readonly stats = { commits: 0, writes: 0 };

  constructor(private readonly db: Kysely<Database>) {}

  /**
   * `alone`: the work is atomic without a transaction around it — one statement, or it opens its
   * own when handed the database instead of a transaction. A batch of only that write then runs it
   * on the database: no BEGIN and COMMIT, two of the three PostgreSQL round trips of a one-statement
   * write (the statement commits itself, as durably). Batches of several still share a transaction.
   */
  run<T>(
    work: (tx: Kysely<Database>) => Promise<T>,
    options: { alone?: boolean; together?: Together<T> } = {},
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({
        work,
        alone: options.alone ?? false,
        ...(options.together ? { together: options.together as Together<unknown> } : {}),
        resolve: resolve as (value: unknown) => void,
        reject,
      });
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
    // Two or more writes of a kind that one statement can make go together; the rest as before.
    const kinds = new Map<Together<unknown>["all"], Pending[]>();
    for (const item of batch) {
      if (item.together) kinds.set(item.together.all, [...(kinds.get(item.together.all) ?? []), item]);
    }
    const together = [...kinds.values()].filter((items) => items.length > 1);
    const joined = new Set(together.flat());
    const rest = batch.filter((item) => !joined.has(item));
    await Promise.all([
      ...together.map((items) => this.runTogether(items)),
      ...(rest.length ? [this.runBatch(rest)] : []),
    ]);
  }

  private async runTogether(items: Pending[]): Promise<void> {
    let results: unknown[];
    try {
      results = await items[0]!.together!.all(
        this.db,
        items.map((item) => item.together!.item),
      );
    } catch {
      // Nothing of the statement is stored: the writes go the usual way, in one transaction that
      // finds which of them fails, alone.
      await this.runBatch(items);
      return;
    }
    this.stats.commits++;
    this.stats.writes += items.length;
    for (const [i, item] of items.entries()) {
      const result = results[i];
      if (result instanceof Error) item.reject(result);
      else item.resolve(result);
    }
  }

  private async runBatch(writes: Pending[]): Promise<void> {
    let batch = writes;
    // A statement PostgreSQL prepared before another instance's migration fails once per pooled
    // connection (the connection then stops using it): not the write's fault, so it runs again.
    let staleRetries = 0;
    // Writes run back to back with no savepoint around each (on PostgreSQL a savepoint and its
    // release were two of the ~12 round trips of a certificate). When one fails, the transaction
    // is rolled back and the batch runs again without it: it fails alone, as with savepoints, and
    // the cost of a failure (rare: a duplicate serial, an intent no longer pending) is one rerun.
    // Works only touch the database, so running one again is safe.
    for (;;) {
      if (batch.length === 1 && batch[0]!.alone) {
        const [item] = batch as [Pending];
        try {
          const value = await item.work(this.db);
          this.stats.commits++;
          this.stats.writes++;
          item.resolve(value);
        } catch (error) {
          if (isStalePlan(error) && staleRetries++ < 16) continue;
          item.reject(error);
        }
        return;
      }
      const values: unknown[] = [];
      let failed: { index: number; error: unknown } | undefined;
      try {
        await this.db.transaction().execute(async (tx) => {
          for (const [index, item] of batch.entries()) {
            try {
              values.push(await item.work(tx));
            } catch (error) {
              failed = { index, error };
              throw error;
            }
          }
        });
      } catch (error) {
        if (failed && isStalePlan(failed.error) && staleRetries++ < 16) continue;
        if (failed) {
          batch[failed.index]!.reject(failed.error);
          batch = batch.filter((_, i) => i !== failed!.index);
          if (batch.length) continue;
          return;
        }
        // The COMMIT failed: nothing of this batch is stored.
        for (const item of batch) item.reject(error);
        return;
      }
      this.stats.commits++;
      this.stats.writes += batch.length;
      for (const [i, item] of batch.entries()) item.resolve(values[i]);
      return;
    }
  }
}
