import { type Kysely, sql } from "kysely";
import type {
  BlockedKey,
  OcspResponderRecord,
  RevocationFilter,
  RevocationRecord,
  RevocationStore,
  StoredCrl,
  StoredOcspResponse,
} from "../../revocation/ports.js";
import { children, readElement } from "../../pki/der.js";
import type { Database } from "../schema.js";
import type { AuditEvent } from "../../audit/index.js";
import { appendAudit, withAudit } from "./audit-store.js";
import { defineQuery } from "../compiled-query.js";
import { BlockedKeyError } from "../../errors/index.js";

/** The block on a key, if any. */
export async function blockedKey(db: Kysely<Database>, spkiSha256: string): Promise<BlockedKey | undefined> {
  const row = await db.selectFrom("blocked_keys").selectAll().where("spki_sha256", "=", spkiSha256).executeTakeFirst();
  return (
    row && {
      spkiSha256: row.spki_sha256,
      reason: row.reason,
      blockedAt: new Date(row.blocked_at),
      blockedBy: row.blocked_by,
    }
  );
}

/**
 * What the stores throw when migration 0028's or 0029's trigger refused an intent: the key's block,
 * read after the refusal (undefined only if it was lifted in between).
 */
export async function blockedKeyError(db: Kysely<Database>, spkiSha256: string): Promise<BlockedKeyError> {
  const block = await blockedKey(db, spkiSha256);
  return new BlockedKeyError(spkiSha256, block && { reason: block.reason, blockedAt: block.blockedAt });
}

const CERTIFICATE_HOLD = 6;

interface RevokedRow {
  serial: string;
  ca_id: string;
  revoked_at: string | null;
  revocation_reason: number | null;
  invalidity_date: string | null;
}

function toRevocation(row: RevokedRow): RevocationRecord {
  return {
    serial: row.serial,
    caId: row.ca_id,
    revokedAt: new Date(row.revoked_at!),
    reason: Number(row.revocation_reason),
    invalidityDate: row.invalidity_date ? new Date(row.invalidity_date) : null,
  };
}

/** The serial of a DER certificate as lowercase hex without leading zero octets. */
function certificateSerial(der: Buffer): string {
  const tbs = children(readElement(der).content)[0]!;
  const fields = children(tbs.content);
  const serial = fields[fields[0]?.tag === 0xa0 ? 1 : 0]!.content;
  let start = 0;
  while (start < serial.length - 1 && serial[start] === 0) start++;
  return serial.subarray(start).toString("hex");
}

export class SqlRevocationStore implements RevocationStore {
  constructor(private readonly db: Kysely<Database>) {}

  async revoke(input: Parameters<RevocationStore["revoke"]>[0], audit: AuditEvent): Promise<boolean> {
    return this.db.transaction().execute(async (tx) => {
      const result = await tx
        .updateTable("certificates")
        .set({
          status: "revoked",
          revoked_at: input.revokedAt.toISOString(),
          revocation_reason: input.reason,
          invalidity_date: input.invalidityDate?.toISOString() ?? null,
        })
        .where("serial", "=", input.serial)
        .where((eb) =>
          input.allowFromHold
            ? eb.or([
                eb("status", "=", "valid"),
                eb.and([eb("status", "=", "revoked"), eb("revocation_reason", "=", CERTIFICATE_HOLD)]),
              ])
            : eb("status", "=", "valid"),
        )
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) !== 1) return false;
      if (input.blockKey) {
        await tx
          .insertInto("blocked_keys")
          .values({
            spki_sha256: input.blockKey.spkiSha256,
            reason: input.blockKey.reason,
            blocked_at: input.revokedAt.toISOString(),
            blocked_by: input.blockKey.by,
          })
          .onConflict((oc) => oc.column("spki_sha256").doNothing())
          .execute();
      }
      await markCrlDueFor(tx, input.serial, input.revokedAt);
      await appendAudit(tx, audit);
      return true;
    });
  }

  async release(serial: string, audit: AuditEvent): Promise<boolean> {
    return withAudit(
      this.db,
      (released: boolean) => (released ? audit : undefined),
      async (tx) => {
        const result = await tx
          .updateTable("certificates")
          .set({ status: "valid", revoked_at: null, revocation_reason: null, invalidity_date: null })
          .where("serial", "=", serial)
          .where("status", "=", "revoked")
          .where("revocation_reason", "=", CERTIFICATE_HOLD)
          .executeTakeFirst();
        if (Number(result.numUpdatedRows) !== 1) return false;
        await markCrlDueFor(tx, serial, audit.at);
        return true;
      },
    );
  }

  async blockKey(
    key: { spkiSha256: string; reason: string; by: string | null; at: Date },
    audit: AuditEvent,
  ): Promise<void> {
    await withAudit(this.db, audit, (tx) =>
      tx
        .insertInto("blocked_keys")
        .values({
          spki_sha256: key.spkiSha256,
          reason: key.reason,
          blocked_at: key.at.toISOString(),
          blocked_by: key.by,
        })
        .onConflict((oc) => oc.column("spki_sha256").doNothing())
        .execute(),
    );
  }

  isKeyBlocked(spkiSha256: string): Promise<BlockedKey | undefined> {
    return blockedKey(this.db, spkiSha256);
  }

  async unexpiredWithKey(spkiSha256: string, now: Date): Promise<string[]> {
    const rows = await this.db
      .selectFrom("certificates")
      .select("serial")
      .where("spki_sha256", "=", spkiSha256)
      .where("not_after", ">", now.toISOString())
      .where((eb) =>
        eb.or([
          eb("status", "=", "valid"),
          eb.and([eb("status", "=", "revoked"), eb("revocation_reason", "=", CERTIFICATE_HOLD)]),
        ]),
      )
      .orderBy("serial")
      .execute();
    return rows.map((r) => r.serial);
  }

  async *revokedEntries(caId: string, pageSize: number): AsyncIterable<RevocationRecord[]> {
    // CAs this CA revoked (a root's CRL lists its revoked intermediates); there are only a few.
    const revokedCas = await this.db
      .selectFrom("cas")
      .select(["certificate", "revoked_at", "revocation_reason"])
      .where("parent_id", "=", caId)
      .where("revoked_at", "is not", null)
      .execute();
    if (revokedCas.length) {
      yield revokedCas.map((row) => ({
        serial: certificateSerial(Buffer.from(row.certificate)),
        caId,
        revokedAt: new Date(row.revoked_at!),
        reason: Number(row.revocation_reason),
        invalidityDate: null,
      }));
    }
    let after = "";
    for (;;) {
      const rows = await this.db
        .selectFrom("certificates")
        .select(["serial", "ca_id", "revoked_at", "revocation_reason", "invalidity_date"])
        .where("ca_id", "=", caId)
        // A literal, not a parameter: only then can the planners use the partial index (0016).
        .where("status", "=", sql.lit("revoked"))
        .where("serial", ">", after)
        .orderBy("serial")
        .limit(pageSize)
        .execute();
      if (rows.length === 0) return;
      yield rows.map(toRevocation);
      after = rows[rows.length - 1]!.serial;
      if (rows.length < pageSize) return;
    }
  }

  async listRevocations(filter: RevocationFilter): Promise<RevocationRecord[]> {
    let query = this.db
      .selectFrom("certificates")
      .select(["serial", "ca_id", "revoked_at", "revocation_reason", "invalidity_date"])
      .where("status", "=", "revoked");
    if (filter.caId) query = query.where("ca_id", "=", filter.caId);
    if (filter.reason !== undefined) query = query.where("revocation_reason", "=", filter.reason);
    if (filter.since) query = query.where("revoked_at", ">=", filter.since.toISOString());
    if (filter.until) query = query.where("revoked_at", "<", filter.until.toISOString());
    if (filter.after) query = query.where("serial", ">", filter.after);
    const rows = await query.orderBy("serial").limit(filter.limit).execute();
    return rows.map(toRevocation);
  }

  async nextCrlNumber(caId: string): Promise<number> {
    // One statement, so concurrent generators (or instances) never get the same number.
    const row = await this.db
      .insertInto("crl_numbers")
      .values({ ca_id: caId, last_number: 1 })
      .onConflict((oc) => oc.column("ca_id").doUpdateSet({ last_number: sql`crl_numbers.last_number + 1` }))
      .returning("last_number")
      .executeTakeFirstOrThrow();
    return Number(row.last_number);
  }

  async saveCrl(crl: StoredCrl, audit: AuditEvent, dueGeneration?: number): Promise<void> {
    await withAudit(this.db, audit, async (tx) => {
      if (dueGeneration !== undefined) {
        await tx.deleteFrom("crl_due").where("ca_id", "=", crl.caId).where("generation", "<=", dueGeneration).execute();
      }
      await tx
        .insertInto("crls")
        .values({
          ca_id: crl.caId,
          number: crl.number,
          this_update: crl.thisUpdate.toISOString(),
          next_update: crl.nextUpdate.toISOString(),
          der: crl.der,
        })
        .execute();
      // Keep a short history for diagnosis; clients only ever need the newest.
      await tx
        .deleteFrom("crls")
        .where("ca_id", "=", crl.caId)
        .where("number", "<", crl.number - 10)
        .execute();
    });
  }

  async crlDue(caId: string): Promise<{ generation: number; since: Date } | undefined> {
    const row = await this.db
      .selectFrom("crl_due")
      .select(["generation", "since"])
      .where("ca_id", "=", caId)
      .executeTakeFirst();
    return row && { generation: Number(row.generation), since: new Date(row.since) };
  }

  async dueCrls(): Promise<Array<{ caId: string; since: Date }>> {
    const rows = await this.db.selectFrom("crl_due").select(["ca_id", "since"]).orderBy("since").execute();
    return rows.map((r) => ({ caId: r.ca_id, since: new Date(r.since) }));
  }

  async latestCrl(caId: string): Promise<StoredCrl | undefined> {
    const row = await this.db
      .selectFrom("crls")
      .selectAll()
      .where("ca_id", "=", caId)
      .orderBy("number", "desc")
      .limit(1)
      .executeTakeFirst();
    return (
      row && {
        caId: row.ca_id,
        number: Number(row.number),
        thisUpdate: new Date(row.this_update),
        nextUpdate: new Date(row.next_update),
        der: Buffer.from(row.der),
      }
    );
  }

  async latestCrlNumber(caId: string): Promise<number | undefined> {
    const row = await this.db
      .selectFrom("crls")
      .select((eb) => eb.fn.max("number").as("number"))
      .where("ca_id", "=", caId)
      .executeTakeFirst();
    return row?.number == null ? undefined : Number(row.number);
  }

  async saveOcspResponse(r: StoredOcspResponse): Promise<void> {
    await saveOcspResponse(this.db, r);
  }

  async saveOcspResponses(responses: readonly StoredOcspResponse[]): Promise<void> {
    if (!responses.length) return;
    await this.db.transaction().execute(async (tx) => {
      for (const r of responses) await saveOcspResponse(tx, r);
    });
  }

  async deleteOcspResponses(serial: string): Promise<void> {
    await this.db.deleteFrom("ocsp_responses").where("serial", "=", serial).execute();
  }

  async ocspResponse(serial: string, hash: string): Promise<StoredOcspResponse | undefined> {
    const row = await this.db
      .selectFrom("ocsp_responses")
      .selectAll()
      .where("serial", "=", serial)
      .where("hash", "=", hash)
      .executeTakeFirst();
    return (
      row && {
        serial: row.serial,
        hash: row.hash,
        thisUpdate: new Date(row.this_update),
        nextUpdate: new Date(row.next_update),
        der: Buffer.from(row.der),
      }
    );
  }

  async ocspSignedSince(since: Date): Promise<string[]> {
    // No DISTINCT: with it SQLite walked the primary key (serial, hash) and read every row's
    // this_update, a scan of the whole table every second; at 1,000,000 certificates that scan
    // kept the server's thread busy and every request waited seconds (the scale bench). Without
    // it the this_update index answers; the two answers of a certificate are merged here.
    // No LIMIT either: workers on one SQLite file learn of a revocation only here, and a refresh
    // re-signs thousands of answers a second, so a capped answer could leave the revoked one out.
    const rows = await this.db
      .selectFrom("ocsp_responses")
      .select("serial")
      .where("this_update", ">=", since.toISOString())
      .execute();
    return [...new Set(rows.map((r) => r.serial))];
  }

  async staleOcspResponses(olderThan: Date, limit: number): Promise<Array<{ serial: string; hash: string }>> {
    return this.db
      .selectFrom("ocsp_responses")
      .select(["serial", "hash"])
      .where("this_update", "<", olderThan.toISOString())
      .orderBy("this_update")
      .limit(limit)
      .execute();
  }

  async currentResponder(caId: string): Promise<OcspResponderRecord | undefined> {
    const row = await this.db
      .selectFrom("ocsp_responders")
      .selectAll()
      .where("ca_id", "=", caId)
      .orderBy("not_after", "desc")
      .limit(1)
      .executeTakeFirst();
    return (
      row && {
        caId: row.ca_id,
        serial: row.serial,
        keyUri: row.key_uri,
        certificate: Buffer.from(row.certificate),
        notAfter: new Date(row.not_after),
      }
    );
  }

  async saveResponder(r: OcspResponderRecord): Promise<void> {
    await this.db
      .insertInto("ocsp_responders")
      .values({
        serial: r.serial,
        ca_id: r.caId,
        key_uri: r.keyUri,
        certificate: r.certificate,
        not_after: r.notAfter.toISOString(),
      })
      .execute();
  }
}

/**
 * Marks the CA's CRL due inside the caller's transaction (a revocation, a release, a revoked
 * intermediate for the root): the CRL sweep re-signs it even if this process dies right after.
 */
export async function markCrlDue(tx: Kysely<Database>, caId: string, at: Date): Promise<void> {
  await tx
    .insertInto("crl_due")
    .values({ ca_id: caId, generation: 1, since: at.toISOString() })
    .onConflict((oc) => oc.column("ca_id").doUpdateSet({ generation: sql`crl_due.generation + 1` }))
    .execute();
}

async function markCrlDueFor(tx: Kysely<Database>, serial: string, at: Date): Promise<void> {
  const row = await tx
    .selectFrom("certificates")
    .select("ca_id")
    .where("serial", "=", serial)
    .executeTakeFirstOrThrow();
  await markCrlDue(tx, row.ca_id, at);
}

/** Inserts or replaces one pre-signed answer (also inside the issuing transaction). */
export async function saveOcspResponse(db: Kysely<Database>, r: StoredOcspResponse): Promise<void> {
  await upsertOcspResponse.run(db, {
    serial: r.serial,
    hash: r.hash,
    this_update: r.thisUpdate.toISOString(),
    next_update: r.nextUpdate.toISOString(),
    der: r.der,
  });
}

const upsertOcspResponse = defineQuery(
  (db, p: { serial: string; hash: string; this_update: string; next_update: string; der: Buffer }) =>
    db
      .insertInto("ocsp_responses")
      .values({ serial: p.serial, hash: p.hash, this_update: p.this_update, next_update: p.next_update, der: p.der })
      .onConflict((oc) =>
        oc
          .columns(["serial", "hash"])
          .doUpdateSet({ this_update: p.this_update, next_update: p.next_update, der: p.der }),
      ),
);
