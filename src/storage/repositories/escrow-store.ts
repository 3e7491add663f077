import type { Kysely } from "kysely";
import type { AuditEvent } from "../../audit/index.js";
import type { EscrowAgent, EscrowPolicy, EscrowStore, KeyEscrow, Recovery } from "../../escrow/index.js";
import type { Database } from "../schema.js";
import { appendAudit, withAudit } from "./audit-store.js";

export class SqlEscrowStore implements EscrowStore {
  constructor(private readonly db: Kysely<Database>) {}

  async addAgent(agent: EscrowAgent, audit: AuditEvent): Promise<void> {
    await withAudit(this.db, audit, (tx) =>
      tx
        .insertInto("escrow_agents")
        .values({
          id: agent.id,
          name: agent.name,
          user_name: agent.userName,
          certificate: agent.certificate,
          serial: agent.serial,
          created_at: agent.createdAt.toISOString(),
        })
        .execute(),
    );
  }

  async agents(): Promise<EscrowAgent[]> {
    const rows = await this.db.selectFrom("escrow_agents").selectAll().orderBy("name").execute();
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      userName: r.user_name,
      certificate: Buffer.from(r.certificate),
      serial: r.serial,
      createdAt: new Date(r.created_at),
    }));
  }

  async savePolicy(policy: EscrowPolicy, audit: AuditEvent): Promise<void> {
    await withAudit(this.db, audit, async (tx) => {
      // One policy per key and per tag: a new one replaces the old.
      await tx
        .deleteFrom("escrow_policies")
        .where(policy.keyId !== null ? "key_id" : "tag", "=", (policy.keyId ?? policy.tag)!)
        .execute();
      await tx
        .insertInto("escrow_policies")
        .values({
          id: policy.id,
          key_id: policy.keyId,
          tag: policy.tag,
          agent_ids: JSON.stringify(policy.agentIds),
          threshold: policy.threshold,
          created_at: policy.createdAt.toISOString(),
        })
        .execute();
    });
  }

  async policies(): Promise<EscrowPolicy[]> {
    const rows = await this.db.selectFrom("escrow_policies").selectAll().orderBy("created_at").execute();
    return rows.map((r) => ({
      id: r.id,
      keyId: r.key_id,
      tag: r.tag,
      agentIds: JSON.parse(r.agent_ids) as string[],
      threshold: Number(r.threshold),
      createdAt: new Date(r.created_at),
    }));
  }

  async saveEscrow(escrow: KeyEscrow, audit: AuditEvent): Promise<void> {
    await withAudit(this.db, audit, async (tx) => {
      await tx
        .insertInto("key_escrows")
        .values({
          key_id: escrow.keyId,
          version: escrow.version,
          threshold: escrow.threshold,
          wrapped: escrow.wrapped,
          created_at: escrow.createdAt.toISOString(),
        })
        .execute();
      for (const share of escrow.shares) {
        await tx
          .insertInto("escrow_shares")
          .values({
            key_id: escrow.keyId,
            version: escrow.version,
            agent_id: share.agentId,
            cms: share.cms,
            share_hash: share.shareHash,
          })
          .execute();
      }
    });
  }

  async escrow(keyId: string, version: number): Promise<KeyEscrow | undefined> {
    const row = await this.db
      .selectFrom("key_escrows")
      .selectAll()
      .where("key_id", "=", keyId)
      .where("version", "=", version)
      .executeTakeFirst();
    if (!row) return undefined;
    const shares = await this.db
      .selectFrom("escrow_shares")
      .selectAll()
      .where("key_id", "=", keyId)
      .where("version", "=", version)
      .execute();
    return {
      keyId,
      version,
      threshold: Number(row.threshold),
      wrapped: Buffer.from(row.wrapped),
      createdAt: new Date(row.created_at),
      shares: shares.map((s) => ({ agentId: s.agent_id, cms: Buffer.from(s.cms), shareHash: s.share_hash })),
    };
  }

  async escrowedVersions(): Promise<Array<{ keyId: string; version: number }>> {
    const rows = await this.db.selectFrom("key_escrows").select(["key_id", "version"]).execute();
    return rows.map((r) => ({ keyId: r.key_id, version: Number(r.version) }));
  }

  async openRecovery(recovery: Recovery, audit: AuditEvent): Promise<void> {
    await withAudit(this.db, audit, (tx) =>
      tx
        .insertInto("escrow_recoveries")
        .values({
          id: recovery.id,
          key_id: recovery.keyId,
          version: recovery.version,
          status: recovery.status,
          sealing_key_uri: recovery.sealingKeyUri,
          requested_by: recovery.requestedBy,
          created_at: recovery.createdAt.toISOString(),
          completed_at: null,
        })
        .execute(),
    );
  }

  async recovery(id: string): Promise<Recovery | undefined> {
    return (await this.load([id]))[0];
  }

  async recoveries(): Promise<Recovery[]> {
    const ids = await this.db.selectFrom("escrow_recoveries").select("id").orderBy("created_at").execute();
    return this.load(ids.map((r) => r.id));
  }

  async addShare(recoveryId: string, share: Recovery["submitted"][number], audit: AuditEvent): Promise<boolean> {
    return this.db.transaction().execute(async (tx) => {
      const exists = await tx
        .selectFrom("escrow_recovery_shares")
        .select("agent_id")
        .where("recovery_id", "=", recoveryId)
        .where("agent_id", "=", share.agentId)
        .executeTakeFirst();
      if (exists) return false;
      await tx
        .insertInto("escrow_recovery_shares")
        .values({
          recovery_id: recoveryId,
          agent_id: share.agentId,
          sealed: share.sealed,
          submitted_by: share.submittedBy,
          submitted_at: share.submittedAt.toISOString(),
        })
        .execute();
      await appendAudit(tx, audit);
      return true;
    });
  }

  async finishRecovery(id: string, status: "completed" | "cancelled", at: Date, audit: AuditEvent): Promise<boolean> {
    return this.db.transaction().execute(async (tx) => {
      const result = await tx
        .updateTable("escrow_recoveries")
        .set({ status, completed_at: at.toISOString(), sealing_key_uri: null })
        .where("id", "=", id)
        .where("status", "=", "open")
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) !== 1) return false;
      // Submitted shares are not kept once the recovery is over.
      await tx.deleteFrom("escrow_recovery_shares").where("recovery_id", "=", id).execute();
      await appendAudit(tx, audit);
      return true;
    });
  }

  private async load(ids: string[]): Promise<Recovery[]> {
    if (ids.length === 0) return [];
    const rows = await this.db
      .selectFrom("escrow_recoveries")
      .selectAll()
      .where("id", "in", ids)
      .orderBy("created_at")
      .execute();
    const shares = await this.db
      .selectFrom("escrow_recovery_shares")
      .selectAll()
      .where("recovery_id", "in", ids)
      .orderBy("submitted_at")
      .execute();
    return rows.map((r) => ({
      id: r.id,
      keyId: r.key_id,
      version: Number(r.version),
      status: r.status as Recovery["status"],
      sealingKeyUri: r.sealing_key_uri,
      requestedBy: r.requested_by,
      createdAt: new Date(r.created_at),
      completedAt: r.completed_at ? new Date(r.completed_at) : null,
      submitted: shares
        .filter((s) => s.recovery_id === r.id)
        .map((s) => ({
          agentId: s.agent_id,
          sealed: Buffer.from(s.sealed),
          submittedBy: s.submitted_by,
          submittedAt: new Date(s.submitted_at),
        })),
    }));
  }
}
