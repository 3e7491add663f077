import { GroupCommit } from "../group-commit.js";
import type { RelaxedWriter } from "../relaxed.js";
import type { AuditEvent } from "../../audit/index.js";
import { appendAudit } from "./audit-store.js";
import { containsPattern, likeEscaped } from "./like.js";
import { defineQuery, defineQueryPerCount, rowMarkers, rowValues } from "../compiled-query.js";
import { type Kysely, type Selectable, sql } from "kysely";
import type {
  AcmeAuthorization,
  AcmeChallenge,
  AcmeOrder,
  AcmeOrderStore,
  AuthzStatus,
  ChallengeStatus,
  OrderStatus,
  RenewalWindow,
  ValidationOutcome,
} from "../../acme/ports.js";
import type { AcmeChallengesTable, AcmeOrdersTable, Database } from "../schema.js";

const json = (value: unknown) => (value === null || value === undefined ? null : JSON.stringify(value));

function toOrder(row: Selectable<AcmeOrdersTable>): AcmeOrder {
  return {
    id: row.id,
    accountId: row.account_id,
    status: row.status as OrderStatus,
    identifiers: JSON.parse(row.identifiers),
    authorizationIds: JSON.parse(row.authorization_ids),
    profile: row.profile,
    expiresAt: new Date(row.expires_at),
    createdAt: new Date(row.created_at),
    certificateSerial: row.certificate_serial,
    error: row.error ? JSON.parse(row.error) : null,
    replaces: row.replaces,
  };
}

function toChallenge(row: Selectable<AcmeChallengesTable>): AcmeChallenge {
  return {
    id: row.id,
    authorizationId: row.authorization_id,
    type: row.type as AcmeChallenge["type"],
    token: row.token,
    status: row.status as ChallengeStatus,
    validatedAt: row.validated_at ? new Date(row.validated_at) : null,
    error: row.error ? JSON.parse(row.error) : null,
  };
}

/**
 * The pending orders that list an authorization. Orders list theirs as JSON, and a LIKE on the
 * quoted id (`pattern`: containsPattern of it) finds them among the account's pending orders only
 * (migration 0030's partial index): the status is a literal, so the planner can see the index applies.
 */
export function ordersWaitingOn(db: Kysely<Database>, p: { accountId: string; pattern: string }) {
  return db
    .selectFrom("acme_orders")
    .select(["id", "authorization_ids"])
    .where("account_id", "=", p.accountId)
    .where(sql<boolean>`status = 'pending'`)
    .where(likeEscaped("authorization_ids", p.pattern));
}

/**
 * The account's valid authorization of an identifier that outlives `until`, through migration
 * 0034's index of valid authorizations (the status a literal, so SQLite can use the partial index).
 */
export function reusableAuthorizationQuery(
  db: Kysely<Database>,
  p: { accountId: string; type: string; value: string; wildcard: number; until: string },
) {
  return db
    .selectFrom("acme_authorizations")
    .select("id")
    .where("account_id", "=", p.accountId)
    .where("identifier_value", "=", p.value)
    .where(sql<boolean>`status = 'valid'`)
    .where("identifier_type", "=", p.type)
    .where("wildcard", "=", p.wildcard)
    .where("expires_at", ">", p.until)
    .orderBy("expires_at", "desc")
    .limit(1);
}

/** An authorization with its challenges, found by its id or one of its challenges' (`p.id`). */
function authorizationWithChallenges(db: Kysely<Database>, by: "id" | "challenge", p: { id: string }) {
  const query = db
    .selectFrom("acme_authorizations as a")
    .leftJoin("acme_challenges as c", "c.authorization_id", "a.id")
    .select([
      "a.id",
      "a.account_id",
      "a.identifier_type",
      "a.identifier_value",
      "a.wildcard",
      "a.status",
      "a.expires_at",
      "c.id as challenge_id",
      "c.type as challenge_type",
      "c.token as challenge_token",
      "c.status as challenge_status",
      "c.validated_at as challenge_validated_at",
      "c.error as challenge_error",
    ])
    .orderBy("c.type");
  return by === "id"
    ? query.where("a.id", "=", p.id)
    : query.where("a.id", "=", (eb) =>
        eb.selectFrom("acme_challenges as own").select("own.authorization_id").where("own.id", "=", p.id),
      );
}

/** The compare-and-set that lets one request go on (see the port's startValidation). */
const markProcessing = (table: "acme_challenges" | "acme_orders", from: "pending" | "ready") =>
  defineQuery((db, p: { id: string }) =>
    db.updateTable(table).set({ status: "processing" }).where("id", "=", p.id).where("status", "=", from),
  );

const AUTHORIZATION_COLUMNS = [
  "id",
  "account_id",
  "identifier_type",
  "identifier_value",
  "wildcard",
  "status",
  "expires_at",
] as const;
const CHALLENGE_COLUMNS = ["id", "authorization_id", "type", "token", "status", "validated_at", "error"] as const;
const insertAuthorizations = defineQueryPerCount((db, p: Record<string, unknown>, count) =>
  db
    .insertInto("acme_authorizations")
    // biome-ignore lint/suspicious/noExplicitAny: the markers stand for the columns' values.
    .values(rowMarkers(p, count, AUTHORIZATION_COLUMNS) as any),
);
const insertChallenges = defineQueryPerCount((db, p: Record<string, unknown>, count) =>
  db
    .insertInto("acme_challenges")
    // biome-ignore lint/suspicious/noExplicitAny: as above.
    .values(rowMarkers(p, count, CHALLENGE_COLUMNS) as any),
);

/** The statements of an ACME certificate's requests, compiled once per database (compiled-query.ts). */
const statements = {
  // A new order has no certificate or error yet.
  insertOrder: defineQuery((db, p: Omit<AcmeOrdersTable, "certificate_serial" | "error">) =>
    db.insertInto("acme_orders").values({
      id: p.id,
      account_id: p.account_id,
      status: p.status,
      identifiers: p.identifiers,
      authorization_ids: p.authorization_ids,
      profile: p.profile,
      expires_at: p.expires_at,
      created_at: p.created_at,
      certificate_serial: null,
      error: null,
      replaces: p.replaces,
    }),
  ),
  order: defineQuery((db, p: { id: string }) => db.selectFrom("acme_orders").selectAll().where("id", "=", p.id)),
  authorizationById: defineQuery((db, p: { id: string }) => authorizationWithChallenges(db, "id", p)),
  authorizationByChallenge: defineQuery((db, p: { id: string }) => authorizationWithChallenges(db, "challenge", p)),
  reusableAuthorization: defineQuery(reusableAuthorizationQuery),
  startValidation: markProcessing("acme_challenges", "pending"),
  startFinalizing: markProcessing("acme_orders", "ready"),
  // A null serial or error leaves the column as it is.
  setOrder: defineQuery(
    (db, p: { id: string; from: string; status: string; serial: string | null; error: string | null }) =>
      db
        .updateTable("acme_orders")
        .set({
          status: p.status,
          certificate_serial: sql<string | null>`coalesce(${p.serial}, certificate_serial)`,
          error: sql<string | null>`coalesce(${p.error}, error)`,
        })
        .where("id", "=", p.id)
        .where("status", "=", p.from),
  ),
  challengeValid: defineQuery((db, p: { id: string; at: string }) =>
    db
      .updateTable("acme_challenges")
      .set({ status: "valid", error: null, validated_at: p.at })
      .where("id", "=", p.id)
      .where("status", "=", "processing"),
  ),
  challengeInvalid: defineQuery((db, p: { id: string; error: string }) =>
    db
      .updateTable("acme_challenges")
      .set({ status: "invalid", error: p.error })
      .where("id", "=", p.id)
      .where("status", "=", "processing"),
  ),
  authorizationValid: defineQuery((db, p: { id: string; until: string }) =>
    db.updateTable("acme_authorizations").set({ status: "valid", expires_at: p.until }).where("id", "=", p.id),
  ),
  authorizationInvalid: defineQuery((db, p: { id: string }) =>
    db.updateTable("acme_authorizations").set({ status: "invalid" }).where("id", "=", p.id),
  ),
  ordersWaitingOn: defineQuery(ordersWaitingOn),
  orderReady: defineQuery((db, p: { id: string }) =>
    db.updateTable("acme_orders").set({ status: "ready" }).where("id", "=", p.id).where("status", "=", "pending"),
  ),
  orderInvalid: defineQuery((db, p: { id: string; error: string }) =>
    db
      .updateTable("acme_orders")
      .set({ status: "invalid", error: p.error })
      .where("id", "=", p.id)
      .where("status", "=", "pending"),
  ),
};

export class SqlAcmeOrderStore implements AcmeOrderStore {
  /** New orders and order changes are group-committed: the writes of concurrent clients share a transaction and its fsync. */
  private readonly writes: GroupCommit;

  constructor(
    private readonly db: Kysely<Database>,
    /** For the mark that a validation started: one lost on power failure only lets the client start it again. */
    private readonly relaxed: RelaxedWriter,
  ) {
    this.writes = new GroupCommit(db);
  }

  async createOrder(order: AcmeOrder, authorizations: AcmeAuthorization[]): Promise<void> {
    // One multi-row insert per table, not one statement per row: an order of one name has three
    // challenges.
    const authorizationRows = authorizations.map((a) => ({
      id: a.id,
      account_id: a.accountId,
      identifier_type: a.identifier.type,
      identifier_value: a.identifier.value,
      wildcard: a.wildcard ? 1 : 0,
      status: a.status,
      expires_at: a.expiresAt.toISOString(),
    }));
    const challengeRows = authorizations.flatMap((a) =>
      a.challenges.map((c) => ({
        id: c.id,
        authorization_id: a.id,
        type: c.type,
        token: c.token,
        status: c.status,
        validated_at: null,
        error: null,
      })),
    );
    await this.writes.run(async (tx) => {
      if (authorizationRows.length)
        await insertAuthorizations(authorizationRows.length).run(tx, rowValues(authorizationRows));
      if (challengeRows.length) await insertChallenges(challengeRows.length).run(tx, rowValues(challengeRows));
      await statements.insertOrder.run(tx, {
        id: order.id,
        account_id: order.accountId,
        status: order.status,
        identifiers: JSON.stringify(order.identifiers),
        authorization_ids: JSON.stringify(order.authorizationIds),
        profile: order.profile,
        expires_at: order.expiresAt.toISOString(),
        created_at: order.createdAt.toISOString(),
        replaces: order.replaces,
      });
    });
  }

  async order(id: string): Promise<AcmeOrder | undefined> {
    const row = (await statements.order.run(this.db, { id })).rows[0];
    return row && toOrder(row);
  }

  async authorization(id: string): Promise<AcmeAuthorization | undefined> {
    return this.authorizationBy("id", id);
  }

  async authorizationOfChallenge(challengeId: string): Promise<AcmeAuthorization | undefined> {
    return this.authorizationBy("challenge", challengeId);
  }

  /**
   * An authorization and its challenges in one statement (every ACME poll of an authorization and
   * every challenge POST reads both).
   */
  private async authorizationBy(key: "id" | "challenge", id: string): Promise<AcmeAuthorization | undefined> {
    const query = key === "id" ? statements.authorizationById : statements.authorizationByChallenge;
    const { rows } = await query.run(this.db, { id });
    const row = rows[0];
    if (!row) return undefined;
    return {
      id: row.id,
      accountId: row.account_id,
      identifier: { type: row.identifier_type as "dns" | "ip", value: row.identifier_value },
      wildcard: row.wildcard === 1,
      status: row.status as AuthzStatus,
      expiresAt: new Date(row.expires_at),
      challenges: rows
        .filter((r) => r.challenge_id !== null)
        .map((r) =>
          toChallenge({
            id: r.challenge_id!,
            authorization_id: row.id,
            type: r.challenge_type!,
            token: r.challenge_token!,
            status: r.challenge_status!,
            validated_at: r.challenge_validated_at,
            error: r.challenge_error,
          }),
        ),
    };
  }

  async challenge(id: string): Promise<AcmeChallenge | undefined> {
    const row = await this.db.selectFrom("acme_challenges").selectAll().where("id", "=", id).executeTakeFirst();
    return row && toChallenge(row);
  }

  /** The compare-and-set that lets one request go on, without waiting for the disk (see the port). */
  async startValidation(challengeId: string): Promise<boolean> {
    const { numAffectedRows } = await this.relaxed((db) => statements.startValidation.run(db, { id: challengeId }));
    return numAffectedRows === 1n;
  }

  async setChallenge(
    id: string,
    from: ChallengeStatus[],
    to: ChallengeStatus,
    error: unknown | null,
    at: Date,
  ): Promise<boolean> {
    const result = await this.db
      .updateTable("acme_challenges")
      .set({ status: to, error: json(error), ...(to === "valid" ? { validated_at: at.toISOString() } : {}) })
      .where("id", "=", id)
      .where("status", "in", from)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async setAuthorization(id: string, status: AuthzStatus, expiresAt?: Date): Promise<void> {
    await this.db
      .updateTable("acme_authorizations")
      .set({ status, ...(expiresAt ? { expires_at: expiresAt.toISOString() } : {}) })
      .where("id", "=", id)
      .execute();
  }

  /** As startValidation. */
  async startFinalizing(orderId: string): Promise<boolean> {
    const { numAffectedRows } = await this.relaxed((db) => statements.startFinalizing.run(db, { id: orderId }));
    return numAffectedRows === 1n;
  }

  async setOrder(
    id: string,
    from: OrderStatus,
    changes: { status: OrderStatus; certificateSerial?: string; error?: unknown },
  ): Promise<boolean> {
    const values = {
      id,
      from,
      status: changes.status,
      serial: changes.certificateSerial ?? null,
      error: changes.error === undefined ? null : json(changes.error),
    };
    // Group-committed: finalizes that end together (an order made valid) share one fsync.
    const { numAffectedRows } = await this.writes.run((tx) => statements.setOrder.run(tx, values), {
      alone: true,
    });
    return numAffectedRows === 1n;
  }

  async reusableAuthorization(
    accountId: string,
    identifier: { type: string; value: string },
    wildcard: boolean,
    until: Date,
  ) {
    const { rows } = await statements.reusableAuthorization.run(this.db, {
      accountId,
      type: identifier.type,
      value: identifier.value,
      wildcard: wildcard ? 1 : 0,
      until: until.toISOString(),
    });
    return rows[0]?.id;
  }

  async ordersOfAccount(accountId: string, limit: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom("acme_orders")
      .select("id")
      .where("account_id", "=", accountId)
      .where("status", "in", ["pending", "ready", "processing"])
      .orderBy("created_at", "desc")
      .limit(limit)
      .execute();
    return rows.map((r) => r.id);
  }

  async accountOwnsCertificate(accountId: string, serial: string): Promise<boolean> {
    const row = await this.db
      .selectFrom("acme_orders")
      .select("id")
      .where("account_id", "=", accountId)
      .where("certificate_serial", "=", serial)
      .executeTakeFirst();
    return row !== undefined;
  }

  async concludeValidation(outcome: ValidationOutcome): Promise<boolean> {
    return this.db.transaction().execute(async (tx) => {
      const id = outcome.authorizationId;
      const challenge = await (outcome.valid
        ? statements.challengeValid.run(tx, { id: outcome.challengeId, at: outcome.at.toISOString() })
        : statements.challengeInvalid.run(tx, { id: outcome.challengeId, error: json(outcome.error)! }));
      if (challenge.numAffectedRows !== 1n) return false;
      await (outcome.valid
        ? statements.authorizationValid.run(tx, { id, until: outcome.validUntil.toISOString() })
        : statements.authorizationInvalid.run(tx, { id }));
      const { rows: orders } = await statements.ordersWaitingOn.run(tx, {
        accountId: outcome.accountId,
        pattern: containsPattern(JSON.stringify(id)),
      });
      for (const order of orders) {
        if (!outcome.valid) {
          await statements.orderInvalid.run(tx, { id: order.id, error: json(outcome.error)! });
          continue;
        }
        // Ready once none of its authorizations is still not valid: the check and the change are one
        // statement. An order of this authorization alone is ready now.
        const ids = JSON.parse(order.authorization_ids) as string[];
        const others = ids.filter((other) => other !== id);
        if (others.length === 0) {
          await statements.orderReady.run(tx, { id: order.id });
          continue;
        }
        await tx
          .updateTable("acme_orders")
          .set({ status: "ready" })
          .where("id", "=", order.id)
          .where("status", "=", "pending")
          .where(({ not, exists, selectFrom }) =>
            not(
              exists(
                selectFrom("acme_authorizations").select("id").where("id", "in", others).where("status", "<>", "valid"),
              ),
            ),
          )
          .execute();
      }
      return true;
    });
  }

  async isReplaced(certId: string, exceptOrderId?: string): Promise<boolean> {
    let query = this.db
      .selectFrom("acme_orders")
      .select("id")
      .where("replaces", "=", certId)
      .where("status", "=", "valid");
    if (exceptOrderId) query = query.where("id", "<>", exceptOrderId);
    return (await query.executeTakeFirst()) !== undefined;
  }

  async forceRenewalWindow(
    target: { serials: string[] } | { caId: string },
    window: RenewalWindow,
    at: Date,
    audit: AuditEvent,
  ): Promise<number> {
    const values = {
      window_start: window.start.toISOString(),
      window_end: window.end.toISOString(),
      explanation_url: window.explanationUrl,
      set_at: at.toISOString(),
      set_by: audit.actor.name,
    };
    return this.db.transaction().execute(async (tx) => {
      let serials: string[];
      if ("caId" in target) {
        const rows = await tx
          .selectFrom("certificates")
          .select("serial")
          .where("ca_id", "=", target.caId)
          .where("status", "=", "valid")
          .where("not_after", ">", at.toISOString())
          .execute();
        serials = rows.map((r) => r.serial);
      } else {
        serials = target.serials;
      }
      await appendAudit(tx, { ...audit, details: { ...audit.details, certificates: serials.length } });
      for (const serial of serials) {
        await tx
          .insertInto("acme_renewal_windows")
          .values({ serial, ...values })
          .onConflict((oc) => oc.column("serial").doUpdateSet(values))
          .execute();
      }
      return serials.length;
    });
  }

  async renewalWindow(serial: string): Promise<RenewalWindow | undefined> {
    const row = await this.db
      .selectFrom("acme_renewal_windows")
      .selectAll()
      .where("serial", "=", serial)
      .executeTakeFirst();
    return (
      row && { start: new Date(row.window_start), end: new Date(row.window_end), explanationUrl: row.explanation_url }
    );
  }

  async deleteExpired(before: Date): Promise<number> {
    const cutoff = before.toISOString();
    return this.db.transaction().execute(async (tx) => {
      // A valid order is how an account proves it ordered a certificate (revocation by kid): kept.
      const orders = await tx
        .deleteFrom("acme_orders")
        .where("expires_at", "<", cutoff)
        .where("status", "<>", "valid")
        .executeTakeFirst();
      const expired = tx.selectFrom("acme_authorizations").select("id").where("expires_at", "<", cutoff);
      const challenges = await tx
        .deleteFrom("acme_challenges")
        .where("authorization_id", "in", expired)
        .executeTakeFirst();
      const authorizations = await tx
        .deleteFrom("acme_authorizations")
        .where("expires_at", "<", cutoff)
        .executeTakeFirst();
      return Number(orders.numDeletedRows) + Number(challenges.numDeletedRows) + Number(authorizations.numDeletedRows);
    });
  }
}
