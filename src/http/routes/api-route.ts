import { type ApprovalService, approvalView, type Permission } from "../../access/index.js";
import type { Actor } from "../../audit/index.js";
import type { ApiRequest, ApiResponse } from "../api-request.js";
import { actorOf } from "../middleware.js";

/** One admin API route: the table in api.ts mounts it and generates its OpenAPI entry. */
export interface ApiRoute {
  method: "get" | "post";
  path: string;
  permission: Permission;
  /** Sensitive: only a person, with a fresh TOTP code in X-Keyward-OTP (DESIGN.md §6). */
  stepUp?: boolean;
  summary: string;
  handler: (req: ApiRequest, res: ApiResponse) => Promise<void>;
}

/** What a route needs to run a sensitive operation or file it for approval. */
export interface ApprovalDeps {
  approvals: Pick<ApprovalService, "needsApproval" | "request">;
  /** Runs a sensitive operation now (after step-up, when no quorum is required). */
  runOperation(operation: string, params: Record<string, unknown>, actor: Actor): Promise<unknown>;
}

/**
 * Runs a sensitive operation, or — when the quorum policy asks for approvals — files it as an
 * approval request (202) that runs once M distinct people with the required role approve it.
 */
export async function runOrRequestApproval(
  deps: ApprovalDeps,
  req: ApiRequest,
  res: ApiResponse,
  operation: string,
  params: Record<string, unknown>,
  summary: string,
): Promise<void> {
  const actor = actorOf(req, res);
  if (deps.approvals.needsApproval(operation)) {
    const approval = await deps.approvals.request(operation, params, summary, actor);
    res.status(202).setHeader("Location", `/api/v1/approvals/${approval.id}`).json(approvalView(approval));
    return;
  }
  res.status(201).json(await deps.runOperation(operation, params, actor));
}
