import type { Kysely, Selectable } from "kysely";
import type { Role } from "../../access/roles.js";
import type { SessionRecord, UserRecord, UserStore } from "../../access/users.js";
import type { AuditEvent } from "../../audit/index.js";
import { ConflictError } from "../../errors/index.js";
import type { Database, UsersTable } from "../schema.js";
import { appendAudit, withAudit } from "./audit-store.js";
import { isUniqueViolation } from "./unique.js";

function toUser(row: Selectable<UsersTable>): UserRecord {
  return {
    id: row.id,
    name: row.name,
    role: row.role as Role,
    passwordHash: row.password_hash,
    totpKeyUri: row.totp_key_uri,
    totpLastStep: row.totp_last_step === null ? null : Number(row.totp_last_step),
    failedAttempts: Number(row.failed_attempts),
    lockedUntil: row.locked_until ? new Date(row.locked_until) : null,
    scopes: JSON.parse(row.scopes),
    createdAt: new Date(row.created_at),
    disabledAt: row.disabled_at ? new Date(row.disabled_at) : null,
    totpEnrolmentRequired: Number(row.totp_enrolment_required) === 1,
    totpPendingKeyUri: row.totp_pending_key_uri,
  };
}

export class SqlUserStore implements UserStore {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(user: UserRecord, recoveryCodeHashes: string[], audit: AuditEvent): Promise<void> {
    try {
      await withAudit(this.db, audit, async (tx) => {
        await tx
          .insertInto("users")
          .values({
            id: user.id,
            name: user.name,
            role: user.role,
            password_hash: user.passwordHash,
            totp_key_uri: user.totpKeyUri,
            totp_last_step: user.totpLastStep,
            failed_attempts: 0,
            locked_until: null,
            scopes: JSON.stringify(user.scopes),
            created_at: user.createdAt.toISOString(),
            disabled_at: null,
          })
          .execute();
        for (const hash of recoveryCodeHashes) {
          await tx.insertInto("recovery_codes").values({ user_id: user.id, code_hash: hash, used_at: null }).execute();
        }
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw new ConflictError(`a user named "${user.name}" already exists`);
      throw error;
    }
  }

  async byName(name: string) {
    const row = await this.db.selectFrom("users").selectAll().where("name", "=", name).executeTakeFirst();
    return row && toUser(row);
  }

  async byId(id: string) {
    const row = await this.db.selectFrom("users").selectAll().where("id", "=", id).executeTakeFirst();
    return row && toUser(row);
  }

  async list() {
    return (await this.db.selectFrom("users").selectAll().orderBy("name").execute()).map(toUser);
  }

  async registerFailure(
    id: string,
    lockFor: (failedAttempts: number) => Date | null,
    audit: AuditEvent,
  ): Promise<Date | null> {
    return this.db.transaction().execute(async (tx) => {
      // The increment happens in the database, so parallel guesses are all counted.
      const row = await tx
        .updateTable("users")
        .set((eb) => ({ failed_attempts: eb("failed_attempts", "+", 1) }))
        .where("id", "=", id)
        .returning("failed_attempts")
        .executeTakeFirst();
      let until: Date | null = null;
      if (row) {
        until = lockFor(Number(row.failed_attempts));
        await tx
          .updateTable("users")
          .set({ locked_until: until?.toISOString() ?? null })
          .where("id", "=", id)
          .execute();
      }
      await appendAudit(tx, {
        ...audit,
        details: { ...audit.details, ...(row ? { failedAttempts: Number(row.failed_attempts) } : {}) },
      });
      return until;
    });
  }

  async requireTotpEnrolment(id: string, audit: AuditEvent): Promise<void> {
    await withAudit(this.db, audit, (tx) =>
      tx.updateTable("users").set({ totp_enrolment_required: 1 }).where("id", "=", id).execute(),
    );
  }

  async setPendingTotp(id: string, keyUri: string, audit: AuditEvent): Promise<void> {
    await withAudit(this.db, audit, (tx) =>
      tx.updateTable("users").set({ totp_pending_key_uri: keyUri }).where("id", "=", id).execute(),
    );
  }

  async completeTotpEnrolment(id: string, keyUri: string, usedStep: number | null, audit: AuditEvent): Promise<void> {
    await withAudit(this.db, audit, (tx) =>
      tx
        .updateTable("users")
        .set({ totp_key_uri: keyUri, totp_pending_key_uri: null, totp_enrolment_required: 0, totp_last_step: usedStep })
        .where("id", "=", id)
        .execute(),
    );
  }

  async consumeTotpStep(id: string, step: number): Promise<boolean> {
    const result = await this.db
      .updateTable("users")
      .set({ totp_last_step: step })
      .where("id", "=", id)
      .where((eb) => eb.or([eb("totp_last_step", "is", null), eb("totp_last_step", "<", step)]))
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async unusedRecoveryCodes(id: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom("recovery_codes")
      .select("code_hash")
      .where("user_id", "=", id)
      .where("used_at", "is", null)
      .execute();
    return rows.map((r) => r.code_hash);
  }

  async consumeRecoveryCode(id: string, codeHash: string, at: Date): Promise<boolean> {
    const result = await this.db
      .updateTable("recovery_codes")
      .set({ used_at: at.toISOString() })
      .where("user_id", "=", id)
      .where("code_hash", "=", codeHash)
      .where("used_at", "is", null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async openSession(session: SessionRecord, tokenHash: string, audit: AuditEvent): Promise<void> {
    await withAudit(this.db, audit, async (tx) => {
      await tx
        .updateTable("users")
        .set({ failed_attempts: 0, locked_until: null })
        .where("id", "=", session.userId)
        .execute();
      await tx
        .insertInto("sessions")
        .values({
          id: session.id,
          token_hash: tokenHash,
          user_id: session.userId,
          created_at: session.createdAt.toISOString(),
          expires_at: session.expiresAt.toISOString(),
          revoked_at: null,
        })
        .execute();
    });
  }

  async sessionByTokenHash(tokenHash: string): Promise<SessionRecord | undefined> {
    const row = await this.db.selectFrom("sessions").selectAll().where("token_hash", "=", tokenHash).executeTakeFirst();
    return (
      row && {
        id: row.id,
        userId: row.user_id,
        createdAt: new Date(row.created_at),
        expiresAt: new Date(row.expires_at),
        revokedAt: row.revoked_at ? new Date(row.revoked_at) : null,
      }
    );
  }

  async revokeSession(id: string, at: Date, audit: AuditEvent): Promise<boolean> {
    return withAudit(
      this.db,
      (revoked: boolean) => (revoked ? audit : undefined),
      async (tx) => {
        const result = await tx
          .updateTable("sessions")
          .set({ revoked_at: at.toISOString() })
          .where("id", "=", id)
          .where("revoked_at", "is", null)
          .executeTakeFirst();
        return Number(result.numUpdatedRows) === 1;
      },
    );
  }

  async setRole(id: string, role: Role, audit: AuditEvent): Promise<void> {
    await withAudit(this.db, audit, async (tx) => {
      await tx.updateTable("users").set({ role }).where("id", "=", id).execute();
      // A person whose role changes logs in again under the new role.
      await tx
        .updateTable("sessions")
        .set({ revoked_at: audit.at.toISOString() })
        .where("user_id", "=", id)
        .where("revoked_at", "is", null)
        .execute();
    });
  }
}
