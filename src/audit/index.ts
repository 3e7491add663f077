export {
  type Actor,
  type AuditDetail,
  type AuditEvent,
  type AuditOutcome,
  canonicalJson,
  chainHash,
  eventLeaf,
  GENESIS_HASH,
  type StoredAuditEvent,
  SYSTEM_ACTOR,
  type TreeHead,
  treeHeadMessage,
} from "./event.js";
export type { AuditFilter, AuditStore, SignedTreeHead, StoredTreeHead } from "./ports.js";
export { type AuditKeys, AuditLog, type AuditSettings } from "./service.js";
export { AuditSummaries } from "./summaries.js";
export { type AuditProblem, type AuditVerification, verifyAuditLog, type WitnessEntry } from "./verify.js";
export { auditView } from "./views.js";
export { treeHeadJson } from "./witness.js";
