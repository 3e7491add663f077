import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ApiTokenRecord } from "../../src/access/index.js";
import type { AuditEvent } from "../../src/audit/index.js";
import { explicit, sequence, smallInteger, unsignedInteger } from "../../src/pki/der.js";
import type { CertificateRecord } from "../../src/issuance/index.js";
import { BlockedKeyError, DuplicateSerialError } from "../../src/errors/index.js";
import type { CaRecord } from "../../src/signer/index.js";
import {
  type OpenDatabase,
  openDatabase,
  SqlCaStore,
  SqlAcmeOrderStore,
  SqlAcmeStore,
  SqlNonceStore,
  SqlAuditStore,
  SqlCertificateStore,
  SqlKeyStore,
  SqlRateLimitStore,
  SqlRevocationStore,
  SqlTokenStore,
} from "../../src/storage/index.js";
import { ordersWaitingOn, reusableAuthorizationQuery } from "../../src/storage/repositories/acme-order-store.js";
import { containsPattern } from "../../src/storage/repositories/like.js";
import { scheduleDue } from "../../src/storage/repositories/key-store.js";
import {
  restoreSnapshot,
  SNAPSHOT_DERIVED,
  SNAPSHOT_LEFT_OUT,
  SNAPSHOT_TABLES,
  type SnapshotChunk,
  withSnapshot,
} from "../../src/storage/snapshot.js";
import { verifyChain } from "../helpers/audit-chain.js";
import { testDatabases } from "../helpers/engines.js";
import { queryPlan } from "../helpers/query-plan.js";

/** The same contract on both engines (DESIGN.md §7); PostgreSQL gets a schema of its own per run. */
const databases = testDatabases("contract");
afterAll(() => databases.cleanup());

const engines = [
  ["sqlite", () => databases.url("sqlite"), () => databases.url("sqlite", "restore")],
  ["postgres", () => databases.url("postgres"), () => databases.url("postgres", "restore")],
] as const;

const at = (iso: string) => new Date(iso);

/** Every state change carries its audit event; these tests only need one that is well-formed. */
const ev = (action: string): AuditEvent => ({
  action,
  actor: { id: "tester", name: "tester", kind: "system" },
  outcome: "success",
  at: at("2026-12-01T00:00:00.000Z"),
});

function ca(id: string, kind: CaRecord["kind"], parentId: string | null, isDefault = false): CaRecord {
  return {
    id,
    parentId,
    kind,
    keyType: "p256",
    keyUri: `pkcs11:token=t;object=${id};id=%01`,
    // Just enough of a certificate for the store to read its serial: SEQ { SEQ { [0] v3, serial } }.
    certificate: sequence(sequence(explicit(0, smallInteger(2)), unsignedInteger(randomBytes(8)))),
    subject: `CN=${id}`,
    spkiSha256: randomBytes(32).toString("hex"),
    notBefore: at("2026-01-01T00:00:00.000Z"),
    notAfter: at("2036-01-01T00:00:00.000Z"),
    isDefault,
    createdAt: at("2026-01-01T00:00:00.000Z"),
    revokedAt: null,
    revocationReason: null,
  };
}

function intent(serial: string, overrides: Partial<CertificateRecord & { tbs: Buffer }> = {}) {
  return {
    serial,
    caId: "int",
    profile: "server",
    subject: `CN=${serial}.example.com`,
    names: [`dns:${serial}.example.com`],
    spkiSha256: "ab".repeat(32),
    keyType: "p256" as const,
    notBefore: at("2026-11-01T00:00:00.000Z"),
    notAfter: at("2027-02-01T00:00:00.000Z"),
    createdAt: at("2026-11-01T00:00:00.000Z"),
    requestedBy: "tester",
    tbs: randomBytes(100),
    ...overrides,
  };
}

/** An ACME account record for the stores (the key is never used). */
function acmeAccount(id: string, createdAt: Date) {
  return {
    id,
    thumbprint: `tp-${id}`,
    jwk: { kty: "EC", crv: "P-256", x: "x", y: "y" },
    status: "valid" as const,
    contact: [],
    createdAt,
  };
}

/** A pending authorization for `${id}.example.com` with one pending http-01 challenge, `${id}-c`. */
function pendingAuthz(accountId: string, id: string, expiresAt: Date) {
  return {
    id,
    accountId,
    identifier: { type: "dns" as const, value: `${id}.example.com` },
    wildcard: false,
    status: "pending" as const,
    expiresAt,
    challenges: [
      {
        id: `${id}-c`,
        authorizationId: id,
        type: "http-01" as const,
        token: `t-${id}`,
        status: "pending" as const,
        validatedAt: null,
        error: null,
      },
    ],
  };
}

/** A pending order over these authorizations. */
function pendingOrder(
  id: string,
  authzs: ReturnType<typeof pendingAuthz>[],
  times: { expiresAt: Date; createdAt: Date },
  replaces: string | null = null,
) {
  return {
    id,
    accountId: authzs[0]!.accountId,
    status: "pending" as const,
    identifiers: authzs.map((a) => a.identifier),
    authorizationIds: authzs.map((a) => a.id),
    profile: "server",
    ...times,
    certificateSerial: null,
    error: null,
    replaces,
  };
}

describe.each(engines)("storage contract on %s", (engine, url, restoreUrl) => {
  let opened: OpenDatabase;
  let cas: SqlCaStore;
  let certs: SqlCertificateStore;
  let tokens: SqlTokenStore;
  const now = at("2026-12-01T00:00:00.000Z");

  beforeAll(async () => {
    opened = await openDatabase(url());
    cas = new SqlCaStore(opened.db);
    certs = new SqlCertificateStore(opened.db);
    tokens = new SqlTokenStore(opened.db);
    await cas.insert([ca("root", "root", null), ca("int", "intermediate", "root", true)], [ev("ca.create")]);
  });

  afterAll(async () => {
    await opened?.close();
  });

  it("migrates idempotently: opening the same database again changes nothing", async () => {
    const again = await openDatabase(url());
    expect((await new SqlCaStore(again.db).list()).map((c) => c.id)).toEqual(["root", "int"]);
    await again.close();
  });

  it("stores CAs and keeps exactly one default", async () => {
    const before = await cas.list();
    expect(before.map((c) => [c.id, c.isDefault])).toEqual([
      ["root", false],
      ["int", true],
    ]);
    expect((await cas.get("int"))?.certificate).toEqual(before[1]!.certificate);
    await cas.insert([ca("int2", "intermediate", "root")], [ev("ca.create")]);
    await cas.setDefault("int2", ev("ca.set-default"));
    expect((await cas.list()).filter((c) => c.isDefault).map((c) => c.id)).toEqual(["int2"]);
    await cas.setDefault("int", ev("ca.set-default"));
    await expect(cas.insert([ca("int", "intermediate", "root")], [ev("ca.create")])).rejects.toThrow(
      /cannot store CA records/,
    );
  });

  it("refuses a CA insert as a whole when one record fails", async () => {
    await expect(
      cas.insert([ca("atomic-1", "intermediate", "root"), ca("root", "root", null)], [ev("ca.create")]),
    ).rejects.toThrow();
    expect(await cas.get("atomic-1")).toBeUndefined();
  });

  it("records an intent, then the signed certificate", async () => {
    await certs.recordIntent(intent("0a01"), ev("certificate.issue"));
    expect((await certs.get("0a01"))?.status).toBe("pending");
    await certs.markIssued("0a01", Buffer.from("der"));
    const record = await certs.get("0a01");
    expect(record).toMatchObject({ status: "valid", names: ["dns:0a01.example.com"], requestedBy: "tester" });
    expect(record?.certificate).toEqual(Buffer.from("der"));
    await expect(certs.markIssued("0a01", Buffer.from("again"))).rejects.toThrow(/not a pending intent/);
  });

  it("records intents that are ready together with their events, in one statement on PostgreSQL", async () => {
    const audit = new SqlAuditStore(opened.db);
    const issue = (serial: string) => ({ ...ev("certificate.issue"), target: { type: "certificate", id: serial } });
    // The first teaches this process where the audit head is; the next five start together.
    await certs.recordIntent(intent("0a40"), issue("0a40"));
    const serials = ["0a41", "0a42", "0a43", "0a44", "0a45"];
    const statements = opened.statements();
    await Promise.all(
      serials.map((serial) => certs.recordIntent(intent(serial, { tbs: Buffer.from([0, 0x5c, 0xff]) }), issue(serial))),
    );
    if (engine === "postgres") expect(opened.statements() - statements).toBe(1);
    for (const serial of serials) {
      expect(await certs.get(serial)).toMatchObject({ status: "pending", names: [`dns:${serial}.example.com`] });
      expect(await audit.search({ targetId: serial, limit: 10 })).toHaveLength(1);
    }
    // The bytes went through JSON intact.
    const tbs = await opened.db
      .selectFrom("certificates")
      .select("tbs")
      .where("serial", "=", "0a43")
      .executeTakeFirstOrThrow();
    expect(Buffer.from(tbs.tbs)).toEqual(Buffer.from([0, 0x5c, 0xff]));
    const head = await audit.head();
    expect((await verifyChain(audit, head)).ok).toBe(true);
    await opened.db
      .deleteFrom("certificates")
      .where("serial", "in", ["0a40", ...serials])
      .execute();
  });

  it("stores certificates that are ready together with their answers, each failing alone if not pending", async () => {
    const serials = ["0a31", "0a32", "0a33", "0a34"];
    for (const serial of serials.slice(0, 3)) await certs.recordIntent(intent(serial), ev("certificate.issue"));
    const answer = (serial: string) => ({
      serial,
      hash: "sha1",
      thisUpdate: at("2026-11-01T00:00:00.000Z"),
      nextUpdate: at("2026-11-08T00:00:00.000Z"),
      der: Buffer.from(`answer ${serial}`),
    });
    const statements = opened.statements();
    // Started together: on PostgreSQL one statement for all four (0a34 has no intent).
    const results = await Promise.allSettled(
      serials.map((serial) => certs.markIssued(serial, Buffer.from(`der ${serial}`), answer(serial))),
    );
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "fulfilled", "fulfilled", "rejected"]);
    expect(String((results[3] as PromiseRejectedResult).reason)).toMatch(/certificate 0a34 is not a pending intent/);
    if (engine === "postgres") expect(opened.statements() - statements).toBe(1);
    for (const serial of serials.slice(0, 3)) {
      expect((await certs.get(serial))?.certificate).toEqual(Buffer.from(`der ${serial}`));
      const stored = await opened.db.selectFrom("ocsp_responses").selectAll().where("serial", "=", serial).execute();
      expect(stored.map((r) => [r.hash, r.this_update, Buffer.from(r.der).toString()])).toEqual([
        ["sha1", "2026-11-01T00:00:00.000Z", `answer ${serial}`],
      ]);
    }
    expect(await opened.db.selectFrom("ocsp_responses").selectAll().where("serial", "=", "0a34").execute()).toEqual([]);
    // The later tests count certificates and answers.
    await opened.db.deleteFrom("ocsp_responses").execute();
    await opened.db.deleteFrom("certificates").where("serial", "in", serials).execute();
  });

  it("reads many certificates at once, past one query's chunk, skipping unknown serials", async () => {
    // "0a01" falls in the second chunk of 500.
    const many = await certs.getMany([...Array.from({ length: 600 }, (_, i) => `ee${i}`), "ffff", "0a01"]);
    expect([...many.keys()]).toEqual(["0a01"]);
    expect(many.get("0a01")).toEqual(await certs.get("0a01"));
    expect((await certs.getMany([])).size).toBe(0);
  });

  it("marks failed intents so they never read as issued", async () => {
    await certs.recordIntent(intent("0a02"), ev("certificate.issue"));
    await certs.markFailed("0a02", ev("certificate.issue"));
    expect((await certs.get("0a02"))?.status).toBe("failed");
    await expect(certs.markIssued("0a02", Buffer.from("x"))).rejects.toThrow();
  });

  it("lets the database enforce unique serials: 40 concurrent inserts of one serial, one wins", async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 40 }, () => certs.recordIntent(intent("0b01"), ev("certificate.issue"))),
    );
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(rejected).toHaveLength(39);
    for (const r of rejected) expect(r.reason).toBeInstanceOf(DuplicateSerialError);
  });

  it("filters lists by status, name (LIKE-safe), key, expiry window and pages by serial", async () => {
    await certs.recordIntent(
      intent("0c01", { names: ["dns:100%_off.example.com"], subject: "" }),
      ev("certificate.issue"),
    );
    await certs.markIssued("0c01", Buffer.from("x"));
    await certs.recordIntent(
      intent("0c02", { notAfter: at("2026-11-15T00:00:00.000Z"), spkiSha256: "cd".repeat(32) }),
      ev("certificate.issue"),
    );
    await certs.markIssued("0c02", Buffer.from("x"));
    await opened.db
      .updateTable("certificates")
      .set({ status: "revoked", revoked_at: now.toISOString(), revocation_reason: 1 })
      .where("serial", "=", "0a01")
      .execute();

    const serials = async (f: Parameters<SqlCertificateStore["list"]>[0]) =>
      (await certs.list(f, now)).map((c) => c.serial);
    expect(await serials({ limit: 100, name: "100%_" })).toEqual(["0c01"]);
    expect(await serials({ limit: 100, name: "0%_o" })).toEqual(["0c01"]);
    expect(await serials({ limit: 100, name: "0C02.EXAMPLE" })).toEqual(["0c02"]);
    expect(await serials({ limit: 100, status: "expired" })).toEqual(["0c02"]);
    expect(await serials({ limit: 100, status: "revoked" })).toEqual(["0a01"]);
    expect(await serials({ limit: 100, status: "valid" })).toEqual(["0c01"]);
    expect(await serials({ limit: 100, status: "pending" })).toEqual(["0b01"]);
    expect(await serials({ limit: 100, spkiSha256: "cd".repeat(32) })).toEqual(["0c02"]);
    expect(await serials({ limit: 100, expiresBefore: at("2026-12-01T00:00:00.000Z") })).toEqual(["0c02"]);
    expect(await serials({ limit: 2 })).toEqual(["0a01", "0a02"]);
    expect(await serials({ limit: 2, after: "0a02" })).toEqual(["0b01", "0c01"]);
  });

  it("finds certificates by a piece of a name through the trigram index, kept by every write", async () => {
    await certs.recordIntent(
      intent("0d01", { names: ["dns:quoted.example.org"], subject: 'CN=say "hi" now' }),
      ev("certificate.issue"),
    );
    const serials = async (name: string) => (await certs.list({ limit: 100, name }, now)).map((c) => c.serial);
    expect(await serials('"hi" n')).toEqual(["0d01"]);
    expect(await serials("SAY")).toEqual(["0d01"]);
    expect(await serials("example.org")).toEqual(["0d01"]);
    expect(await serials("xample.or")).toEqual(["0d01"]);
    expect(await serials("example.orgx")).toEqual([]);
    // Trigrams in the wrong order or apart do not make a match: the phrase is the whole string.
    expect(await serials("org.example")).toEqual([]);
    expect(await serials('"hi"now')).toEqual([]);
    // Two characters have no trigram: the scan answers.
    expect(await serials('i"')).toEqual(["0d01"]);
    await opened.db.deleteFrom("certificates").where("serial", "=", "0d01").execute();
    expect(await serials("example.org")).toEqual([]);
    if (opened.dialect === "postgres") {
      const indexes = await sql<{ indexname: string }>`
        select indexname from pg_indexes where tablename = 'certificates' and indexname like '%trgm'
        and schemaname = current_schema()`.execute(opened.db);
      expect(indexes.rows.map((r) => r.indexname).sort()).toEqual([
        "certificates_names_trgm",
        "certificates_subject_trgm",
      ]);
    } else {
      const plan = await sql<{ detail: string }>`explain query plan select serial from certificates
        where rowid in (select rowid from certificate_names where certificate_names match '"example"')`.execute(
        opened.db,
      );
      expect(plan.rows.map((r) => r.detail).join("\n")).toMatch(/VIRTUAL TABLE INDEX/);
    }
  });

  it("queues SQLite's name index and indexes the queue in batches: exact after deletes and renames, queued or indexed", async () => {
    if (opened.dialect !== "sqlite") {
      expect(await certs.indexPendingNames()).toBe(0);
      return;
    }
    const queued = async () =>
      Number(
        (await sql<{ n: number }>`select count(*) as n from certificate_search_pending`.execute(opened.db)).rows[0]!.n,
      );
    // FTS5 compares an external-content index with its table: any row indexed twice, missing or
    // stale makes this throw.
    const integrity = () =>
      sql`insert into certificate_names (certificate_names) values ('integrity-check')`.execute(opened.db);
    const serials = async (name: string) => (await certs.list({ limit: 100, name }, now)).map((c) => c.serial);
    const rename = (serial: string, name: string) =>
      opened.db
        .updateTable("certificates")
        .set({ names: JSON.stringify([name]) })
        .where("serial", "=", serial)
        .execute();

    for (const serial of ["3a01", "3a02", "3a03"]) {
      await certs.recordIntent(intent(serial, { names: [`dns:${serial}.queued.example`] }), ev("certificate.issue"));
    }
    // An insert only queues its row; the index is the queue's business.
    expect(await queued()).toBe(3);
    // Renamed and deleted while queued: nothing of them is in the index to change.
    await rename("3a02", "dns:renamed-early.example");
    await opened.db.deleteFrom("certificates").where("serial", "=", "3a03").execute();
    expect(await queued()).toBe(2);
    // A search indexes the queue first, so it sees every certificate.
    expect(await serials("queued.example")).toEqual(["3a01"]);
    expect(await serials("renamed-early")).toEqual(["3a02"]);
    expect(await queued()).toBe(0);
    await integrity();
    // Renamed and deleted once indexed: the triggers change the index itself.
    await rename("3a01", "dns:renamed-late.example");
    await opened.db.deleteFrom("certificates").where("serial", "=", "3a02").execute();
    expect(await queued()).toBe(0);
    await integrity();
    expect(await serials("renamed-late")).toEqual(["3a01"]);
    expect(await serials("queued.example")).toEqual([]);
    expect(await serials("renamed-early")).toEqual([]);

    // More than one batch (2,000 rows a transaction): every row indexed once.
    await sql`insert into certificates (serial, ca_id, profile, status, subject, names, spki_sha256, key_type, tbs,
        not_before, not_after, created_at)
      with recursive n(i) as (select 1 union all select i + 1 from n where i < 4500)
      select printf('1f%06d', i), 'int', 'server', 'valid', 'CN=batch' || i, '["dns:b' || i || '.batch.example"]',
        'ab', 'p256', x'00', '2026-01-01', '2027-01-01', '2026-01-01' from n`.execute(opened.db);
    expect(await queued()).toBe(4500);
    expect(await certs.indexPendingNames()).toBe(4500);
    expect(await certs.indexPendingNames()).toBe(0);
    await integrity();
    expect(await serials("b4499.batch")).toEqual(["1f004499"]);
  });

  it("stores API tokens by hash only, unique, with last-used time", async () => {
    const record: ApiTokenRecord = {
      id: "t1",
      name: "ci",
      role: "admin",
      scopes: { profiles: ["server"] },
      clientCertSerial: null,
      createdAt: now,
      expiresAt: null,
      lastUsedAt: null,
      revokedAt: null,
    };
    await tokens.insert(record, "h".repeat(64), ev("token.create"));
    expect(await tokens.findByHash("h".repeat(64))).toMatchObject({
      id: "t1",
      role: "admin",
      scopes: { profiles: ["server"] },
    });
    expect(await tokens.findByHash("x".repeat(64))).toBeUndefined();
    await tokens.touch("t1", now);
    expect((await tokens.findByHash("h".repeat(64)))?.lastUsedAt).toEqual(now);
    await expect(tokens.insert({ ...record, id: "t2" }, "h".repeat(64), ev("token.create"))).rejects.toThrow();
    const columns = await sql<{
      n: number;
    }>`select count(*) as n from api_tokens where token_hash = ${"h".repeat(64)}`.execute(opened.db);
    expect(Number(columns.rows[0]!.n)).toBe(1);
  });

  it("revokes atomically: 40 concurrent revocations of one certificate, one wins, and the key is blocked once", async () => {
    const revocations = new SqlRevocationStore(opened.db);
    await certs.recordIntent(intent("0d01", { spkiSha256: "ef".repeat(32) }), ev("certificate.issue"));
    await certs.markIssued("0d01", Buffer.from("x"));
    const results = await Promise.all(
      Array.from({ length: 40 }, () =>
        revocations.revoke(
          {
            serial: "0d01",
            revokedAt: now,
            reason: 1,
            invalidityDate: null,
            allowFromHold: true,
            blockKey: { spkiSha256: "ef".repeat(32), reason: "keyCompromise", by: "t" },
          },
          { ...ev("certificate.revoke"), target: { type: "certificate", id: "0d01" } },
        ),
      ),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    // Only the winning revocation left an event: the losers' transactions wrote nothing.
    const events = await new SqlAuditStore(opened.db).search({
      action: "certificate.revoke",
      targetId: "0d01",
      limit: 100,
    });
    expect(events).toHaveLength(1);
    expect(await revocations.isKeyBlocked("ef".repeat(32))).toMatchObject({ reason: "keyCompromise", blockedBy: "t" });
    expect(await revocations.isKeyBlocked("00".repeat(32))).toBeUndefined();
  });

  it("refuses an intent for a blocked key in the intent's own statement, alone or in a batch, writing nothing", async () => {
    const revocations = new SqlRevocationStore(opened.db);
    const audit = new SqlAuditStore(opened.db);
    const key = "b1".repeat(32);
    const since = new Date("2026-11-20T10:00:00.000Z");
    await revocations.blockKey({ spkiSha256: key, reason: "keyCompromise", by: "t", at: since }, ev("key.block"));
    const issue = (serial: string) => ({ ...ev("certificate.issue"), target: { type: "certificate", id: serial } });
    const alone = await certs.recordIntent(intent("0d10", { spkiSha256: key }), issue("0d10")).catch((e) => e);
    expect(alone).toBeInstanceOf(BlockedKeyError);
    expect(alone.blocked).toEqual({ reason: "keyCompromise", blockedAt: since });
    // Started together, the three share group commit's batch: the refused one fails alone.
    const batch = await Promise.allSettled([
      certs.recordIntent(intent("0d11"), issue("0d11")),
      certs.recordIntent(intent("0d12", { spkiSha256: key }), issue("0d12")),
      certs.recordIntent(intent("0d13"), issue("0d13")),
    ]);
    expect(batch.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect((batch[1] as PromiseRejectedResult).reason).toBeInstanceOf(BlockedKeyError);
    for (const serial of ["0d10", "0d12"]) {
      expect(await certs.get(serial)).toBeUndefined();
      expect(await audit.search({ targetId: serial, limit: 10 })).toHaveLength(0);
    }
    expect((await certs.get("0d13"))?.status).toBe("pending");
    // Only intents are refused: a restore brings back the key's issued (here revoked) certificates.
    await opened.db
      .insertInto("certificates")
      .values({
        serial: "0d14",
        ca_id: "int",
        profile: "server",
        status: "revoked",
        subject: "CN=0d14",
        names: "[]",
        spki_sha256: key,
        key_type: "p256",
        tbs: Buffer.from("t"),
        certificate: Buffer.from("x"),
        not_before: since.toISOString(),
        not_after: since.toISOString(),
        created_at: since.toISOString(),
        requested_by: "t",
        revoked_at: since.toISOString(),
        revocation_reason: 1,
        invalidity_date: null,
      })
      .execute();
    expect((await certs.get("0d14"))?.status).toBe("revoked");
    // The later tests count the CA's revoked certificates.
    await opened.db.deleteFrom("certificates").where("serial", "=", "0d14").execute();
  });

  it("hands out strictly increasing CRL numbers under concurrency", async () => {
    const revocations = new SqlRevocationStore(opened.db);
    const numbers = await Promise.all(Array.from({ length: 30 }, () => revocations.nextCrlNumber("int")));
    expect(new Set(numbers).size).toBe(30);
    expect(Math.max(...numbers)).toBe(30);
    expect(await revocations.nextCrlNumber("int")).toBe(31);
  });

  it("names the certificates whose answers were signed since a time, each once, from the this_update index", async () => {
    const revocations = new SqlRevocationStore(opened.db);
    const answer = (serial: string, hash: string, at: string) => ({
      serial,
      hash,
      thisUpdate: new Date(at),
      nextUpdate: new Date("2030-01-01T00:00:00.000Z"),
      der: Buffer.from([1]),
    });
    await revocations.saveOcspResponses([
      answer("0a01", "sha1", "2029-01-01T00:00:00.000Z"),
      answer("0a01", "sha256", "2029-01-01T00:00:01.000Z"),
      answer("0c01", "sha1", "2028-01-01T00:00:00.000Z"),
    ]);
    expect(await revocations.ocspSignedSince(new Date("2028-06-01T00:00:00.000Z"))).toEqual(["0a01"]);
    expect((await revocations.ocspSignedSince(new Date("2027-06-01T00:00:00.000Z"))).sort()).toEqual(["0a01", "0c01"]);
    if (opened.dialect === "sqlite") {
      // It runs every second on every server: a scan of the table there was seconds at 1M answers.
      const plan = await sql<{ detail: string }>`explain query plan select serial from ocsp_responses
        where this_update >= '2028'`.execute(opened.db);
      expect(plan.rows.map((r) => r.detail).join("\n")).toMatch(/USING INDEX ocsp_responses_this_update/);
    }
    await opened.db.deleteFrom("ocsp_responses").execute();
  });

  it("names every certificate re-signed since a time, however many (a refresh re-signs thousands a second)", async () => {
    // Workers on one SQLite file learn of a revocation only through this sweep: a certificate left
    // out of it keeps its cached "good" answer in the other workers until that answer expires.
    const revocations = new SqlRevocationStore(opened.db);
    const at = new Date("2029-03-01T00:00:00.000Z");
    const answers = Array.from({ length: 12_345 }, (_, i) => ({
      serial: `ee${i.toString(16).padStart(6, "0")}`,
      hash: "sha1",
      thisUpdate: at,
      nextUpdate: new Date("2030-01-01T00:00:00.000Z"),
      der: Buffer.from([1]),
    }));
    await revocations.saveOcspResponses(answers);
    const named = await revocations.ocspSignedSince(at);
    expect(named.length).toBe(12_345);
    expect(named).toContain("ee003038");
    await opened.db.deleteFrom("ocsp_responses").execute();
  });

  it("tells the newest stored CRL's number without reading its DER", async () => {
    const revocations = new SqlRevocationStore(opened.db);
    expect(await revocations.latestCrlNumber("int")).toBeUndefined();
    for (const number of [3, 12, 7]) {
      await revocations.saveCrl(
        { caId: "int", number, thisUpdate: now, nextUpdate: now, der: Buffer.from([number]) },
        ev("crl.sign"),
      );
    }
    expect(await revocations.latestCrlNumber("int")).toBe(12);
    expect((await revocations.latestCrl("int"))?.number).toBe(12);
  });

  it("streams revoked entries page by page, and a parent's revoked CAs", async () => {
    const revocations = new SqlRevocationStore(opened.db);
    const pages: string[][] = [];
    for await (const page of revocations.revokedEntries("int", 1)) pages.push(page.map((r) => r.serial));
    expect(pages).toEqual([["0a01"], ["0d01"]]);
    const cases = new SqlCaStore(opened.db);
    expect(await cases.revoke("int2", now, 2, ev("ca.revoke"))).toBe(true);
    expect(await cases.revoke("int2", now, 2, ev("ca.revoke"))).toBe(false);
    const rootEntries: string[] = [];
    for await (const page of revocations.revokedEntries("root", 100))
      rootEntries.push(...page.map((r) => `${r.caId}:${r.reason}`));
    expect(rootEntries).toEqual(["root:2"]);
  });

  it("accepts an ACME nonce exactly once under concurrency, and never after it expires", async () => {
    const nonces = new SqlNonceStore(opened.db, opened.relaxed);
    await nonces.save("n-1", new Date(now.getTime() + 60_000));
    const results = await Promise.all(Array.from({ length: 30 }, () => nonces.consume("n-1", now)));
    expect(results.filter(Boolean)).toHaveLength(1);
    await nonces.save("n-old", new Date(now.getTime() - 1));
    expect(await nonces.consume("n-old", now)).toBe(false);
    expect(await nonces.deleteExpired(now)).toBe(1);
    // Nonces are written without waiting for the disk; everything else still waits for it, also
    // after a relaxed write that failed.
    await nonces.save("n-dup", new Date(now.getTime() + 60_000));
    await expect(
      opened.relaxed(async (db) => {
        await db.insertInto("acme_nonces").values({ nonce: "n-dup", expires_at: now.toISOString() }).execute();
      }),
    ).rejects.toThrow();
    const durability =
      opened.dialect === "sqlite"
        ? sql<{ synchronous: number }>`pragma synchronous`
        : sql<{ synchronous_commit: string }>`show synchronous_commit`;
    const [setting] = (await durability.execute(opened.db)).rows;
    expect(Object.values(setting!)[0]).toBe(opened.dialect === "sqlite" ? 2 : "on");
    if (opened.dialect === "postgres") {
      // A relaxed write is one round trip: its session does not wait for the WAL flush, so no
      // BEGIN, SET LOCAL or COMMIT goes around it; what it wrote is visible to every session at once.
      const before = opened.statements();
      await nonces.save("n-one-trip", new Date(now.getTime() + 60_000));
      expect(opened.statements() - before).toBe(1);
      const relaxedSetting = await opened.relaxed((db) =>
        sql<{ synchronous_commit: string }>`show synchronous_commit`.execute(db),
      );
      expect(relaxedSetting.rows[0]?.synchronous_commit).toBe("off");
      expect(await nonces.consume("n-one-trip", now)).toBe(true);
    }
  });

  it("keeps one ACME account per key even when two create it at once", async () => {
    const acme = new SqlAcmeStore(opened.db);
    const account = (id: string) => ({
      id,
      thumbprint: "tp-1",
      jwk: { kty: "EC", crv: "P-256", x: "x", y: "y" },
      status: "valid" as const,
      contact: [],
      createdAt: now,
    });
    const results = await Promise.all(
      ["a1", "a2", "a3"].map((id) => acme.createAccount(account(id), ev("acme.account.create"))),
    );
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r) => r.account.id)).size).toBe(1);
    const updated = await acme.updateAccount(
      results[0]!.account.id,
      { status: "deactivated" },
      ev("acme.account.deactivate"),
    );
    expect(updated.status).toBe("deactivated");
  });

  it("stores an order's authorizations and challenges, and reads an authorization back with its challenges", async () => {
    const acme = new SqlAcmeStore(opened.db);
    const orders = new SqlAcmeOrderStore(opened.db, opened.relaxed);
    const { account } = await acme.createAccount(acmeAccount("acct-authz-read", now), ev("acme.account.create"));
    const expiresAt = new Date(now.getTime() + 86_400_000);
    const three = pendingAuthz(account.id, "r-3", expiresAt);
    three.challenges = (["tls-alpn-01", "http-01", "dns-01"] as const).map((type) => ({
      ...three.challenges[0]!,
      id: `r-3-${type}`,
      type: type as "http-01",
      token: `t-${type}`,
    }));
    const wildcard = { ...pendingAuthz(account.id, "r-w", expiresAt), wildcard: true };
    const none = { ...pendingAuthz(account.id, "r-0", expiresAt), challenges: [] };
    const authzs = [three, wildcard, none];
    await orders.createOrder(pendingOrder("o-read", authzs, { expiresAt, createdAt: now }), authzs);
    const read = await orders.authorization("r-3");
    expect(read).toEqual({ ...three, challenges: [...three.challenges].sort((a, b) => a.type.localeCompare(b.type)) });
    expect(read?.challenges.map((c) => c.type)).toEqual(["dns-01", "http-01", "tls-alpn-01"]);
    expect(await orders.authorization("r-w")).toEqual(wildcard);
    expect(await orders.authorization("r-0")).toEqual(none);
    expect(await orders.authorization("r-missing")).toBeUndefined();
    // Found through any of its challenges, with all of them.
    for (const c of three.challenges) expect(await orders.authorizationOfChallenge(c.id)).toEqual(read);
    expect(await orders.authorizationOfChallenge("r-w-c")).toEqual(wildcard);
    expect(await orders.authorizationOfChallenge("r-3")).toBeUndefined();
    expect((await orders.order("o-read"))?.authorizationIds).toEqual(["r-3", "r-w", "r-0"]);
    const validated = new Date(now.getTime() + 1000);
    expect(await orders.setChallenge("r-3-http-01", ["pending"], "valid", null, validated)).toBe(true);
    const after = await orders.authorization("r-3");
    expect(after?.challenges.find((c) => c.type === "http-01")).toMatchObject({
      status: "valid",
      validatedAt: validated,
    });
  });

  it("counts rate-limit keys together in one statement, each in its own window", async () => {
    const limits = new SqlRateLimitStore(opened.db, opened.relaxed);
    const hour = new Date("2026-01-01T10:00:00Z");
    expect(await limits.increment(["rl:a", "rl:b"], hour)).toEqual([1, 1]);
    // The counts come back in the keys' order, whatever order the database returns rows in.
    expect(await limits.increment(["rl:b", "rl:c", "rl:a"], hour)).toEqual([2, 1, 2]);
    expect(await limits.increment(["rl:a"], new Date("2026-01-01T11:00:00Z"))).toEqual([1]);
  });

  it("keeps ACME orders bounded: expired unfinished orders and authorizations go, finished orders stay", async () => {
    const acme = new SqlAcmeStore(opened.db);
    const orders = new SqlAcmeOrderStore(opened.db, opened.relaxed);
    const { account } = await acme.createAccount(acmeAccount("acct-cleanup", now), ev("acme.account.create"));
    const order = (id: string, expiresAt: Date, authzId: string) => {
      const authz = pendingAuthz(account.id, authzId, expiresAt);
      return orders.createOrder(pendingOrder(id, [authz], { expiresAt, createdAt: now }, `cert-id-of-${id}`), [authz]);
    };
    const old = new Date(now.getTime() - 10 * 86_400_000);
    await order("o-old", old, "z-old");
    await order("o-done", old, "z-done");
    await order("o-new", new Date(now.getTime() + 86_400_000), "z-new");
    expect(await orders.setOrder("o-done", "pending", { status: "valid", certificateSerial: "ab" })).toBe(true);

    expect(await orders.isReplaced("cert-id-of-o-done")).toBe(true);
    expect(await orders.isReplaced("cert-id-of-o-done", "o-done")).toBe(false);
    expect(await orders.isReplaced("cert-id-of-o-new")).toBe(false);

    // Two expired orders' authorizations and challenges go, and the unfinished expired order.
    expect(await orders.deleteExpired(new Date(now.getTime() - 86_400_000))).toBe(5);
    expect(await orders.order("o-old")).toBeUndefined();
    expect(await orders.order("o-done")).toBeDefined();
    expect(await orders.order("o-new")).toBeDefined();
    expect(await orders.authorization("z-old")).toBeUndefined();
    expect((await orders.authorization("z-new"))?.challenges).toHaveLength(1);
  });

  it("concludes a validation in one step: challenge, authorization, and the orders it makes ready or invalid", async () => {
    const orders = new SqlAcmeOrderStore(opened.db, opened.relaxed);
    const { account } = await new SqlAcmeStore(opened.db).createAccount(
      acmeAccount("acct-validation", now),
      ev("acme.account.create"),
    );
    const expiresAt = new Date(now.getTime() + 86_400_000);
    const authz = (id: string) => pendingAuthz(account.id, id, expiresAt);
    const create = (id: string, authzs: ReturnType<typeof authz>[]) =>
      orders.createOrder(pendingOrder(id, authzs, { expiresAt, createdAt: now }), authzs);
    await create("o-two", [authz("v-1"), authz("v-2")]);
    await create("o-bad", [authz("v-3")]);
    const validUntil = new Date(now.getTime() + 3_600_000);
    const conclude = (id: string, valid: boolean) =>
      orders.concludeValidation({
        challengeId: `${id}-c`,
        authorizationId: id,
        accountId: account.id,
        at: now,
        ...(valid
          ? { valid: true as const, validUntil }
          : { valid: false as const, error: { type: "x", detail: "no" } }),
      });

    // Only a challenge being processed can conclude; only one request starts its validation.
    expect(await conclude("v-1", true)).toBe(false);
    for (const id of ["v-1", "v-2", "v-3"]) {
      const started = await Promise.all([orders.startValidation(`${id}-c`), orders.startValidation(`${id}-c`)]);
      expect(started.sort()).toEqual([false, true]);
      expect((await orders.challenge(`${id}-c`))?.status).toBe("processing");
    }

    expect(await conclude("v-1", true)).toBe(true);
    expect((await orders.authorization("v-1"))?.status).toBe("valid");
    expect((await orders.authorization("v-1"))?.expiresAt).toEqual(validUntil);
    expect((await orders.challenge("v-1-c"))?.validatedAt).toEqual(now);
    expect((await orders.order("o-two"))?.status).toBe("pending");
    expect(await conclude("v-2", true)).toBe(true);
    expect((await orders.order("o-two"))?.status).toBe("ready");
    // Only one request finalizes a ready order; a pending one cannot start.
    expect(await orders.startFinalizing("o-bad")).toBe(false);
    expect((await Promise.all([orders.startFinalizing("o-two"), orders.startFinalizing("o-two")])).sort()).toEqual([
      false,
      true,
    ]);
    expect((await orders.order("o-two"))?.status).toBe("processing");
    expect(await conclude("v-2", false)).toBe(false);
    expect((await orders.challenge("v-2-c"))?.status).toBe("valid");

    expect(await conclude("v-3", false)).toBe(true);
    expect((await orders.challenge("v-3-c"))?.error).toEqual({ type: "x", detail: "no" });
    expect((await orders.authorization("v-3"))?.status).toBe("invalid");
    const bad = await orders.order("o-bad");
    expect(bad?.status).toBe("invalid");
    expect(bad?.error).toEqual({ type: "x", detail: "no" });

    // An id is matched literally: "_" is base64url, and a LIKE wildcard.
    await create("o-x", [authz("vx5")]);
    await create("o-underscore", [authz("v_5")]);
    expect(await orders.startValidation("v_5-c")).toBe(true);
    expect(await conclude("v_5", false)).toBe(true);
    expect((await orders.order("o-underscore"))?.status).toBe("invalid");
    expect((await orders.order("o-x"))?.status).toBe("pending");

    // Every validation looks its orders up: through the account's pending orders (migration
    // 0030's index), not a LIKE over every order ever made (as it was: a scan per validation).
    expect(
      await queryPlan(
        opened,
        ordersWaitingOn(opened.db, { accountId: account.id, pattern: containsPattern(JSON.stringify("v-1")) }),
      ),
    ).toMatch(/acme_orders_pending/);
    // A new order looks for a valid authorization to reuse through the account's valid
    // authorizations of that name (migration 0034), not through every authorization that has not
    // expired yet (it was: a range scan of the expiry index over all accounts' valid
    // authorizations, per new order).
    expect(
      await queryPlan(
        opened,
        reusableAuthorizationQuery(opened.db, {
          accountId: account.id,
          type: "dns",
          value: "a.example",
          wildcard: 0,
          until: now.toISOString(),
        }),
      ),
    ).toMatch(/acme_authorizations_reusable/);
    expect(await orders.reusableAuthorization(account.id, { type: "dns", value: "v-1.example.com" }, false, now)).toBe(
      "v-1",
    );
  });

  it("forces ARI renewal windows for listed serials or every unexpired valid certificate of a CA", async () => {
    const orders = new SqlAcmeOrderStore(opened.db, opened.relaxed);
    const window = {
      start: now,
      end: new Date(now.getTime() + 3_600_000),
      explanationUrl: "https://example.com/incident",
    };
    for (const serial of ["a1", "a2", "a3"]) {
      await certs.recordIntent(intent(serial, { caId: "root" }), ev("certificate.issue"));
      await certs.markIssued(serial, randomBytes(50));
    }
    await new SqlRevocationStore(opened.db).revoke(
      {
        serial: "a3",
        reason: 1,
        revokedAt: now,
        invalidityDate: null,
        allowFromHold: false,
      },
      ev("certificate.revoke"),
    );
    expect(await orders.forceRenewalWindow({ caId: "root" }, window, now, ev("acme.renewal-window.force"))).toBe(2);
    expect(await orders.renewalWindow("a1")).toEqual(window);
    expect(await orders.renewalWindow("a3")).toBeUndefined();
    const later = { ...window, end: new Date(now.getTime() + 7_200_000), explanationUrl: null };
    expect(await orders.forceRenewalWindow({ serials: ["a1"] }, later, now, ev("acme.renewal-window.force"))).toBe(1);
    expect(await orders.renewalWindow("a1")).toEqual(later);
  });

  it("finds the key versions due for a scheduled change through indexes that hold only those waiting for it", async () => {
    // The KMS schedule asks every minute; each question read every key version.
    const keys = new SqlKeyStore(opened.db);
    const base = {
      keyUri: "pkcs11:token=t;object=k",
      createdAt: now,
      activateAt: null,
      deactivateAt: null,
      destroyAfter: null,
      destroyedAt: null,
      publicKey: null,
      certificateSerial: null,
    };
    const earlier = new Date(now.getTime() - 1000);
    const later = new Date(now.getTime() + 1000);
    await keys.create(
      {
        id: "k-sched",
        name: "scheduled",
        algorithm: "AES-256",
        purpose: "encrypt",
        distributable: false,
        rotationDays: null,
        cryptoperiodDays: null,
        tags: [],
        onRecipientRevoked: "flag",
        oaepHash: null,
        certifyProfile: null,
        createdAt: now,
        versions: [
          { ...base, keyId: "k-sched", version: 1, state: "active", deactivateAt: earlier, destroyAfter: earlier },
          { ...base, keyId: "k-sched", version: 2, state: "pre-activation", activateAt: earlier },
          { ...base, keyId: "k-sched", version: 3, state: "pre-activation", activateAt: later },
          { ...base, keyId: "k-sched", version: 4, state: "destroyed", destroyAfter: earlier, destroyedAt: earlier },
        ],
      },
      ev("key.create"),
    );
    const versions = async (list: Promise<{ version: number }[]>) => (await list).map((v) => v.version).sort();
    expect(await versions(keys.dueForActivation(now))).toEqual([2]);
    expect(await versions(keys.pastCryptoperiod(now))).toEqual([1]);
    expect(await versions(keys.dueForDestruction(now))).toEqual([1]);
    for (const [change, index] of [
      ["activation", "key_versions_activation"],
      ["cryptoperiod", "key_versions_cryptoperiod"],
      ["destruction", "key_versions_destruction"],
    ] as const) {
      expect(await queryPlan(opened, scheduleDue(opened.db, change, now))).toContain(index);
    }
  });

  it("stores KMS key pairs: each version's public key and certificate, the OAEP hash and certify-on-rotate profile", async () => {
    const keys = new SqlKeyStore(opened.db);
    const spki = randomBytes(91);
    const version = {
      keyId: "k-pair",
      version: 1,
      keyUri: "pkcs11:token=t;object=kms-inbox-v1-abcdef;type=private",
      state: "active" as const,
      createdAt: now,
      activateAt: null,
      deactivateAt: null,
      destroyAfter: null,
      destroyedAt: null,
      publicKey: spki,
      certificateSerial: null,
    };
    await keys.create(
      {
        id: "k-pair",
        name: "inbox",
        algorithm: "RSA-3072",
        purpose: "decrypt",
        distributable: false,
        rotationDays: null,
        cryptoperiodDays: null,
        tags: [],
        onRecipientRevoked: "flag",
        oaepHash: "SHA-1",
        certifyProfile: null,
        createdAt: now,
        versions: [version],
      },
      ev("key.create"),
    );
    await keys.setVersionCertificate("k-pair", 1, "0abc", ev("key.certify"));
    await keys.setCertifyProfile("k-pair", "signing", ev("key.policy"));
    await keys.addVersion({ ...version, version: 2, publicKey: null }, ev("key.rotate"));
    const stored = (await keys.get("k-pair"))!;
    expect(stored).toMatchObject({
      algorithm: "RSA-3072",
      purpose: "decrypt",
      oaepHash: "SHA-1",
      certifyProfile: "signing",
    });
    expect(stored.versions[0]!.publicKey).toEqual(spki);
    expect(stored.versions[0]!.certificateSerial).toBe("0abc");
    expect(stored.versions[1]).toMatchObject({ publicKey: null, certificateSerial: null });
  });

  it("keeps one unbroken audit chain under concurrent appends, and verifies it", async () => {
    const audit = new SqlAuditStore(opened.db);
    await Promise.all(Array.from({ length: 30 }, (_, i) => audit.append({ ...ev("test.concurrent"), details: { i } })));
    const head = await audit.head();
    const events = await audit.page(0, 100_000);
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: head.seq }, (_, i) => i + 1));
    expect(events.filter((e) => e.action === "test.concurrent")).toHaveLength(30);
    const result = await verifyChain(audit, head);
    expect(result).toMatchObject({ ok: true, events: head.seq, lastSeq: head.seq });
  });

  it("keeps one chain when two processes record intents in turn and at once, each guessing the head", async () => {
    // A second process on the same database: on PostgreSQL each guesses the audit head it last
    // saw (one statement per lone intent), and the other's appends make that guess wrong.
    const other = await openDatabase(url());
    try {
      const stores = [certs, new SqlCertificateStore(other.db)];
      const audit = new SqlAuditStore(opened.db);
      const serials = Array.from({ length: 12 }, (_, i) => `0e${i.toString(16).padStart(2, "0")}`);
      // In turn: every intent after the first two follows one by the other process.
      for (const [i, serial] of serials.entries()) {
        await stores[i % 2]!.recordIntent(intent(serial), {
          ...ev("certificate.issue"),
          target: { type: "certificate", id: serial },
        });
      }
      // At once, with a duplicate that fails alone (its batch is rolled back and run again).
      const together = Array.from({ length: 24 }, (_, i) => `0f${i.toString(16).padStart(2, "0")}`);
      const results = await Promise.allSettled(
        [...together, together[0]!].map((serial, i) =>
          stores[i % 2]!.recordIntent(intent(serial), {
            ...ev("certificate.issue"),
            target: { type: "certificate", id: serial },
          }),
        ),
      );
      expect(results.filter((r) => r.status === "rejected")).toHaveLength(1);
      const written = [...serials, ...together];
      const rows = await opened.db.selectFrom("certificates").select("serial").where("serial", "in", written).execute();
      expect(rows).toHaveLength(written.length);
      const head = await audit.head();
      const events = await audit.page(0, 100_000);
      expect(events.map((e) => e.seq)).toEqual(Array.from({ length: head.seq }, (_, i) => i + 1));
      // One event per intent written, none for the refused duplicate or for a wrong guess.
      const targets = events.filter((e) => e.action === "certificate.issue").map((e) => e.target?.id);
      expect(targets.filter((t) => written.includes(t!)).sort()).toEqual([...written].sort());
      const result = await verifyChain(audit, head);
      expect(result).toMatchObject({ ok: true, events: head.seq, lastSeq: head.seq });
    } finally {
      await other.close();
    }
  });

  it("snapshots every table the migrations create, or leaves it out on purpose", async () => {
    // PostgreSQL's introspection lists every schema's tables: only this database's own count.
    const own = opened.dialect === "postgres" ? (opened.schema ?? "public") : undefined;
    const tables = (await opened.db.introspection.getTables())
      .filter((t) => own === undefined || t.schema === own)
      .map((t) => t.name)
      .filter((name) => !name.startsWith("kysely_"));
    const listed: string[] = [...SNAPSHOT_TABLES, ...SNAPSHOT_LEFT_OUT];
    // SQLite's search index is derived data, made by the migration on that engine only.
    const derived: readonly string[] = opened.dialect === "sqlite" ? SNAPSHOT_DERIVED : [];
    expect(tables.filter((name) => !listed.includes(name) && !derived.includes(name))).toEqual([]);
    expect([...listed, ...derived].filter((name) => !tables.includes(name))).toEqual([]);
  });

  /** A whole snapshot in memory, and its chunks to restore from. */
  const takeSnapshot = (database: OpenDatabase) =>
    withSnapshot(database, async (reader) => {
      const chunks: SnapshotChunk[] = [];
      for await (const chunk of reader.chunks()) chunks.push(chunk);
      const tables: Record<string, Record<string, unknown>[]> = {};
      for (const { table, rows } of chunks) tables[table] = [...(tables[table] ?? []), ...rows];
      return { migration: reader.migration, tables, chunks };
    });
  const replay = async function* (chunks: SnapshotChunk[]) {
    yield* chunks;
  };

  it("reads and restores a table larger than one chunk, row for row", async () => {
    const source = await openDatabase(databases.url(engine, "chunked"));
    const target = await openDatabase(databases.url(engine, "chunked_restore"));
    try {
      const rows = Array.from({ length: 1_234 }, (_, i) => ({
        spki_sha256: i.toString(16).padStart(64, "0"),
        reason: `bulk ${i}`,
        blocked_at: new Date(i * 1000).toISOString(),
        blocked_by: null,
      }));
      for (let i = 0; i < rows.length; i += 200) {
        await source.db
          .insertInto("blocked_keys")
          .values(rows.slice(i, i + 200))
          .execute();
      }
      const snapshot = await takeSnapshot(source);
      // Chunks of at most 500 rows: memory does not grow with a table.
      const blocked = snapshot.chunks.filter((c) => c.table === "blocked_keys");
      expect(blocked.map((c) => c.rows.length)).toEqual([500, 500, 234]);
      const counts = await restoreSnapshot(target, snapshot.migration, replay(snapshot.chunks));
      expect(counts.blocked_keys).toBe(1_234);
      const back = await target.db.selectFrom("blocked_keys").selectAll().orderBy("reason").execute();
      expect(back).toEqual([...rows].sort((a, b) => a.reason.localeCompare(b.reason)));
    } finally {
      await source.close();
      await target.close();
    }
  });

  it("rolls a restore back when its rows fail part-way (a payload whose tag fails at its end)", async () => {
    const snapshot = await takeSnapshot(opened);
    const target = await openDatabase(databases.url(engine, "rolled_back"));
    try {
      const failing = async function* () {
        yield* snapshot.chunks;
        throw new Error("the tag does not verify");
      };
      await expect(restoreSnapshot(target, snapshot.migration, failing())).rejects.toThrow("the tag does not verify");
      const cas = await target.db.selectFrom("cas").select("id").execute();
      expect(cas).toEqual([]);
      // Nothing half-restored: the same snapshot restores afterwards.
      await restoreSnapshot(target, snapshot.migration, replay(snapshot.chunks));
      expect((await takeSnapshot(target)).tables).toEqual(snapshot.tables);
    } finally {
      await target.close();
    }
  });

  it("snapshots consistently and restores into an empty database, all or nothing", async () => {
    const snapshot = await takeSnapshot(opened);
    expect(snapshot.tables.cas?.length).toBeGreaterThan(0);
    expect(snapshot.tables.audit_events?.length).toBeGreaterThan(0);
    const target = await openDatabase(restoreUrl());
    try {
      const counts = await restoreSnapshot(target, snapshot.migration, replay(snapshot.chunks));
      expect(counts.certificates).toBe(snapshot.tables.certificates?.length);
      expect(await takeSnapshot(target)).toEqual(snapshot);
      // The name-search index is rebuilt from the restored rows.
      const found = await new SqlCertificateStore(target.db).list({ limit: 100, name: "0c02.example" }, now);
      expect(found.map((c) => c.serial)).toEqual(["0c02"]);
      // The restored audit chain is the same chain, and it verifies.
      const audit = new SqlAuditStore(target.db);
      const verified = await verifyChain(audit, await audit.head(), 1000);
      expect(verified.ok).toBe(true);
      await expect(restoreSnapshot(target, snapshot.migration, replay(snapshot.chunks))).rejects.toThrow(
        /restore needs an empty database, but cas has rows/,
      );
      expect(await takeSnapshot(target)).toEqual(snapshot);
    } finally {
      await target.close();
    }
  });
});
