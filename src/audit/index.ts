export {
  type Actor,
  type AuditDetail,
  type AuditEvent,
  type AuditOutcome,
  canonicalJson,
  chainHash,
  checkpointMessage,
  GENESIS_HASH,
  type StoredAuditEvent,
  SYSTEM_ACTOR,
} from "./event.js";
export type { AuditCheckpoint, AuditFilter, AuditStore } from "./ports.js";
export { type AuditKeys, AuditLog, type AuditSettings } from "./service.js";
export { type AuditProblem, type AuditVerification, verifyAuditChain } from "./verify.js";
export { auditView } from "./views.js";
