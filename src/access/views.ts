import type { Approval } from "./quorum.js";
import type { UserRecord } from "./users.js";

/** JSON shape of a person for the admin API and the CLI (never a password hash or TOTP seed). */
export function userView(u: UserRecord) {
  return {
    id: u.id,
    name: u.name,
    role: u.role,
    scopes: u.scopes,
    createdAt: u.createdAt.toISOString(),
    lockedUntil: u.lockedUntil?.toISOString() ?? null,
    disabled: u.disabledAt !== null,
    totpEnrolmentRequired: u.totpEnrolmentRequired,
  };
}

/** JSON shape of an approval request with its votes. */
export function approvalView(a: Approval) {
  return {
    id: a.id,
    operation: a.operation,
    summary: a.summary,
    params: a.params,
    requestedBy: a.requestedBy,
    requiredApprovals: a.requiredApprovals,
    approverRole: a.approverRole,
    status: a.status,
    createdAt: a.createdAt.toISOString(),
    expiresAt: a.expiresAt.toISOString(),
    decidedAt: a.decidedAt?.toISOString() ?? null,
    votes: a.votes.map((v) => ({ user: v.userName, decision: v.decision, at: v.at.toISOString() })),
    result: a.result,
  };
}
