import { randomBytes } from "node:crypto";
import pg from "pg";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compose, type Services } from "../../src/compose.js";
import { createApp } from "../../src/http/app.js";
import { listen } from "../../src/http/server.js";
import { openDatabase, SchedulerSlots, SqlCertificateStore } from "../../src/storage/index.js";
import {
  freePort,
  opensslAsync,
  opensslCsr,
  startKeyward,
  type TestKeyward,
  testActor,
  writeFile,
} from "../helpers/keyward.js";

/**
 * Two Keyward instances in one process on one PostgreSQL schema and one token: what one does, the
 * other sees (DESIGN.md §7, issue 8).
 */
const PG_URL = process.env.KEYWARD_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const schema = `kw_inst_${randomBytes(4).toString("hex")}`;
const url = (name: string) => `${PG_URL}${PG_URL.includes("?") ? "&" : "?"}schema=${name}`;

let a: TestKeyward;
let b: { services: Services; url: string; close(): Promise<void> };

beforeAll(async () => {
  a = await startKeyward({ overrides: { database: { url: url(schema) } } });
  const services = await compose(a.config, { logger: pino({ level: "silent" }) });
  const port = await freePort();
  const server = await listen(createApp(services, pino({ level: "silent" })), "127.0.0.1", port);
  services.startSchedulers();
  b = {
    services,
    url: server.url,
    close: async () => {
      await server.close();
      await services.close();
    },
  };
});

afterAll(async () => {
  await b?.close();
  await a?.close();
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  for (const name of [schema, `${schema}_m`]) await client.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`);
  await client.end();
});

describe("several instances on one PostgreSQL", () => {
  it("migrates once when instances start together", async () => {
    const opened = await Promise.all([1, 2, 3].map(() => openDatabase(url(`${schema}_m`))));
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    const { rows } = await client.query(`SELECT count(*)::int AS n FROM "${schema}_m".kysely_migration`);
    await client.end();
    expect(rows[0].n).toBeGreaterThan(10);
    for (const o of opened) await o.close();
  });

  it("shows a revocation made on one instance in the other's OCSP answers", async () => {
    const { csr } = opensslCsr(a.dir, "shared");
    const issued = await a.api("/api/v1/certificates", { body: { csr, profile: "server" } });
    const { serial, certificate, chain } = (await issued.json()) as {
      serial: string;
      certificate: string;
      chain: string;
    };
    const certFile = writeFile(a.dir, "shared.pem", certificate);
    const issuerFile = writeFile(
      a.dir,
      "shared-issuer.pem",
      chain.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n",
    );
    const ask = () =>
      opensslAsync(["ocsp", "-issuer", issuerFile, "-cert", certFile, "-url", `${b.url}/ocsp`, "-noverify"]);
    expect(await ask()).toContain(": good");

    expect((await a.api(`/api/v1/certificates/${serial}/revoke`, { body: { reason: "keyCompromise" } })).status).toBe(
      200,
    );
    const started = Date.now();
    let answer = await ask();
    while (!answer.includes(": revoked") && Date.now() - started < 3000) {
      await new Promise((r) => setTimeout(r, 100));
      answer = await ask();
    }
    expect(answer).toContain(": revoked");
  });

  it("refuses an API token on the other instance at once after a revocation on one", async () => {
    const { token: secret, record } = await a.services.tokens.create({ role: "auditor" }, testActor);
    const me = () => fetch(`${b.url}/api/v1/me`, { headers: { authorization: `Bearer ${secret}` } });
    // b serves (its schedulers run), so it now holds the token in memory.
    expect((await me()).status).toBe(200);
    expect((await me()).status).toBe(200);
    expect(b.services.tokens.cached).toBeGreaterThan(0);
    await a.services.tokens.revoke(record.id, testActor);
    const started = Date.now();
    let status = (await me()).status;
    while (status !== 401 && Date.now() - started < 2000) {
      await new Promise((r) => setTimeout(r, 20));
      status = (await me()).status;
    }
    expect(status).toBe(401);
  });

  it("gives each periodic job's slot to exactly one instance", async () => {
    const contenders = [
      new SchedulerSlots(a.services.database.db, a.services.clock),
      new SchedulerSlots(b.services.database.db, b.services.clock),
    ];
    const job = `test-${randomBytes(3).toString("hex")}`;
    const wins = await Promise.all(Array.from({ length: 10 }, (_, i) => contenders[i % 2]!.claim(job, 3_600_000)));
    expect(wins.filter(Boolean)).toHaveLength(1);
  });

  it("uses keys the other instance created in the shared token", async () => {
    const created = await a.api("/api/v1/keys", { body: { name: "fleet-shared" } });
    const { id } = (await created.json()) as { id: string };
    const sealed = await a.api(`/api/v1/keys/${id}/encrypt`, {
      body: { plaintext: Buffer.from("hi").toString("base64") },
    });
    const { ciphertext } = (await sealed.json()) as { ciphertext: string };
    const { plaintext } = await b.services.keyCrypto.decrypt(id, ciphertext, { id: "t", name: "t", kind: "system" });
    expect(plaintext.toString()).toBe("hi");
  });

  it("marks an intent whose issuing process died as abandoned, once", async () => {
    const store = new SqlCertificateStore(a.services.database.db);
    const serial = randomBytes(16).toString("hex").replace(/^0/, "1");
    const longAgo = new Date(Date.now() - 3_600_000);
    await store.recordIntent(
      {
        serial,
        caId: "intermediate",
        profile: "server",
        subject: "CN=died.example.com",
        names: ["dns:died.example.com"],
        spkiSha256: "cd".repeat(32),
        keyType: "p256",
        notBefore: longAgo,
        notAfter: new Date(Date.now() + 86_400_000),
        createdAt: longAgo,
        requestedBy: "test",
        tbs: randomBytes(64),
      },
      {
        action: "certificate.issue",
        actor: testActor,
        target: { type: "certificate", id: serial },
        outcome: "success",
        at: longAgo,
      },
    );
    expect(await a.services.issuance.abandonStale(testActor)).toBe(1);
    expect((await store.get(serial))?.status).toBe("failed");
    expect(await a.services.issuance.abandonStale(testActor)).toBe(0);
    const events = await a.services.audit.search({ action: "certificate.abandoned", targetId: serial, limit: 5 });
    expect(events.map((e) => e.outcome)).toEqual(["failure"]);
  });
});
