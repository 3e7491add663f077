import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuditEvent } from "../../src/audit/index.js";
import { explicit, sequence, smallInteger, unsignedInteger } from "../../src/pki/der.js";
import {
  type OpenDatabase,
  openDatabase,
  SqlCaStore,
  SqlCertificateStore,
  SqlOverviewStore,
  SqlRevocationStore,
} from "../../src/storage/index.js";
import { testDatabases } from "../helpers/engines.js";

// The overview's aggregates are plain SQL over ISO-8601 strings: the same answers on both engines.
const databases = testDatabases("overview");
const engines = [
  ["sqlite", databases.url("sqlite")],
  ["postgres", databases.url("postgres")],
] as const;

afterAll(() => databases.cleanup());

const at = (iso: string) => new Date(iso);
const ev = (action: string): AuditEvent => ({
  action,
  actor: { id: "tester", name: "tester", kind: "system" },
  outcome: "success",
  at: at("2026-12-01T00:00:00.000Z"),
});

describe.each(engines)("overview aggregates on %s", (_engine, url) => {
  let opened: OpenDatabase;
  let store: SqlOverviewStore;
  const now = at("2026-12-10T12:00:00.000Z");

  beforeAll(async () => {
    opened = await openDatabase(url);
    const certificate = sequence(sequence(explicit(0, smallInteger(2)), unsignedInteger(randomBytes(8))));
    await new SqlCaStore(opened.db).insert(
      [
        {
          id: "int",
          parentId: null,
          kind: "intermediate",
          keyType: "p256",
          keyUri: "pkcs11:token=t;object=int;id=%01",
          certificate,
          subject: "CN=int",
          spkiSha256: "cd".repeat(32),
          notBefore: at("2026-01-01T00:00:00.000Z"),
          notAfter: at("2036-01-01T00:00:00.000Z"),
          isDefault: true,
          createdAt: at("2026-01-01T00:00:00.000Z"),
          revokedAt: null,
          revocationReason: null,
        },
      ],
      [ev("ca.create")],
    );
    const certs = new SqlCertificateStore(opened.db);
    const revocations = new SqlRevocationStore(opened.db);
    // serial → issued at, profile, expiry; two on Dec 8, one on Dec 9, one still pending, one expired.
    const rows: Array<[string, string, string, string, boolean]> = [
      ["0a01", "2026-12-08T01:00:00.000Z", "server", "2027-03-01T00:00:00.000Z", true],
      ["0a02", "2026-12-08T23:59:59.000Z", "server", "2027-03-01T00:00:00.000Z", true],
      ["0a03", "2026-12-09T10:00:00.000Z", "ocsp-responder", "2026-12-16T00:00:00.000Z", true],
      ["0a04", "2026-12-09T11:00:00.000Z", "server", "2027-03-01T00:00:00.000Z", false],
      ["0a05", "2026-11-01T00:00:00.000Z", "server", "2026-12-01T00:00:00.000Z", true],
      // Keyward's own (a KMS signer's certificate): answered on demand, left out on purpose.
      ["0a06", "2026-11-20T00:00:00.000Z", "kms-signer", "2027-03-01T00:00:00.000Z", true],
    ];
    for (const [serial, createdAt, profile, notAfter, issued] of rows) {
      await certs.recordIntent(
        {
          serial,
          caId: "int",
          profile,
          subject: `CN=${serial}`,
          names: [],
          spkiSha256: "ab".repeat(32),
          keyType: "p256",
          notBefore: at(createdAt),
          notAfter: at(notAfter),
          createdAt: at(createdAt),
          requestedBy: "tester",
          tbs: randomBytes(20),
        },
        ev("certificate.issue"),
      );
      if (issued) await certs.markIssued(serial, randomBytes(50));
    }
    await revocations.revoke(
      {
        serial: "0a02",
        revokedAt: at("2026-12-10T03:00:00.000Z"),
        reason: 1,
        invalidityDate: null,
        allowFromHold: false,
      },
      ev("certificate.revoke"),
    );
    const answer = (serial: string, thisUpdate: string, nextUpdate: string) =>
      revocations.saveOcspResponse({
        serial,
        hash: "sha1",
        thisUpdate: at(thisUpdate),
        nextUpdate: at(nextUpdate),
        der: randomBytes(10),
      });
    await answer("0a01", "2026-12-10T11:00:00.000Z", "2026-12-13T11:00:00.000Z"); // fresh
    await answer("0a02", "2026-12-08T00:00:00.000Z", "2026-12-11T00:00:00.000Z"); // valid, due for re-signing
    store = new SqlOverviewStore(opened.db);
  });

  afterAll(async () => {
    await opened?.close();
  });

  it("counts signed certificates and revocations per UTC day", async () => {
    const since = at("2026-12-01T00:00:00.000Z");
    const sorted = (xs: { day: string; count: number }[]) => [...xs].sort((a, b) => a.day.localeCompare(b.day));
    expect(sorted(await store.issuedPerDay(since))).toEqual([
      { day: "2026-12-08", count: 2 },
      { day: "2026-12-09", count: 1 },
    ]);
    expect(await store.revokedPerDay(since)).toEqual([{ day: "2026-12-10", count: 1 }]);
  });

  it("measures OCSP coverage of unexpired certificates, leaving out Keyward's own and unissued ones", async () => {
    expect(await store.ocspCoverage(now, at("2026-12-09T00:00:00.000Z"), ["kms-signer"])).toEqual({
      certificates: 2,
      answered: 2,
      due: 1,
      unansweredSerials: [],
    });
    // Three days on, both answers have expired: the certificates are named.
    expect(await store.ocspCoverage(at("2026-12-14T00:00:00.000Z"), now, ["kms-signer"])).toEqual({
      certificates: 2,
      answered: 0,
      due: 0,
      unansweredSerials: ["0a01", "0a02"],
    });
    // Without the internal profile, its certificate counts (and is named) like any other.
    expect((await store.ocspCoverage(now, at("2026-12-09T00:00:00.000Z"), [])).unansweredSerials).toEqual(["0a06"]);
  });
});
