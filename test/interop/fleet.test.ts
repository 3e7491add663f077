import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { CompactSign, exportJWK, generateKeyPair } from "jose";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ChallTestSrv, startChallTestSrv } from "../helpers/challtestsrv.js";
import { freePort, opensslAsync, opensslCsr } from "../helpers/keyward.js";

/**
 * The reference fleet (scripts/fleet.mjs): three Keyward processes on one PostgreSQL schema and one
 * SoftHSM2 token, behind nginx. lego × 8 get certificates through nginx while one instance is
 * SIGKILLed and restarted; nothing committed is lost and every instance agrees on revocations.
 */
const ROOT = resolve(import.meta.dirname, "../..");
const PG_URL = process.env.KEYWARD_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const schema = `kw_fleet_${randomBytes(4).toString("hex")}`;
const database = `${PG_URL}${PG_URL.includes("?") ? "&" : "?"}schema=${schema}`;
const run = promisify(execFile);
if (!existsSync(join(ROOT, "dist/cli/main.js")))
  throw new Error("the fleet test runs the built CLI: npm run build first");

interface FleetState {
  url: string;
  instances: string[];
}
const work = mkdtempSync(join(tmpdir(), "keyward-fleet-"));
const dir = join(work, "fleet");
let fleet: FleetState;
let admin: string;
let challtest: ChallTestSrv;
let http01: Server;
const webroot = join(work, "webroot", ".well-known", "acme-challenge");

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, KEYWARD_DATA_DIR: dir, KEYWARD_DATABASE_URL: database, ...extra };
  // The fleet uses the token in its own directory, not a test token of this process.
  delete e.SOFTHSM2_CONF;
  return e;
}
const fleetScript = (...args: string[]) =>
  run(process.execPath, [join(ROOT, "scripts/fleet.mjs"), ...args, "--dir", dir], { env: envForFleet });
let envForFleet: NodeJS.ProcessEnv;

async function api(path: string, body?: unknown): Promise<Response> {
  return fetch(`${fleet.url}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

beforeAll(async () => {
  mkdirSync(webroot, { recursive: true });
  const http01Port = await freePort();
  http01 = createServer((req, res) => {
    try {
      const token = (req.url ?? "")
        .split("/")
        .pop()!
        .replace(/[^A-Za-z0-9_-]/g, "");
      res.writeHead(200).end(readFileSync(join(webroot, token)));
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((ok) => http01.listen(http01Port, "127.0.0.1", ok));
  challtest = await startChallTestSrv();
  envForFleet = env({
    KEYWARD_LOG_LEVEL: "warn",
    KEYWARD_ACME_DNS_RESOLVER: challtest.dns,
    KEYWARD_ACME_HTTP01_PORT: String(http01Port),
  });
  const port = await freePort();
  const { stdout } = await fleetScript("start", "--port", String(port), "--instances", "3", "--database", database);
  fleet = JSON.parse(stdout.trim().split("\n").at(-1)!) as FleetState;
  admin = (
    await run(process.execPath, [join(ROOT, "bin/keyward.js"), "token", "create", "--role", "admin"], { env: env() })
  ).stdout.trim();
}, 180_000);

afterAll(async () => {
  if (fleet) await fleetScript("stop").catch(() => undefined);
  challtest?.stop();
  http01?.close();
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await client.end();
  rmSync(work, { recursive: true, force: true });
});

function lego(worker: number, n: number): Promise<boolean> {
  return new Promise((done) => {
    const child: ChildProcess = spawn(
      "lego",
      [
        "--server",
        `${fleet.url}/acme/directory`,
        "--accept-tos",
        "--email",
        "ops@example.com",
        "--path",
        join(work, `lego-${worker}`),
        "-d",
        `f${worker}-${n}.fleet.example.com`,
        "--http",
        "--http.webroot",
        join(work, "webroot"),
        "run",
      ],
      { stdio: "ignore" },
    );
    child.on("exit", (code) => done(code === 0));
  });
}

async function ocspStatus(instance: string, certFile: string, issuerFile: string): Promise<string> {
  const out = await opensslAsync([
    "ocsp",
    "-issuer",
    issuerFile,
    "-cert",
    certFile,
    "-url",
    `${instance}/ocsp`,
    "-noverify",
  ]);
  return /: (good|revoked|unknown)/.exec(out)?.[1] ?? out;
}

describe("a fleet of three behind nginx", () => {
  it("keeps serving lego × 8 while an instance is killed and restarted, and loses nothing", {
    timeout: 240_000,
  }, async () => {
    const issuerFile = join(work, "issuer.pem");
    writeFileSync(issuerFile, await (await fetch(`${fleet.url}/ca/intermediate.pem`)).text());
    const rootFile = join(work, "root.pem");
    writeFileSync(rootFile, await (await fetch(`${fleet.url}/ca/root.pem`)).text());

    const outcomes: boolean[] = [];
    const revoked: string[] = [];
    const end = Date.now() + 15_000;
    const workers = Array.from({ length: 8 }, async (_, w) => {
      for (let n = 0; Date.now() < end; n++) outcomes.push(await lego(w, n));
    });
    // Chaos: SIGKILL instance 2 mid-run, bring it back a few seconds later.
    const chaos = (async () => {
      await new Promise((r) => setTimeout(r, 4000));
      process.kill(Number(readFileSync(join(dir, "keyward-2.pid"), "utf8")), "SIGKILL");
      await new Promise((r) => setTimeout(r, 3000));
      await fleetScript("restart", "2");
    })();
    // Revocations while all this goes on, through the balancer.
    const revoker = (async () => {
      while (Date.now() < end) {
        await new Promise((r) => setTimeout(r, 2000));
        const listed = (await (await api("/api/v1/certificates?status=valid&profile=server&limit=5")).json()) as {
          items: Array<{ serial: string }>;
        };
        const target = listed.items.find((c) => !revoked.includes(c.serial));
        if (!target) continue;
        const res = await api(`/api/v1/certificates/${target.serial}/revoke`, { reason: "keyCompromise" });
        if (res.status === 200) revoked.push(target.serial);
      }
    })();
    await Promise.all([...workers, chaos, revoker]);

    const succeeded = outcomes.filter(Boolean).length;
    expect(succeeded).toBeGreaterThanOrEqual(8);
    expect(revoked.length).toBeGreaterThan(0);

    // Every certificate lego received is recorded and verifies.
    const received: Array<{ file: string; serial: string }> = [];
    for (let w = 0; w < 8; w++) {
      const certDir = join(work, `lego-${w}`, "certificates");
      if (!existsSync(certDir)) continue;
      for (const name of readdirSync(certDir).filter((f) => f.endsWith(".crt") && !f.endsWith(".issuer.crt"))) {
        const file = join(certDir, name);
        const serial = (await opensslAsync(["x509", "-in", file, "-noout", "-serial"]))
          .trim()
          .split("=")[1]!
          .toLowerCase();
        received.push({ file, serial });
      }
    }
    expect(received.length).toBe(succeeded);
    for (const { file, serial } of received) {
      const record = await api(`/api/v1/certificates/${serial.replace(/^(00)+/, "")}`);
      expect(record.status, serial).toBe(200);
      expect(await opensslAsync(["verify", "-CAfile", rootFile, "-untrusted", file, file])).toContain(": OK");
    }

    // Every revocation made during the run is "revoked" on every instance.
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    for (const serial of revoked) {
      const { rows } = await client.query(`SELECT certificate FROM "${schema}".certificates WHERE serial = $1`, [
        serial,
      ]);
      const pem = `-----BEGIN CERTIFICATE-----\n${Buffer.from(rows[0].certificate).toString("base64")}\n-----END CERTIFICATE-----\n`;
      const certFile = join(work, `${serial}.pem`);
      writeFileSync(certFile, pem);
      for (const instance of fleet.instances)
        expect(await ocspStatus(instance, certFile, issuerFile), instance).toBe("revoked");
    }
    // No serial twice among what the clients received (the database's primary key guards storage).
    // A SIGKILL between recording an intent and storing its signature leaves the intent pending
    // (the sweep marks it abandoned later); nobody can have received such a certificate.
    const receivedSerials = new Set(received.map((r) => r.serial.replace(/^(00)+/, "")));
    expect(receivedSerials.size).toBe(received.length);
    const pending = await client.query(`SELECT serial FROM "${schema}".certificates WHERE status = 'pending'`);
    await client.end();
    expect(pending.rows.filter((r: { serial: string }) => receivedSerials.has(r.serial))).toEqual([]);
    expect(pending.rows.length).toBeLessThanOrEqual(8);
    const audit = (await (await api("/api/v1/audit/verify")).json()) as { ok: boolean };
    expect(audit.ok).toBe(true);
  });

  it("accepts a nonce once across instances", async () => {
    const nonce = (await fetch(`${fleet.instances[0]}/acme/new-nonce`, { method: "HEAD" })).headers.get(
      "replay-nonce",
    )!;
    const { privateKey, publicKey } = await generateKeyPair("ES256");
    const url = `${fleet.url}/acme/new-account`;
    const jws = await new CompactSign(new TextEncoder().encode(JSON.stringify({ termsOfServiceAgreed: true })))
      .setProtectedHeader({ alg: "ES256", nonce, url, jwk: await exportJWK(publicKey) })
      .sign(privateKey);
    const [protectedHeader, payload, signature] = jws.split(".");
    const body = JSON.stringify({ protected: protectedHeader, payload, signature });
    const post = (instance: string) =>
      fetch(`${instance}/acme/new-account`, {
        method: "POST",
        headers: { "content-type": "application/jose+json" },
        body,
      });
    const answers = await Promise.all([post(fleet.instances[1]!), post(fleet.instances[2]!)]);
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses).toEqual([201, 400]);
    const refused = answers.find((a) => a.status === 400)!;
    expect(((await refused.json()) as { type: string }).type).toBe("urn:ietf:params:acme:error:badNonce");
  });

  it("issues 500 certificates in parallel across the fleet: 500 distinct serials, one unbroken audit chain", {
    timeout: 180_000,
  }, async () => {
    const { csr } = opensslCsr(work, "parallel");
    const serials: string[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < 500) {
          next++;
          const issued = await api("/api/v1/certificates", { csr, profile: "server" });
          expect(issued.status).toBe(201);
          serials.push(((await issued.json()) as { serial: string }).serial);
        }
      }),
    );
    expect(serials).toHaveLength(500);
    expect(new Set(serials).size).toBe(500);
    const audit = (await (await api("/api/v1/audit/verify")).json()) as { ok: boolean };
    expect(audit.ok).toBe(true);
    // One successful issue event per serial, all in the one chain that just verified.
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    const { rows } = await client.query(
      `SELECT count(DISTINCT target_id)::int AS n FROM "${schema}".audit_events WHERE action = 'certificate.issue' AND outcome = 'success' AND target_id = ANY($1)`,
      [serials],
    );
    await client.end();
    expect(rows[0].n).toBe(500);
  });
});
