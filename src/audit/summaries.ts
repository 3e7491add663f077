import type { Logger } from "pino";
import type { Clock } from "../clock/index.js";
import type { AuditEvent } from "./event.js";

/**
 * Audit events for refusals that anyone can cause in bulk (throttled logins, denied requests,
 * refused operations): the first `perWindow` of a kind in a window are recorded one by one, the
 * rest only counted and recorded as one summary event when the window ends. A flood of refusals
 * then costs a bounded number of audit writes, and the log still says it happened and how much.
 */
const MAX_WINDOWS = 1000;

export class AuditSummaries {
  private readonly windows = new Map<
    string,
    { start: Date; recorded: number; suppressed: number; event: Omit<AuditEvent, "at"> }
  >();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: {
      record: (event: Omit<AuditEvent, "at">) => Promise<unknown>;
      clock: Clock;
      logger?: Logger;
      perWindow?: number;
      windowMs?: number;
    },
  ) {}

  private get perWindow(): number {
    return this.deps.perWindow ?? 10;
  }

  private get windowMs(): number {
    return this.deps.windowMs ?? 60_000;
  }

  /**
   * Records `event` (of kind `key`) now, or counts it towards the window's summary. Resolves once
   * a recorded event is stored (rejects when it cannot be: callers fail closed), at once otherwise.
   */
  note(key: string, event: Omit<AuditEvent, "at">): Promise<void> {
    // A flood from ever new addresses or names shares one window per action beyond this many kinds.
    if (!this.windows.has(key) && this.windows.size >= MAX_WINDOWS) key = `overflow:${event.action}`;
    const now = this.deps.clock.now();
    let window = this.windows.get(key);
    if (window && now.getTime() - window.start.getTime() >= this.windowMs) {
      this.close(key, window, now);
      window = undefined;
    }
    if (!window) {
      window = { start: now, recorded: 0, suppressed: 0, event };
      this.windows.set(key, window);
      this.ensureTimer();
    }
    if (window.recorded >= this.perWindow) {
      window.suppressed++;
      return Promise.resolve();
    }
    window.recorded++;
    return this.deps.record(event).then(() => undefined);
  }

  /** Writes the summaries of windows that ended (on a timer, and at shutdown for all). */
  flush(all = false): void {
    const now = this.deps.clock.now();
    for (const [key, window] of this.windows) {
      if (all || now.getTime() - window.start.getTime() >= this.windowMs) this.close(key, window, now);
    }
    if (this.windows.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  start(): void {}

  /** Writes every open summary and waits for the writes, before the audit log signs its last head. */
  async stop(): Promise<void> {
    this.flush(true);
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await Promise.allSettled([...this.pending]);
  }

  private close(key: string, window: { start: Date; suppressed: number; event: Omit<AuditEvent, "at"> }, now: Date) {
    this.windows.delete(key);
    if (window.suppressed === 0) return;
    this.write({
      ...window.event,
      action: `${window.event.action}.summary`,
      details: {
        ...window.event.details,
        suppressed: window.suppressed,
        from: window.start.toISOString(),
        until: now.toISOString(),
      },
    });
  }

  private ensureTimer(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.flush(), Math.min(this.windowMs, 10_000));
    this.timer.unref();
  }

  private readonly pending = new Set<Promise<unknown>>();

  private write(event: Omit<AuditEvent, "at">): void {
    const done = this.deps
      .record(event)
      .catch((error) => this.deps.logger?.error({ err: error, action: event.action }, "audit event failed"))
      .finally(() => this.pending.delete(done));
    this.pending.add(done);
  }
}
