import type { Kysely, Selectable } from "kysely";
import type { Approval, ApprovalStatus, ApprovalStore, ApprovalVote } from "../../access/quorum.js";
import type { Role } from "../../access/roles.js";
import type { AuditEvent } from "../../audit/index.js";
import type { ApprovalsTable, Database } from "../schema.js";
import { appendAudit, withAudit } from "./audit-store.js";
import { isUniqueViolation } from "./unique.js";

export class SqlApprovalStore implements ApprovalStore {
  constructor(private readonly db: Kysely<Database>) {}

  async create(a: Approval, audit: AuditEvent): Promise<void> {
    await withAudit(this.db, audit, (tx) =>
      tx
        .insertInto("approvals")
        .values({
          id: a.id,
          operation: a.operation,
          params: JSON.stringify(a.params),
          summary: a.summary,
          requested_by_id: a.requestedBy.id,
          requested_by_name: a.requestedBy.name,
          required_approvals: a.requiredApprovals,
          approver_role: a.approverRole,
          status: a.status,
          created_at: a.createdAt.toISOString(),
          expires_at: a.expiresAt.toISOString(),
          decided_at: null,
          result: null,
        })
        .execute(),
    );
  }

  async get(id: string): Promise<Approval | undefined> {
    const row = await this.db.selectFrom("approvals").selectAll().where("id", "=", id).executeTakeFirst();
    return row && (await this.withVotes([row]))[0];
  }

  async list(filter: { status?: ApprovalStatus; limit: number }): Promise<Approval[]> {
    let query = this.db.selectFrom("approvals").selectAll();
    if (filter.status) query = query.where("status", "=", filter.status);
    return this.withVotes(await query.orderBy("created_at", "desc").limit(filter.limit).execute());
  }

  async addVote(id: string, vote: ApprovalVote, audit: AuditEvent): Promise<boolean> {
    try {
      // Its own transaction: on PostgreSQL a key violation aborts the transaction it happens in.
      await withAudit(this.db, audit, (tx) =>
        tx
          .insertInto("approval_votes")
          .values({
            approval_id: id,
            user_id: vote.userId,
            user_name: vote.userName,
            decision: vote.decision,
            at: vote.at.toISOString(),
          })
          .execute(),
      );
      return true;
    } catch (error) {
      if (isUniqueViolation(error)) return false;
      throw error;
    }
  }

  async finish(
    id: string,
    from: ApprovalStatus,
    to: ApprovalStatus,
    result: unknown,
    at: Date,
    audit: AuditEvent,
  ): Promise<boolean> {
    return withAudit(
      this.db,
      (done: boolean) => (done ? audit : undefined),
      async (tx) => {
        const updated = await tx
          .updateTable("approvals")
          .set({ status: to, decided_at: at.toISOString(), result: result === null ? null : JSON.stringify(result) })
          .where("id", "=", id)
          .where("status", "=", from)
          .executeTakeFirst();
        return Number(updated.numUpdatedRows) === 1;
      },
    );
  }

  async expireDue(now: Date): Promise<number> {
    return this.db.transaction().execute(async (tx) => {
      const due = await tx
        .selectFrom("approvals")
        .select(["id", "operation", "summary"])
        .where("status", "=", "pending")
        .where("expires_at", "<=", now.toISOString())
        .execute();
      for (const a of due) {
        const updated = await tx
          .updateTable("approvals")
          .set({ status: "expired", decided_at: now.toISOString() })
          .where("id", "=", a.id)
          .where("status", "=", "pending")
          .executeTakeFirst();
        if (Number(updated.numUpdatedRows) !== 1) continue;
        await appendAudit(tx, {
          action: "approval.expire",
          actor: { id: "keyward", name: "keyward", kind: "system" },
          target: { type: "approval", id: a.id },
          outcome: "success",
          details: { operation: a.operation, summary: a.summary },
          at: now,
        });
      }
      return due.length;
    });
  }

  private async withVotes(rows: Selectable<ApprovalsTable>[]): Promise<Approval[]> {
    if (rows.length === 0) return [];
    const votes = await this.db
      .selectFrom("approval_votes")
      .selectAll()
      .where(
        "approval_id",
        "in",
        rows.map((r) => r.id),
      )
      .orderBy("at")
      .execute();
    return rows.map((r) => ({
      id: r.id,
      operation: r.operation,
      params: JSON.parse(r.params),
      summary: r.summary,
      requestedBy: { id: r.requested_by_id, name: r.requested_by_name },
      requiredApprovals: Number(r.required_approvals),
      approverRole: r.approver_role as Role,
      status: r.status as ApprovalStatus,
      createdAt: new Date(r.created_at),
      expiresAt: new Date(r.expires_at),
      decidedAt: r.decided_at ? new Date(r.decided_at) : null,
      result: r.result ? JSON.parse(r.result) : null,
      votes: votes
        .filter((v) => v.approval_id === r.id)
        .map((v) => ({
          userId: v.user_id,
          userName: v.user_name,
          decision: v.decision as "approve" | "reject",
          at: new Date(v.at),
        })),
    }));
  }
}
