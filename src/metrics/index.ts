export {
  type DenyReason,
  type HsmOperation,
  type IssueSource,
  Metrics,
  type MetricsOptions,
  type OcspMethod,
  type OcspResult,
} from "./metrics.js";
export { type BurstEvent, type RateLimit, RateWatch, type RateWatchOptions } from "./rate-watch.js";
export { createBurstWatch } from "./bursts.js";
