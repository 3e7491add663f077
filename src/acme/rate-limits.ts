import type { Clock } from "../clock/index.js";
import { AcmeError } from "./problems.js";

export interface RateLimitStore {
  /**
   * Adds one to the counter of each key in the window starting at `windowStart`, all at once;
   * returns the new counts in the keys' order.
   */
  increment(keys: string[], windowStart: Date): Promise<number[]>;
  deleteBefore(windowStart: Date): Promise<void>;
}

export interface RateLimitSettings {
  ordersPerAccountPerHour: number;
  ordersPerDomainPerHour: number;
}

const HOUR = 3_600_000;

/**
 * Per-account and per-registered-domain limits on new orders, counted in the database in fixed
 * hourly windows. The registered domain is approximated by the last two labels (no public suffix
 * list is shipped), which is stricter than needed under multi-label suffixes such as co.uk.
 */
export class RateLimits {
  constructor(private readonly deps: { store: RateLimitStore; clock: Clock; settings: RateLimitSettings }) {}

  async chargeNewOrder(accountId: string, dnsNames: string[]): Promise<void> {
    const now = this.deps.clock.now().getTime();
    const windowStart = new Date(Math.floor(now / HOUR) * HOUR);
    const retryAfter = Math.ceil((windowStart.getTime() + HOUR - now) / 1000);
    const domains = [...new Set(dnsNames.map((n) => n.replace(/^\*\./, "").split(".").slice(-2).join(".")))];
    // Every limit the order touches is charged, in one statement: a refused order counts too.
    const limits = [
      {
        key: `orders:account:${accountId}`,
        limit: this.deps.settings.ordersPerAccountPerHour,
        what: "for this account",
      },
      ...domains.map((domain) => ({
        key: `orders:domain:${domain}`,
        limit: this.deps.settings.ordersPerDomainPerHour,
        what: `for ${domain}`,
      })),
    ];
    const counts = await this.deps.store.increment(
      limits.map((l) => l.key),
      windowStart,
    );
    const exceeded = limits.find((l, i) => counts[i]! > l.limit);
    if (exceeded) {
      throw new AcmeError(
        "rateLimited",
        `too many new orders ${exceeded.what} (limit ${exceeded.limit} per hour); retry after ${retryAfter} s`,
        { retryAfter },
      );
    }
  }

  /** Drops counters of windows that ended over a day ago. */
  cleanup(): Promise<void> {
    return this.deps.store.deleteBefore(new Date(this.deps.clock.now().getTime() - 24 * HOUR));
  }
}
