import type { Logger } from "pino";
import type { Actor, AuditEvent } from "../audit/index.js";
import type { Metrics } from "./metrics.js";
import { type RateLimit, RateWatch } from "./rate-watch.js";

/**
 * Burst detection on key use (certificate signing, decrypts) per principal: a burst above the
 * configured rate is counted, logged and audited (the request itself goes on).
 */
export function createBurstWatch(deps: {
  metrics: Metrics;
  audit: { record(event: Omit<AuditEvent, "at">): Promise<unknown> };
  limits: Record<string, RateLimit>;
  clock: { now(): Date };
  logger?: Logger;
}): { bursts: RateWatch; keyUsed(use: { keyId: string; operation: string; actor: Actor }): void } {
  const { metrics, logger } = deps;
  const bursts = new RateWatch({
    clock: deps.clock,
    limits: deps.limits,
    onBurst: (burst) => {
      metrics.countAnomaly(burst.principal, burst.operation);
      logger?.warn({ ...burst }, "burst of key operations above the configured rate");
      void deps.audit
        .record({
          action: "anomaly.burst",
          actor: { id: burst.principal, name: burst.principal, kind: "system" },
          target: { type: "operation", id: burst.operation },
          outcome: "success",
          details: { count: burst.count, limit: burst.limit, perSeconds: burst.perSeconds },
        })
        .catch((error) => logger?.error({ err: error }, "cannot audit a burst warning"));
    },
  });
  return {
    bursts,
    // Every use of a KMS key: counted by key and operation, and watched for bursts by principal.
    keyUsed({ keyId, operation, actor }) {
      metrics.countKeyOperation(keyId, operation);
      bursts.record(actor.name, `key.${operation}`);
    },
  };
}
