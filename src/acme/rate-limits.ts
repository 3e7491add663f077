import type { Clock } from "../clock/index.js";
import { AcmeError } from "./problems.js";

export interface RateLimitStore {
  /** Adds one to the counter of `key` in the window starting at `windowStart`; returns the new count. */
  increment(key: string, windowStart: Date): Promise<number>;
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
    const charge = async (key: string, limit: number, what: string) => {
      if ((await this.deps.store.increment(key, windowStart)) > limit) {
        throw new AcmeError(
          "rateLimited",
          `too many new orders ${what} (limit ${limit} per hour); retry after ${retryAfter} s`,
          {
            retryAfter,
          },
        );
      }
    };
    await charge(`orders:account:${accountId}`, this.deps.settings.ordersPerAccountPerHour, "for this account");
    const domains = new Set(dnsNames.map((n) => n.replace(/^\*\./, "").split(".").slice(-2).join(".")));
    for (const domain of domains)
      await charge(`orders:domain:${domain}`, this.deps.settings.ordersPerDomainPerHour, `for ${domain}`);
  }

  /** Drops counters of windows that ended over a day ago. */
  cleanup(): Promise<void> {
    return this.deps.store.deleteBefore(new Date(this.deps.clock.now().getTime() - 24 * HOUR));
  }
}
