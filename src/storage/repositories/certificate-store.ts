import type { AuditEvent } from "../../audit/index.js";
import type { PresignedOcspAnswer } from "../../issuance/ports.js";
import { GroupCommit } from "../group-commit.js";
import { type AlongsideRow, appendAudit, appendTogether, withAudit } from "./audit-store.js";
import { blockedKeyError, saveOcspResponse } from "./revocation-store.js";
import { type Kysely, PostgresAdapter, type Selectable, sql } from "kysely";
import type {
  CertificateFilter,
  CertificateIntent,
  CertificateRecord,
  CertificateStore,
} from "../../issuance/ports.js";
import { DuplicateSerialError } from "../../errors/index.js";
import { StorageError } from "../../errors/index.js";
import type { KeyType } from "../../pki/key-types.js";
import type { CertificatesTable, Database } from "../schema.js";
import { isBlockedKeyRefusal, isUniqueViolation } from "./unique.js";
import { contains } from "./like.js";
import { defineQuery, defineSqlQuery } from "../compiled-query.js";

const certificateBySerial = defineQuery((db, p: { serial: string }) =>
  db.selectFrom("certificates").selectAll().where("serial", "=", p.serial),
);
/** An intent becomes its certificate, only while it is still pending. */
const markIssued = defineQuery((db, p: { serial: string; certificate: Buffer }) =>
  db
    .updateTable("certificates")
    .set({ status: "valid", certificate: p.certificate })
    .where("serial", "=", p.serial)
    .where("status", "=", "pending"),
);

const storeIssued = defineSqlQuery(
  (p: {
    serials: string[];
    certificates: Buffer[];
    hashes: string[];
    thisUpdates: string[];
    nextUpdates: string[];
    ders: Buffer[];
  }) => sql<{ serial: string }>`
    with v as (
      select * from unnest(${p.serials}::text[], ${p.certificates}::bytea[], ${p.hashes}::text[],
        ${p.thisUpdates}::text[], ${p.nextUpdates}::text[], ${p.ders}::bytea[])
        as v(serial, certificate, hash, this_update, next_update, der)),
    issued as (
      update certificates c set status = 'valid', certificate = v.certificate from v
      where c.serial = v.serial and c.status = 'pending' returning c.serial)
    insert into ocsp_responses (serial, hash, this_update, next_update, der)
    select v.serial, v.hash, v.this_update, v.next_update, v.der from v join issued on issued.serial = v.serial
    on conflict (serial, hash) do update
      set this_update = excluded.this_update, next_update = excluded.next_update, der = excluded.der
    returning serial`,
);

/**
 * PostgreSQL: certificates and their pre-signed answers stored in one statement, each only if its
 * intent was still pending (the others are stored; that one fails alone, as markIssued would).
 */
async function markIssuedTogether(db: Kysely<Database>, items: unknown[]): Promise<(StorageError | undefined)[]> {
  const issued = items as { serial: string; certificate: Buffer; ocspAnswer: PresignedOcspAnswer }[];
  const column = <T>(pick: (item: (typeof issued)[number]) => T) => issued.map(pick);
  const stored = await storeIssued.run(db, {
    serials: column((i) => i.serial),
    certificates: column((i) => i.certificate),
    hashes: column((i) => i.ocspAnswer.hash),
    thisUpdates: column((i) => i.ocspAnswer.thisUpdate.toISOString()),
    nextUpdates: column((i) => i.ocspAnswer.nextUpdate.toISOString()),
    ders: column((i) => i.ocspAnswer.der),
  });
  const done = new Set(stored.rows.map((r) => r.serial));
  return issued.map(({ serial }) =>
    done.has(serial) ? undefined : new StorageError(`certificate ${serial} is not a pending intent`),
  );
}

/** Certificates added to SQLite's name-search index per transaction (indexPendingNames). */
const NAME_INDEX_BATCH = 2_000;

function toRecord(row: Selectable<CertificatesTable>): CertificateRecord {
  return {
    serial: row.serial,
    caId: row.ca_id,
    profile: row.profile,
    status: row.status,
    subject: row.subject,
    names: JSON.parse(row.names) as string[],
    spkiSha256: row.spki_sha256,
    keyType: row.key_type as KeyType,
    notBefore: new Date(row.not_before),
    notAfter: new Date(row.not_after),
    createdAt: new Date(row.created_at),
    requestedBy: row.requested_by,
    certificate: row.certificate ? Buffer.from(row.certificate) : null,
    revokedAt: row.revoked_at ? new Date(row.revoked_at) : null,
    revocationReason: row.revocation_reason,
    invalidityDate: row.invalidity_date ? new Date(row.invalidity_date) : null,
  };
}

export class SqlCertificateStore implements CertificateStore {
  /** Issuance's two writes per certificate are group-committed: concurrent issuances share fsyncs. */
  readonly writes: GroupCommit;

  constructor(private readonly db: Kysely<Database>) {
    this.writes = new GroupCommit(db);
  }

  async recordIntent(intent: CertificateIntent, audit: AuditEvent): Promise<void> {
    try {
      // The intent and its audit event: on PostgreSQL one statement (appendAudit's `alongside`),
      // and, when the audit head is where this process left it, one autocommitted statement with
      // no BEGIN and COMMIT around it when the write is alone (else appendAudit opens its own).
      // Intents that are ready together go in one statement with their events (appendAllIfHeadIs).
      const postgres = this.db.getExecutor().adapter instanceof PostgresAdapter;
      const alongside: AlongsideRow = {
        into: "certificates",
        row: {
          serial: intent.serial,
          ca_id: intent.caId,
          profile: intent.profile,
          status: "pending",
          subject: intent.subject,
          names: JSON.stringify(intent.names),
          spki_sha256: intent.spkiSha256,
          key_type: intent.keyType,
          tbs: intent.tbs,
          certificate: null,
          not_before: intent.notBefore.toISOString(),
          not_after: intent.notAfter.toISOString(),
          created_at: intent.createdAt.toISOString(),
          requested_by: intent.requestedBy,
          revoked_at: null,
          revocation_reason: null,
          invalidity_date: null,
        },
      };
      await this.writes.run<void>(
        async (tx) => {
          await appendAudit(tx, audit, alongside);
        },
        postgres
          ? {
              alone: true,
              together: { item: { event: audit, alongside }, all: appendTogether },
            }
          : {},
      );
    } catch (error) {
      if (isUniqueViolation(error)) throw new DuplicateSerialError(`serial ${intent.serial} already exists`);
      if (isBlockedKeyRefusal(error)) throw await blockedKeyError(this.db, intent.spkiSha256);
      throw new StorageError(`cannot record the certificate intent: ${(error as Error).message}`, error);
    }
  }

  async markIssued(serial: string, certificate: Buffer, ocspAnswer?: PresignedOcspAnswer): Promise<void> {
    const postgres = this.db.getExecutor().adapter instanceof PostgresAdapter;
    await this.writes.run<void>(
      async (tx) => {
        if (ocspAnswer && postgres) {
          // One round trip instead of two: the same statement as for several (one prepared plan).
          const [refused] = await markIssuedTogether(tx, [{ serial, certificate, ocspAnswer }]);
          if (refused) throw refused;
          return;
        }
        const result = await markIssued.run(tx, { serial, certificate });
        if (result.numAffectedRows !== 1n) throw new StorageError(`certificate ${serial} is not a pending intent`);
        if (ocspAnswer) await saveOcspResponse(tx, ocspAnswer);
      },
      // One statement on PostgreSQL (with an answer): atomic, and durable once it returns, alone;
      // several that are ready together go in one statement (markIssuedTogether).
      ocspAnswer && postgres
        ? {
            alone: true,
            together: { item: { serial, certificate, ocspAnswer }, all: markIssuedTogether },
          }
        : {},
    );
  }

  async markFailed(serial: string, audit: AuditEvent): Promise<void> {
    await withAudit(this.db, audit, (tx) =>
      tx
        .updateTable("certificates")
        .set({ status: "failed" })
        .where("serial", "=", serial)
        .where("status", "=", "pending")
        .execute(),
    );
  }

  async stalePending(createdBefore: Date): Promise<string[]> {
    const rows = await this.db
      .selectFrom("certificates")
      .select("serial")
      .where("status", "=", "pending")
      .where("created_at", "<", createdBefore.toISOString())
      .limit(1000)
      .execute();
    return rows.map((r) => r.serial);
  }

  async get(serial: string): Promise<CertificateRecord | undefined> {
    const row = (await certificateBySerial.run(this.db, { serial })).rows[0];
    return row && toRecord(row);
  }

  /**
   * SQLite: adds the certificates queued for name search (migration 0033) to the trigram index, a
   * batch per transaction (the event loop runs between batches, so a long queue — a restore, a
   * seeded benchmark — does not stall requests). Run every few seconds and before each search;
   * batches are serialized on the one connection, so no row is indexed twice. PostgreSQL: nothing.
   */
  async indexPendingNames(): Promise<number> {
    if (this.db.getExecutor().adapter instanceof PostgresAdapter) return 0;
    let indexed = 0;
    for (;;) {
      const done = await this.db.transaction().execute(async (tx) => {
        const { rows } = await sql<{ upto: number | null }>`select coalesce(
            (select cert_rowid from certificate_search_pending order by cert_rowid limit 1 offset ${NAME_INDEX_BATCH - 1}),
            (select max(cert_rowid) from certificate_search_pending)) as upto`.execute(tx);
        const upto = rows[0]?.upto ?? null;
        if (upto === null) return 0;
        await sql`insert into certificate_names (rowid, subject, names)
          select c.rowid, c.subject, c.names from certificate_search_pending p
          join certificates c on c.rowid = p.cert_rowid where p.cert_rowid <= ${upto}`.execute(tx);
        const removed = await sql`delete from certificate_search_pending where cert_rowid <= ${upto}`.execute(tx);
        return Number(removed.numAffectedRows ?? 0);
      });
      indexed += done;
      if (done < NAME_INDEX_BATCH) return indexed;
      await new Promise((next) => setImmediate(next));
    }
  }

  async getMany(serials: readonly string[]): Promise<Map<string, CertificateRecord>> {
    const records = new Map<string, CertificateRecord>();
    // Chunks stay under SQLite's bound-parameter limit (32,766 since 3.32; 999 before).
    for (let i = 0; i < serials.length; i += 500) {
      const rows = await this.db
        .selectFrom("certificates")
        .selectAll()
        .where("serial", "in", serials.slice(i, i + 500))
        .execute();
      for (const row of rows) records.set(row.serial, toRecord(row));
    }
    return records;
  }

  async list(filter: CertificateFilter, now: Date): Promise<CertificateRecord[]> {
    // A page of serials first, from the indexes (migration 0026), then only those rows: the rows
    // carry each certificate's TBS and DER, which a filter never needs to read.
    let page = this.db.selectFrom("certificates").select("serial");
    const nowIso = now.toISOString();
    switch (filter.status) {
      case "valid":
        page = page.where("status", "=", "valid").where("not_after", ">", nowIso);
        break;
      case "expired":
        page = page.where("status", "=", "valid").where("not_after", "<=", nowIso);
        break;
      case undefined:
        break;
      default:
        page = page.where("status", "=", filter.status);
    }
    if (filter.name) {
      if (filter.name.length >= 3 && !(this.db.getExecutor().adapter instanceof PostgresAdapter)) {
        // SQLite's trigram index (migration 0027): a quoted phrase is exactly "contains this string".
        // The certificates still queued for it (migration 0033) are indexed first.
        await this.indexPendingNames();
        const phrase = `"${filter.name.replace(/"/g, '""')}"`;
        page = page.where(
          sql<boolean>`rowid in (select rowid from certificate_names where certificate_names match ${phrase})`,
        );
      } else {
        // PostgreSQL's pg_trgm indexes (migration 0027) serve this same query; shorter strings scan.
        const name = filter.name.toLowerCase();
        page = page.where(sql<boolean>`(${contains(sql`lower(subject)`, name)} or ${contains("names", name)})`);
      }
    }
    if (filter.profile) page = page.where("profile", "=", filter.profile);
    if (filter.caId) page = page.where("ca_id", "=", filter.caId);
    if (filter.spkiSha256) page = page.where("spki_sha256", "=", filter.spkiSha256);
    if (filter.expiresAfter) page = page.where("not_after", ">=", filter.expiresAfter.toISOString());
    if (filter.expiresBefore) page = page.where("not_after", "<", filter.expiresBefore.toISOString());
    if (filter.after) page = page.where("serial", ">", filter.after);
    const rows = await this.db
      .selectFrom("certificates")
      .selectAll()
      .where("serial", "in", page.orderBy("serial").limit(filter.limit))
      .orderBy("serial")
      .execute();
    return rows.map(toRecord);
  }
}
