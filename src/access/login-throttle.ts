/**
 * Token buckets for failed and unknown-name logins (issue 22): each costs a slow password hash
 * and database writes, and needs no account, so without a bound a login flood takes the CPU from
 * everything else (OCSP above all). One bucket per source address and one for everyone; an attempt
 * takes a token from both before any hashing and gets it back when it succeeds. A refused attempt
 * costs nothing but a map lookup.
 */
export interface LoginThrottleSettings {
  /** Failed logins one address may burst… */
  perSourceBurst: number;
  /** …and then this many per minute. */
  perSourcePerMinute: number;
  /** Failed logins from all addresses together: burst, then per second. */
  globalBurst: number;
  globalPerSecond: number;
}

export interface LoginRefusal {
  retryAfter: number;
  scope: "source" | "global";
}

export const DEFAULT_LOGIN_THROTTLE: LoginThrottleSettings = Object.freeze({
  perSourceBurst: 10,
  perSourcePerMinute: 10,
  globalBurst: 20,
  globalPerSecond: 2,
});

/** Sources remembered at most (the least recently seen are forgotten first: a full bucket again). */
const MAX_SOURCES = 10_000;

class Bucket {
  constructor(
    private tokens: number,
    private at: number,
  ) {}

  /** Seconds until a token is available after refilling to `now` (0: one is there). */
  wait(now: number, burst: number, perMs: number): number {
    this.tokens = Math.min(burst, this.tokens + (now - this.at) * perMs);
    this.at = now;
    return this.tokens >= 1 ? 0 : Math.ceil((1 - this.tokens) / perMs / 1000);
  }

  take(): void {
    this.tokens -= 1;
  }

  give(burst: number): void {
    this.tokens = Math.min(burst, this.tokens + 1);
  }
}

export class LoginThrottle {
  private readonly sources = new Map<string, Bucket>();
  private readonly everyone: Bucket;

  constructor(
    private readonly settings: LoginThrottleSettings = DEFAULT_LOGIN_THROTTLE,
    now = Date.now(),
  ) {
    this.everyone = new Bucket(settings.globalBurst, now);
  }

  /**
   * Takes a token for an attempt from `source`: undefined when admitted, else the seconds to wait
   * and which bucket refused.
   */
  admit(source: string, now: number): LoginRefusal | undefined {
    const refused = this.check(source, now);
    if (refused) return refused;
    this.sources.get(source)!.take();
    this.everyone.take();
    return undefined;
  }

  /** Whether an attempt from `source` would be refused now, taking nothing. */
  check(source: string, now: number): LoginRefusal | undefined {
    const s = this.settings;
    const bucket = this.source(source, now);
    const sourceWait = bucket.wait(now, s.perSourceBurst, s.perSourcePerMinute / 60_000);
    if (sourceWait > 0) return { retryAfter: sourceWait, scope: "source" };
    const globalWait = this.everyone.wait(now, s.globalBurst, s.globalPerSecond / 1000);
    if (globalWait > 0) return { retryAfter: globalWait, scope: "global" };
    return undefined;
  }

  /** A successful login gives its tokens back: people who type their password right are never slowed. */
  refund(source: string): void {
    this.sources.get(source)?.give(this.settings.perSourceBurst);
    this.everyone.give(this.settings.globalBurst);
  }

  private source(source: string, now: number): Bucket {
    let bucket = this.sources.get(source);
    if (bucket) {
      // Most recently seen last, so the first entry is the one to forget.
      this.sources.delete(source);
    } else {
      bucket = new Bucket(this.settings.perSourceBurst, now);
      if (this.sources.size >= MAX_SOURCES) this.sources.delete(this.sources.keys().next().value!);
    }
    this.sources.set(source, bucket);
    return bucket;
  }
}
