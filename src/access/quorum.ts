import { randomUUID } from "node:crypto";
import type { Actor, AuditEvent } from "../audit/index.js";
import type { Clock } from "../clock/index.js";
import { BadRequestError, ConflictError, ForbiddenError, NotFoundError } from "../errors/index.js";
import type { Role } from "./roles.js";

export type ApprovalStatus = "pending" | "executed" | "rejected" | "expired" | "failed";

export interface ApprovalVote {
  userId: string;
  userName: string;
  decision: "approve" | "reject";
  at: Date;
}

export interface Approval {
  id: string;
  operation: string;
  params: Record<string, unknown>;
  summary: string;
  requestedBy: { id: string; name: string };
  requiredApprovals: number;
  approverRole: Role;
  status: ApprovalStatus;
  createdAt: Date;
  expiresAt: Date;
  decidedAt: Date | null;
  result: unknown | null;
  votes: ApprovalVote[];
}

export interface ApprovalStore {
  create(approval: Approval, audit: AuditEvent): Promise<void>;
  get(id: string): Promise<Approval | undefined>;
  list(filter: { status?: ApprovalStatus; limit: number }): Promise<Approval[]>;
  /** Records a vote; false when this person already voted (the database's key decides). */
  addVote(id: string, vote: ApprovalVote, audit: AuditEvent): Promise<boolean>;
  /** Moves a request from `from` to `to` with a result; true for exactly one caller. */
  finish(
    id: string,
    from: ApprovalStatus,
    to: ApprovalStatus,
    result: unknown,
    at: Date,
    audit: AuditEvent,
  ): Promise<boolean>;
  /** Marks pending requests past their expiry as expired; returns how many. */
  expireDue(now: Date): Promise<number>;
}

/** Operation → how many distinct approvers, holding which role, it needs. */
export type QuorumPolicy = Partial<Record<string, { approvals: number; role: Role }>>;

export type Executor = (params: Record<string, unknown>, requester: Actor) => Promise<unknown>;

/**
 * Dual control (M-of-N, PCI-DSS split knowledge): a sensitive operation is filed with its exact
 * parameters and runs only when M people other than the requester, each with the required role,
 * have approved it; any eligible person's rejection ends it. It runs once, as the requester.
 */
export class ApprovalService {
  constructor(
    private readonly deps: {
      store: ApprovalStore;
      clock: Clock;
      policy: QuorumPolicy;
      lifetimeHours: number;
      executors: Map<string, Executor>;
    },
  ) {}

  needsApproval(operation: string): boolean {
    return (this.deps.policy[operation]?.approvals ?? 0) > 0;
  }

  async request(
    operation: string,
    params: Record<string, unknown>,
    summary: string,
    requester: Actor,
  ): Promise<Approval> {
    const rule = this.deps.policy[operation];
    if (!rule || !this.deps.executors.has(operation))
      throw new BadRequestError(`"${operation}" is not an approvable operation`);
    const now = this.deps.clock.now();
    const approval: Approval = {
      id: randomUUID(),
      operation,
      params,
      summary,
      requestedBy: { id: requester.id, name: requester.name },
      requiredApprovals: rule.approvals,
      approverRole: rule.role,
      status: "pending",
      createdAt: now,
      expiresAt: new Date(now.getTime() + this.deps.lifetimeHours * 3_600_000),
      decidedAt: null,
      result: null,
      votes: [],
    };
    await this.deps.store.create(approval, this.event("approval.request", approval, requester, now));
    return approval;
  }

  async get(id: string): Promise<Approval> {
    await this.deps.store.expireDue(this.deps.clock.now());
    const approval = await this.deps.store.get(id);
    if (!approval) throw new NotFoundError(`no approval request ${id}`);
    return approval;
  }

  async list(filter: { status?: ApprovalStatus; limit: number }): Promise<Approval[]> {
    await this.deps.store.expireDue(this.deps.clock.now());
    return this.deps.store.list(filter);
  }

  async approve(id: string, approver: { actor: Actor; role: Role }): Promise<Approval> {
    const approval = await this.pending(id);
    if (approval.requestedBy.id === approver.actor.id) {
      throw new ForbiddenError("you cannot approve your own request: dual control needs other people");
    }
    if (approver.role !== approval.approverRole) {
      throw new ForbiddenError(`this request needs approvals from the role "${approval.approverRole}"`);
    }
    const now = this.deps.clock.now();
    const vote: ApprovalVote = {
      userId: approver.actor.id,
      userName: approver.actor.name,
      decision: "approve",
      at: now,
    };
    if (!(await this.deps.store.addVote(id, vote, this.event("approval.approve", approval, approver.actor, now)))) {
      throw new ConflictError("you already voted on this request; approvals must come from distinct people");
    }
    const current = (await this.deps.store.get(id))!;
    const approvals = current.votes.filter((v) => v.decision === "approve").length;
    if (approvals < current.requiredApprovals || current.status !== "pending") return current;
    return this.execute(current, approver.actor);
  }

  async reject(id: string, decider: { actor: Actor; role: Role }): Promise<Approval> {
    const approval = await this.pending(id);
    const own = approval.requestedBy.id === decider.actor.id;
    if (!own && decider.role !== approval.approverRole) {
      throw new ForbiddenError(
        `this request can be rejected by the role "${approval.approverRole}" or withdrawn by its requester`,
      );
    }
    const now = this.deps.clock.now();
    if (!own) {
      const vote: ApprovalVote = {
        userId: decider.actor.id,
        userName: decider.actor.name,
        decision: "reject",
        at: now,
      };
      if (!(await this.deps.store.addVote(id, vote, this.event("approval.reject", approval, decider.actor, now)))) {
        throw new ConflictError("you already voted on this request");
      }
    }
    const event = this.event(own ? "approval.withdraw" : "approval.close", approval, decider.actor, now);
    if (!(await this.deps.store.finish(id, "pending", "rejected", null, now, event))) {
      throw new ConflictError("the request was decided by someone else just now");
    }
    return (await this.deps.store.get(id))!;
  }

  /** Claims the request first (only one approver's call gets here), then runs it as the requester. */
  private async execute(approval: Approval, lastApprover: Actor): Promise<Approval> {
    const now = this.deps.clock.now();
    const claim = this.event("approval.execute", approval, lastApprover, now);
    if (!(await this.deps.store.finish(approval.id, "pending", "executed", null, now, claim)))
      return (await this.deps.store.get(approval.id))!;
    const requester: Actor = { id: approval.requestedBy.id, name: approval.requestedBy.name, kind: "user" };
    try {
      const result = await this.deps.executors.get(approval.operation)!(approval.params, requester);
      await this.deps.store.finish(approval.id, "executed", "executed", result ?? null, this.deps.clock.now(), {
        ...this.event("approval.result", approval, lastApprover, this.deps.clock.now()),
      });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      await this.deps.store.finish(approval.id, "executed", "failed", { error: message }, this.deps.clock.now(), {
        ...this.event("approval.failed", approval, lastApprover, this.deps.clock.now()),
        outcome: "failure",
      });
      throw error;
    }
    return (await this.deps.store.get(approval.id))!;
  }

  private async pending(id: string): Promise<Approval> {
    const approval = await this.get(id);
    if (approval.status !== "pending") throw new ConflictError(`the request is ${approval.status}, not pending`);
    return approval;
  }

  private event(action: string, a: Approval, actor: Actor, at: Date): AuditEvent {
    return {
      action,
      actor,
      target: { type: "approval", id: a.id },
      outcome: "success",
      details: { operation: a.operation, summary: a.summary },
      at,
    };
  }
}
