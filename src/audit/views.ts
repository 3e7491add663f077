import type { StoredAuditEvent } from "./event.js";

/** JSON shape of an audit event for the admin API and the CLI. */
export function auditView(e: StoredAuditEvent) {
  return {
    seq: e.seq,
    at: e.at.toISOString(),
    action: e.action,
    actor: e.actor,
    target: e.target ?? null,
    outcome: e.outcome,
    details: e.details ?? {},
    hash: e.hash,
  };
}
