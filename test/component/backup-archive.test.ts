import { openSync, readSync, writeFileSync, writeSync, closeSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openArchive } from "../../src/backup/index.js";
import { opensslCmsDecrypt, opensslCsr, startKeyward, type TestKeyward, testActor } from "../helpers/keyward.js";

/**
 * Format 2 streams the payload: a restore reads the rows as it inserts them, after the payload's
 * signed hash was checked. Should the file change between that check and the read, the GCM tag at
 * the payload's end must still refuse it, so the restore's transaction rolls back.
 */
describe("backup archive payload", () => {
  let kw: TestKeyward;
  const custodians: Record<string, { keyFile: string; certFile: string }> = {};
  beforeAll(async () => {
    kw = await startKeyward();
    for (const name of ["sam", "tia"]) {
      const { csr, keyFile } = opensslCsr(kw.dir, name, {
        key: ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
      });
      const res = await kw.api("/api/v1/certificates", { body: { csr, profile: "recipient" } });
      const { certificate } = (await res.json()) as { certificate: string };
      const certFile = join(kw.dir, `${name}.pem`);
      writeFileSync(certFile, certificate);
      await kw.services.escrow.addAgent({ name, certificate }, testActor);
      custodians[name] = { keyFile, certFile };
    }
  }, 120_000);
  afterAll(() => kw?.close());

  it("streams every row back, and refuses a payload altered after it was checked", async () => {
    const path = join(kw.dir, "stream.backup");
    // A first backup makes the backup signer (its certificate is issued after that snapshot).
    await kw.services.backup.create({ custodians: ["sam", "tia"], threshold: 2 }, testActor, path);
    const { header } = await kw.services.backup.create({ custodians: ["sam", "tia"], threshold: 2 }, testActor, path);
    const shares = header.custodians.shares.map((s) => {
      const sealed = join(kw.dir, `${s.name}.cms`);
      writeFileSync(sealed, Buffer.from(s.cms, "base64"));
      return {
        custodian: s.name,
        share: opensslCmsDecrypt(sealed, custodians[s.name]!.keyFile, custodians[s.name]!.certFile),
      };
    });

    const intact = await openArchive(path, shares);
    const tables = new Map<string, number>();
    for await (const { table, rows } of intact.chunks()) tables.set(table, (tables.get(table) ?? 0) + rows.length);
    // Every row the database held, table by table (the backup.create event came after the snapshot).
    const count = async (table: "cas" | "certificates" | "escrow_agents" | "audit_events") =>
      Number(
        (
          await kw.services.database.db
            .selectFrom(table)
            .select((e) => e.fn.countAll().as("n"))
            .executeTakeFirst()
        )?.n,
      );
    for (const table of ["cas", "certificates", "escrow_agents"] as const)
      expect(tables.get(table)).toBe(await count(table));
    expect(tables.get("certificates")).toBeGreaterThanOrEqual(3);
    expect(tables.get("audit_events")).toBe((await count("audit_events")) - 1);
    expect(intact.meta.migration).toMatch(/^\d{4}_/);

    // Opened (hash and signature checked), then one byte of the ciphertext changes on disk.
    const opened = await openArchive(path, shares);
    const fd = openSync(path, "r+");
    try {
      const at = 17 + Math.floor(header.payload.bytes / 2);
      const byte = Buffer.alloc(1);
      readSync(fd, byte, 0, 1, at);
      byte[0]! ^= 1;
      writeSync(fd, byte, 0, 1, at);
    } finally {
      closeSync(fd);
    }
    const read = async () => {
      for await (const _ of opened.chunks()) {
        // rows would be inserted here, inside the restore's transaction
      }
    };
    await expect(read()).rejects.toThrow(/the payload does not decrypt to what was backed up .*nothing was restored/);
  }, 120_000);
});
