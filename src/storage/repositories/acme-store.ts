import type { AuditEvent } from "../../audit/index.js";
import { withAudit } from "./audit-store.js";
import type { Kysely, Selectable } from "kysely";
import type { AcmeAccount, AcmeStore } from "../../acme/ports.js";
import type { AcmeAccountsTable, Database } from "../schema.js";
import { defineQuery } from "../compiled-query.js";
import { isUniqueViolation } from "./unique.js";

function toAccount(row: Selectable<AcmeAccountsTable>): AcmeAccount {
  return {
    id: row.id,
    thumbprint: row.thumbprint,
    jwk: JSON.parse(row.jwk),
    status: row.status,
    contact: JSON.parse(row.contact) as string[],
    createdAt: new Date(row.created_at),
  };
}

/** Every authenticated ACME request reads its account. */
const accountById = defineQuery((db, p: { id: string }) =>
  db.selectFrom("acme_accounts").selectAll().where("id", "=", p.id),
);

export class SqlAcmeStore implements AcmeStore {
  constructor(private readonly db: Kysely<Database>) {}

  async createAccount(account: AcmeAccount, audit: AuditEvent): Promise<{ account: AcmeAccount; created: boolean }> {
    try {
      await withAudit(this.db, audit, (tx) =>
        tx
          .insertInto("acme_accounts")
          .values({
            id: account.id,
            thumbprint: account.thumbprint,
            jwk: JSON.stringify(account.jwk),
            status: account.status,
            contact: JSON.stringify(account.contact),
            created_at: account.createdAt.toISOString(),
          })
          .execute(),
      );
      return { account, created: true };
    } catch (error) {
      // Two newAccount requests with one key: the second finds the first's account.
      if (!isUniqueViolation(error)) throw error;
      const existing = await this.accountByThumbprint(account.thumbprint);
      if (!existing) throw error;
      return { account: existing, created: false };
    }
  }

  async accountByThumbprint(thumbprint: string): Promise<AcmeAccount | undefined> {
    const row = await this.db
      .selectFrom("acme_accounts")
      .selectAll()
      .where("thumbprint", "=", thumbprint)
      .executeTakeFirst();
    return row && toAccount(row);
  }

  async accountById(id: string): Promise<AcmeAccount | undefined> {
    const row = (await accountById.run(this.db, { id })).rows[0];
    return row && toAccount(row);
  }

  async saveEabKey(
    key: { kid: string; name: string; keyUri: string; createdAt: Date },
    audit: AuditEvent,
  ): Promise<void> {
    await withAudit(this.db, audit, (tx) =>
      tx
        .insertInto("acme_eab_keys")
        .values({
          kid: key.kid,
          name: key.name,
          key_uri: key.keyUri,
          created_at: key.createdAt.toISOString(),
          account_id: null,
          used_at: null,
        })
        .execute(),
    );
  }

  async eabKey(kid: string) {
    const row = await this.db.selectFrom("acme_eab_keys").selectAll().where("kid", "=", kid).executeTakeFirst();
    return row && { kid: row.kid, keyUri: row.key_uri, accountId: row.account_id };
  }

  async claimEabKey(kid: string, accountId: string, at: Date, audit: AuditEvent): Promise<boolean> {
    return withAudit(
      this.db,
      (claimed: boolean) => (claimed ? audit : undefined),
      async (tx) => {
        const result = await tx
          .updateTable("acme_eab_keys")
          .set({ account_id: accountId, used_at: at.toISOString() })
          .where("kid", "=", kid)
          .where("account_id", "is", null)
          .executeTakeFirst();
        return Number(result.numUpdatedRows) === 1;
      },
    );
  }

  async changeAccountKey(id: string, jwk: object, thumbprint: string, audit: AuditEvent): Promise<boolean> {
    try {
      await withAudit(this.db, audit, (tx) =>
        tx
          .updateTable("acme_accounts")
          .set({ jwk: JSON.stringify(jwk), thumbprint })
          .where("id", "=", id)
          .execute(),
      );
      return true;
    } catch (error) {
      if (isUniqueViolation(error)) return false;
      throw error;
    }
  }

  async updateAccount(
    id: string,
    changes: { contact?: string[]; status?: AcmeAccount["status"] },
    audit: AuditEvent,
  ): Promise<AcmeAccount> {
    await withAudit(this.db, audit, (tx) =>
      tx
        .updateTable("acme_accounts")
        .set({
          ...(changes.contact ? { contact: JSON.stringify(changes.contact) } : {}),
          ...(changes.status ? { status: changes.status } : {}),
        })
        .where("id", "=", id)
        .execute(),
    );
    return (await this.accountById(id))!;
  }
}
