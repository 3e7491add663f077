export interface RateLimit {
  /** More than `count` operations within `perSeconds` is a burst. */
  count: number;
  perSeconds: number;
}

export interface BurstEvent {
  principal: string;
  operation: string;
  /** Operations seen in the last `perSeconds` when the limit was crossed (a sliding-window estimate). */
  count: number;
  /** The configured `count` that was exceeded. */
  limit: number;
  perSeconds: number;
  at: Date;
}

export interface RateWatchOptions {
  clock: { now(): Date };
  /** Keyed by operation name; operations not listed are not watched. */
  limits: Record<string, RateLimit>;
  /** Called synchronously from `record`, on the request path: it should only log and count, and must not throw. */
  onBurst: (event: BurstEvent) => void;
  /** Upper bound on tracked (principal, operation) pairs; the least recently active is dropped first. */
  maxKeys?: number;
}

interface Entry {
  windowMs: number;
  /** Start of the fixed window `current` counts; `previous` counts the window just before it. */
  bucketStart: number;
  current: number;
  previous: number;
  lastSeen: number;
  /** False from a warning until the rate has fallen back under the limit, so a burst warns once. */
  armed: boolean;
  lastAlertAt: number;
}

const DEFAULT_MAX_KEYS = 10_000;

/**
 * Flags a principal performing a sensitive operation (signing, decryption) faster than its
 * configured rate: a stolen token or a runaway client looks like exactly that.
 *
 * Each (principal, operation) pair costs two counters (the sliding-window-counter approximation:
 * the previous fixed window is weighted by how much of it still overlaps the sliding window),
 * instead of one timestamp per operation, so memory does not grow with the configured limits.
 * The estimate assumes the previous window's operations were evenly spread, which is close
 * enough for an alert threshold. Pairs idle for two windows carry no state worth keeping and are
 * dropped; `maxKeys` bounds the rest against a flood of distinct principals.
 */
export class RateWatch {
  private readonly entries = new Map<string, Entry>();
  private readonly limits = new Map<string, RateLimit>();
  private readonly maxKeys: number;
  private readonly shortestWindowMs: number;
  private lastSweep = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: RateWatchOptions) {
    for (const [operation, limit] of Object.entries(options.limits)) {
      if (!Number.isFinite(limit.count) || limit.count < 0)
        throw new RangeError(`rate watch limit for ${operation}: count must be a non-negative number`);
      if (!Number.isFinite(limit.perSeconds) || limit.perSeconds <= 0)
        throw new RangeError(`rate watch limit for ${operation}: perSeconds must be a positive number`);
      this.limits.set(operation, { count: limit.count, perSeconds: limit.perSeconds });
    }
    this.maxKeys = options.maxKeys ?? DEFAULT_MAX_KEYS;
    if (!Number.isInteger(this.maxKeys) || this.maxKeys < 1) throw new RangeError("rate watch maxKeys must be >= 1");
    const windows = [...this.limits.values()].map((l) => l.perSeconds * 1000);
    // The shortest window is both the sweep period (amortised cost, prompt freeing) and the bound
    // that lets a sweep stop early.
    this.shortestWindowMs = windows.length > 0 ? Math.min(...windows) : 0;
  }

  /** Number of (principal, operation) pairs currently tracked. */
  get size(): number {
    return this.entries.size;
  }

  record(principal: string, operation: string): void {
    const limit = this.limits.get(operation);
    if (limit === undefined) return;
    const now = this.options.clock.now().getTime();
    if (now - this.lastSweep >= this.shortestWindowMs) this.sweep(now);

    // Operation names are configuration keys, which never contain NUL, so two pairs cannot share a key.
    const key = `${operation}\u0000${principal}`;
    let entry = this.entries.get(key);
    if (entry === undefined) {
      if (this.entries.size >= this.maxKeys) {
        const oldest = this.entries.keys().next();
        if (!oldest.done) this.entries.delete(oldest.value);
      }
      const windowMs = limit.perSeconds * 1000;
      entry = {
        windowMs,
        bucketStart: Math.floor(now / windowMs) * windowMs,
        current: 0,
        previous: 0,
        lastSeen: now,
        armed: true,
        lastAlertAt: Number.NEGATIVE_INFINITY,
      };
    } else {
      // Re-inserting keeps the map in least-recently-active order, which both eviction paths rely on.
      this.entries.delete(key);
    }
    this.entries.set(key, entry);

    roll(entry, now);
    // Re-arming needs the rate back under the limit and a full window since the last warning, so a
    // rate hovering right at the limit cannot produce more than one warning per window.
    if (!entry.armed && estimate(entry, now) <= limit.count && now - entry.lastAlertAt >= entry.windowMs) {
      entry.armed = true;
    }
    entry.current += 1;
    entry.lastSeen = Math.max(entry.lastSeen, now);

    const seen = estimate(entry, now);
    if (entry.armed && seen > limit.count) {
      entry.armed = false;
      entry.lastAlertAt = now;
      this.options.onBurst({
        principal,
        operation,
        count: Math.max(Math.round(seen), Math.floor(limit.count) + 1),
        limit: limit.count,
        perSeconds: limit.perSeconds,
        at: new Date(now),
      });
    }
  }

  /**
   * Drops pairs idle for two of their windows: both counters would read zero and the pair would be
   * re-armed on its next operation, so forgetting them changes nothing.
   */
  private sweep(now: number): void {
    this.lastSweep = now;
    for (const [key, entry] of this.entries) {
      const idle = now - entry.lastSeen;
      if (idle >= 2 * entry.windowMs) {
        this.entries.delete(key);
        continue;
      }
      // Entries are in last-activity order: past this point nothing is idle even for the shortest window.
      if (idle < this.shortestWindowMs * 2) break;
    }
  }
}

function roll(entry: Entry, now: number): void {
  const bucketStart = Math.floor(now / entry.windowMs) * entry.windowMs;
  // A clock stepping backwards keeps counting into the current window rather than resurrecting old ones.
  if (bucketStart <= entry.bucketStart) return;
  entry.previous = bucketStart - entry.bucketStart === entry.windowMs ? entry.current : 0;
  entry.current = 0;
  entry.bucketStart = bucketStart;
}

function estimate(entry: Entry, now: number): number {
  const elapsed = Math.min(Math.max(now - entry.bucketStart, 0), entry.windowMs);
  return entry.current + entry.previous * ((entry.windowMs - elapsed) / entry.windowMs);
}
