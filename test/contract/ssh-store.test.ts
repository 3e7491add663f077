import { randomBytes } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import type { AuditEvent } from "../../src/audit/index.js";
import { BlockedKeyError, ConflictError } from "../../src/errors/index.js";
import type { SshCertificateRecord } from "../../src/ssh/index.js";
import { openDatabase, SqlAuditStore, SqlSshStore } from "../../src/storage/index.js";
import { blockedSshKeys, sshListing } from "../../src/storage/repositories/ssh-store.js";
import { verifyChain } from "../helpers/audit-chain.js";
import { testDatabases } from "../helpers/engines.js";
import { queryPlan } from "../helpers/query-plan.js";

/** The SSH store's contract on both engines (DESIGN.md §7). */
const databases = testDatabases("sshstore");
afterAll(() => databases.cleanup());

const at = (iso: string) => new Date(iso);
const ev = (action: string): AuditEvent => ({
  action,
  actor: { id: "tester", name: "tester", kind: "system" },
  outcome: "success",
  at: at("2026-12-01T00:00:00.000Z"),
});

function cert(serial: string, overrides: Partial<SshCertificateRecord> = {}): SshCertificateRecord {
  return {
    serial,
    type: "user",
    keyId: `tester:${serial}`,
    principals: ["alice"],
    profile: "user",
    keyAlgorithm: "ssh-ed25519",
    fingerprint: `SHA256:${serial}`,
    spkiSha256: "ab".repeat(32),
    publicKey: randomBytes(51),
    validAfter: at("2026-12-01T00:00:00.000Z"),
    validBefore: at("2026-12-01T16:00:00.000Z"),
    status: "pending",
    body: randomBytes(200),
    certificate: null,
    requestedBy: "tester",
    createdAt: at("2026-12-01T00:00:00.000Z"),
    revokedAt: null,
    revocationReason: null,
    ...overrides,
  };
}

describe.each(["sqlite", "postgres"] as const)("SqlSshStore on %s", (engine) => {
  it("pages in creation order and finds blocked keys through indexes, not by reading every SSH certificate", async () => {
    const database = await openDatabase(databases.url(engine));
    try {
      // At 200,000 SSH certificates each of these took ~37 ms on SQLite, and grew with the table.
      const page = await queryPlan(database, sshListing(database.db, { now: new Date(), limit: 50 }));
      expect(page).toMatch(/ssh_certificates_listing/);
      expect(page).not.toMatch(/TEMP B-TREE FOR ORDER BY|Sort/);
      expect(await queryPlan(database, blockedSshKeys(database.db))).toMatch(/ssh_certificates_spki/);
    } finally {
      await database.close();
    }
  });

  it("keeps one CA key per type, certificates recorded before they are signed, revocations, blocked keys and KRLs", async () => {
    const database = await openDatabase(databases.url(engine));
    try {
      const store = new SqlSshStore(database.db);
      const key = {
        type: "user" as const,
        keyType: "ed25519" as const,
        keyUri: "pkcs11:object=u",
        spki: randomBytes(44),
        createdAt: at("2026-12-01T00:00:00.000Z"),
      };
      expect(await store.insertSshCaKey(key, ev("ssh.ca-create"))).toBe(true);
      expect(await store.insertSshCaKey({ ...key, keyUri: "pkcs11:object=other" }, ev("ssh.ca-create"))).toBe(false);
      expect((await store.sshCaKeys()).map((k) => k.keyUri)).toEqual(["pkcs11:object=u"]);

      // uint64 serials above PostgreSQL's signed bigint survive.
      const big = (2n ** 64n - 5n).toString();
      await store.recordIntent(cert(big), ev("ssh.sign"));
      await expect(store.recordIntent(cert(big), ev("ssh.sign"))).rejects.toBeInstanceOf(ConflictError);
      expect((await store.get(big))?.status).toBe("pending");
      await store.markIssued(big, Buffer.from("signed"));
      const issued = await store.get(big);
      expect(issued).toMatchObject({ status: "valid", principals: ["alice"], serial: big });
      expect(issued?.certificate?.toString()).toBe("signed");

      const compromisedKey = "cd".repeat(32);
      const shared = randomBytes(51);
      await store.recordIntent(
        cert("2", { keyId: "batch", spkiSha256: compromisedKey, publicKey: shared, principals: ["bob", "o'hara%"] }),
        ev("ssh.sign"),
      );
      await store.recordIntent(
        cert("3", {
          keyId: "batch",
          spkiSha256: compromisedKey,
          publicKey: shared,
          createdAt: at("2026-12-01T00:00:01.000Z"),
        }),
        ev("ssh.sign"),
      );
      await store.markIssued("2", Buffer.from("c2"));
      await store.markIssued("3", Buffer.from("c3"));
      await store.recordIntent(cert("4", { validBefore: at("2026-12-01T01:00:00.000Z") }), ev("ssh.sign"));
      await store.markIssued("4", Buffer.from("c4"));

      const now = at("2026-12-01T02:00:00.000Z");
      expect((await store.list({ now, limit: 10, principal: "o'hara%" })).map((r) => r.serial)).toEqual(["2"]);
      expect((await store.list({ now, limit: 10, principal: "o'hara" })).map((r) => r.serial)).toEqual([]);
      expect((await store.list({ now, limit: 10, status: "expired" })).map((r) => r.serial)).toEqual(["4"]);
      const page1 = await store.list({ now, limit: 2 });
      const page2 = await store.list({ now, limit: 2, after: page1[1]!.serial });
      expect([...page1, ...page2].map((r) => r.serial).sort()).toEqual(["18446744073709551611", "2", "3", "4"].sort());

      const revoked = await store.revoke(
        { keyId: "batch" },
        { at: now, reason: "keyCompromise", blockKey: true, by: "tester" },
        (serials) => ({ ...ev("ssh.revoke"), details: { serials } }),
      );
      expect(revoked.sort()).toEqual(["2", "3"]);
      // The database now refuses a new intent for the key (migration 0029), writing nothing.
      const refused = await store
        .recordIntent(cert("9", { spkiSha256: compromisedKey }), ev("ssh.sign"))
        .catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(BlockedKeyError);
      expect((refused as BlockedKeyError).blocked).toMatchObject({ reason: "keyCompromise" });
      expect(await store.get("9")).toBeUndefined();
      // Intents started together share group commit's batch (one statement on PostgreSQL): the
      // blocked one fails alone, the others are recorded with their audit events.
      const together = await Promise.allSettled(
        ["10", "11", "12"].map((serial) =>
          store.recordIntent(cert(serial, serial === "11" ? { spkiSha256: compromisedKey } : {}), {
            ...ev("ssh.sign"),
            target: { type: "ssh-certificate", id: serial },
          }),
        ),
      );
      expect(together.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
      expect((together[1] as PromiseRejectedResult).reason).toBeInstanceOf(BlockedKeyError);
      const audit = new SqlAuditStore(database.db);
      for (const [serial, recorded] of [
        ["10", true],
        ["11", false],
        ["12", true],
      ] as const) {
        expect((await store.get(serial))?.status).toBe(recorded ? "pending" : undefined);
        expect(await audit.search({ targetId: serial, limit: 10 })).toHaveLength(recorded ? 1 : 0);
      }
      expect((await verifyChain(audit, await audit.head())).ok).toBe(true);
      expect(await store.blockedKeyBlobs()).toEqual([shared]);
      expect((await store.revokedUnexpired(now)).map((r) => r.serial).sort()).toEqual(["2", "3"]);
      // Nothing left to revoke: no rows, no audit event.
      expect(
        await store.revoke(
          { serial: "2" },
          { at: now, reason: "unspecified", blockKey: false, by: "t" },
          () => undefined,
        ),
      ).toEqual([]);

      const events = await new SqlAuditStore(database.db).search({ action: "ssh.revoke", limit: 10 });
      expect(events.map((e) => e.details?.serials)).toEqual([["2", "3"]]);

      expect(await store.currentKrl()).toBeUndefined();
      expect(await store.storeKrl({ version: 1n, generatedAt: now, krl: Buffer.from("one") })).toBe(true);
      expect(await store.storeKrl({ version: 1n, generatedAt: now, krl: Buffer.from("again") })).toBe(false);
      expect(await store.storeKrl({ version: 2n, generatedAt: now, krl: Buffer.from("two") })).toBe(true);
      const current = await store.currentKrl();
      expect(current?.version).toBe(2n);
      expect(current?.krl.toString()).toBe("two");
    } finally {
      await database.close();
    }
  });
});
