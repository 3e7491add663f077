// Issue 27, target 4: a deployment with N issued certificates (10 % revoked) on SQLite and on
// PostgreSQL, N from BENCH_SCALE (default 10000,100000,1000000). `BENCH_ONLY=scale`.
//
// Seeding: signing a million certificates through the token would take the bench's whole budget,
// so each deployment issues SCALE_REAL certificates through the API (real path: HSM signatures,
// pre-signed OCSP answers, audit events) and the other rows reuse their DER (certificate, TBS,
// OCSP answer) under distinct serials, names and expiry dates, inserted directly. What the figures
// read (listing, CRLs, OCSP answers, start-up, backup) reads these rows as it reads real ones; only
// a parser of a seeded row's DER would see the serial of the real certificate it was copied from.
// Seeded answers are fresh; once the other figures are taken, every answer is made older than half
// its validity in the database, so the next OCSP refresh re-signs all of them in the token (the
// real work, measured) without disturbing the other figures.
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import autocannon from "autocannon";
import Database from "better-sqlite3";
import { sql } from "kysely";
import pg from "pg";
import { SqlCertificateStore } from "../src/storage/repositories/certificate-store.js";
import { openDatabase } from "../src/storage/database.js";
import { createTestToken } from "../test/helpers/softhsm.js";
import { freePort, opensslCsr, testEnv } from "../test/helpers/keyward.js";
import { addCustodians, backupDrill } from "./backup-drill.js";

const ROOT = resolve(import.meta.dirname, "..");
/** Certificates issued for real per deployment; the rest reuse their DER. */
const SCALE_REAL = 100;

type RecordFigure = (name: string, value: number, unit: string, reference?: { name: string; value: number }) => void;

interface Row {
  ca_id: string;
  spki_sha256: string;
  key_type: string;
  tbs: Buffer;
  certificate: Buffer;
  der: Buffer;
  this_update: string;
  next_update: string;
}

/** The validity of the real answers (revocation.ocspValidityHours): seeded ones are made older than half of it. */
function validityHours(real: Row[]): number {
  const r = real[0]!;
  return (Date.parse(r.next_update) - Date.parse(r.this_update)) / 3_600_000;
}

/** A pg client in the deployment's schema (the `schema` URL parameter is Keyward's, not pg's). */
async function pgClient(url: string): Promise<pg.Client> {
  const parsed = new URL(url);
  const schema = parsed.searchParams.get("schema");
  parsed.searchParams.delete("schema");
  const client = new pg.Client({
    connectionString: parsed.toString(),
    ...(schema ? { options: `-c search_path=${schema}` } : {}),
  });
  await client.connect();
  return client;
}

function keyward(args: string[], env: NodeJS.ProcessEnv): string {
  return execFileSync(process.execPath, [join(ROOT, "bin", "keyward.js"), ...args], { env, encoding: "utf8" });
}

/** `keyward serve`; resolves once it listens, with the time that took. */
async function serve(env: NodeJS.ProcessEnv) {
  const start = process.hrtime.bigint();
  // BENCH_PROFILE=DIR: the server writes a V8 CPU profile there when it stops (as in bench/run.ts).
  const profile = process.env.BENCH_PROFILE ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
  const child = spawn(process.execPath, [...profile, join(ROOT, "bin", "keyward.js"), "serve"], {
    env,
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((ok, fail) => {
    child.once("exit", (code) => fail(new Error(`keyward serve exited ${code}`)));
    child.stdout.on("data", (d) => String(d).includes("listening") && ok());
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return {
    seconds,
    rssMb: () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"))![1]) / 1024,
    stop: () =>
      new Promise<void>((done) => {
        child.removeAllListeners("exit");
        child.once("exit", () => done());
        child.kill("SIGTERM");
      }),
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function latencies(count: number, request: (i: number) => Promise<Response>) {
  const ms: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    const res = await request(i);
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`answered ${res.status}`);
    ms.push(performance.now() - start);
  }
  ms.sort((a, b) => a - b);
  return { p50: percentile(ms, 50), p99: percentile(ms, 99) };
}

/** A serial whose DER INTEGER is 16 bytes (first byte 0x01–0x7f), so it can replace another in a request. */
function seededSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = 1 + (bytes[0]! % 0x7f);
  return bytes.toString("hex");
}

/** Inserts `count` certificate rows and their OCSP answers, copied from `real` under new serials. */
async function seed(
  engine: "sqlite" | "postgres",
  where: { file?: string; url?: string },
  real: Row[],
  count: number,
): Promise<string[]> {
  const now = Date.now();
  const hours = validityHours(real);
  const thisUpdate = new Date(now).toISOString();
  const nextUpdate = new Date(now + hours * 3_600_000).toISOString();
  const serials: string[] = [];
  const rowFor = (i: number) => {
    const r = real[i % real.length]!;
    const serial = seededSerial();
    serials.push(serial);
    const name = `host-${i}.scale.example`;
    const revoked = i % 10 === 0;
    const notAfter = new Date(now + (1 + (i % 90)) * 86_400_000).toISOString();
    const created = new Date(now - (i % 30) * 86_400_000).toISOString();
    return {
      cert: [
        serial,
        r.ca_id,
        "server",
        revoked ? "revoked" : "valid",
        `CN=${name}`,
        JSON.stringify([name]),
        r.spki_sha256,
        r.key_type,
        r.tbs,
        r.certificate,
        created,
        notAfter,
        created,
        "bench",
        revoked ? created : null,
        revoked ? 1 : null,
      ],
      ocsp: [serial, "sha1", thisUpdate, nextUpdate, r.der],
    };
  };
  const certColumns =
    "serial, ca_id, profile, status, subject, names, spki_sha256, key_type, tbs, certificate, not_before, not_after, created_at, requested_by, revoked_at, revocation_reason";
  if (engine === "sqlite") {
    const db = new Database(where.file!);
    const cert = db.prepare(`insert into certificates (${certColumns}) values (${Array(16).fill("?").join(", ")})`);
    const ocsp = db.prepare(
      "insert into ocsp_responses (serial, hash, this_update, next_update, der) values (?, ?, ?, ?, ?)",
    );
    db.transaction(() => {
      for (let i = 0; i < count; i++) {
        const row = rowFor(i);
        cert.run(...row.cert);
        ocsp.run(...row.ocsp);
      }
    })();
    db.close();
    // A deployment indexes new certificates for name search every two seconds (migration 0033):
    // seeded ones are indexed as Keyward does it, so the server starts with nothing queued.
    const opened = await openDatabase(`sqlite:${where.file!}`);
    try {
      await new SqlCertificateStore(opened.db).indexPendingNames();
      await sql`pragma wal_checkpoint(TRUNCATE)`.execute(opened.db);
    } finally {
      await opened.close();
    }
    return serials;
  }
  const client = await pgClient(where.url!);
  try {
    const batch = 1000;
    for (let from = 0; from < count; from += batch) {
      const rows = Array.from({ length: Math.min(batch, count - from) }, (_, k) => rowFor(from + k));
      const values = (width: number) =>
        rows.map((_, k) => `(${Array.from({ length: width }, (_, c) => `$${k * width + c + 1}`).join(", ")})`);
      await client.query(
        `insert into certificates (${certColumns}) values ${values(16).join(", ")}`,
        rows.flatMap((r) => r.cert),
      );
      await client.query(
        `insert into ocsp_responses (serial, hash, this_update, next_update, der) values ${values(5).join(", ")}`,
        rows.flatMap((r) => r.ocsp),
      );
    }
    // As autovacuum would have by then: index-only scans need the visibility map.
    await client.query("vacuum analyze");
  } finally {
    await client.end();
  }
  return serials;
}

/** Ages every answer past half its validity, as if the deployment had been idle that long. */
async function ageAnswers(engine: "sqlite" | "postgres", where: { file?: string; url?: string }, hours: number) {
  const at = new Date(Date.now() - hours * 0.6 * 3_600_000).toISOString();
  if (engine === "sqlite") {
    const db = new Database(where.file!);
    try {
      db.pragma("busy_timeout = 10000");
      db.prepare("update ocsp_responses set this_update = ?").run(at);
      // The bench's own bulk write: checkpointed here, or the server's next commit pays for copying
      // a log of every answer into the database (at 1M the first refresh batch did not finish
      // within the 75 s this bench waits).
      db.pragma("wal_checkpoint(TRUNCATE)");
    } finally {
      db.close();
    }
    return;
  }
  const client = await pgClient(where.url!);
  try {
    await client.query("update ocsp_responses set this_update = $1", [at]);
  } finally {
    await client.end();
  }
}

async function staleAnswers(
  engine: "sqlite" | "postgres",
  where: { file?: string; url?: string },
  before: string,
): Promise<number> {
  const query = "select count(*) as n from ocsp_responses where this_update < ";
  if (engine === "sqlite") {
    const db = new Database(where.file!, { readonly: true });
    try {
      return (db.prepare(`${query}?`).get(before) as { n: number }).n;
    } finally {
      db.close();
    }
  }
  const client = await pgClient(where.url!);
  try {
    return Number((await client.query(`${query}$1`, [before])).rows[0].n);
  } finally {
    await client.end();
  }
}

async function oneDeployment(engine: "sqlite" | "postgres", count: number, record: RecordFigure): Promise<void> {
  const token = createTestToken("keyward");
  const pgBase = process.env.KEYWARD_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
  const schema = `kw_scale_${randomBytes(4).toString("hex")}`;
  const where =
    engine === "sqlite"
      ? { file: join(token.dir, "keyward.db") }
      : { url: `${pgBase}${pgBase.includes("?") ? "&" : "?"}schema=${schema}` };
  const port = await freePort();
  const env = {
    ...process.env,
    ...testEnv(token, {
      KEYWARD_LISTEN: `127.0.0.1:${port}`,
      KEYWARD_LOG_LEVEL: "warn",
      ...(where.url ? { KEYWARD_DATABASE_URL: where.url } : {}),
    }),
  };
  const url = `http://127.0.0.1:${port}`;
  const label = `${count.toLocaleString("en")} certificates, ${engine === "sqlite" ? "SQLite" : "PostgreSQL"}`;
  try {
    keyward(["init"], env);
    await addCustodians(token.dir, env);
    const admin = keyward(["token", "create", "--role", "admin"], env).trim();
    const headers = { authorization: `Bearer ${admin}`, "content-type": "application/json" };
    // The real certificates, through the API.
    let server = await serve(env);
    const { csr } = opensslCsr(token.dir, "scale");
    const issued: Array<{ serial: string; certificate: string; chain: string }> = [];
    for (let i = 0; i < SCALE_REAL; i++) {
      const res = await fetch(`${url}/api/v1/certificates`, {
        method: "POST",
        headers,
        body: JSON.stringify({ csr, profile: "server" }),
      });
      if (res.status !== 201) throw new Error(`issuance answered ${res.status}`);
      issued.push((await res.json()) as { serial: string; certificate: string; chain: string });
    }
    await server.stop();
    const real = await readReal(
      engine,
      where,
      issued.map((c) => c.serial),
    );
    // An OCSP request template: a real request whose serial is 16 bytes, so others can replace it.
    const template = issued.find((c) => c.serial.length === 32 && Number.parseInt(c.serial.slice(0, 2), 16) < 0x80)!;
    writeFileSync(join(token.dir, "leaf.pem"), template.certificate);
    writeFileSync(join(token.dir, "chain.pem"), template.chain);
    execFileSync("openssl", [
      "ocsp",
      ...["-issuer", join(token.dir, "chain.pem"), "-cert", join(token.dir, "leaf.pem")],
      ...["-no_nonce", "-reqout", join(token.dir, "req.der")],
    ]);
    const request = readFileSync(join(token.dir, "req.der"));
    const at = request.indexOf(Buffer.from(`0210${template.serial}`, "hex")) + 2;
    const ocspPath = (serial: string) => {
      const r = Buffer.from(request);
      Buffer.from(serial, "hex").copy(r, at);
      return `/ocsp/${encodeURIComponent(r.toString("base64"))}`;
    };

    const seedStart = process.hrtime.bigint();
    const serials = await seed(engine, where, real, count - SCALE_REAL);
    record(`${label}: seeding (not Keyward)`, Number(process.hrtime.bigint() - seedStart) / 1e9, "s");
    const staleBefore = new Date(Date.now() - (validityHours(real) / 2) * 3_600_000).toISOString();

    server = await serve(env);
    try {
      record(`${label}: server start`, server.seconds, "s");
      await new Promise((r) => setTimeout(r, 2000));
      record(`${label}: RSS idle`, server.rssMb(), "MiB");
      const byName = await latencies(50, (i) =>
        fetch(`${url}/api/v1/certificates?name=host-${(i * 7919) % count}.scale`, { headers }),
      );
      record(`${label}: GET ?name= p50`, byName.p50, "ms");
      record(`${label}: GET ?name= p99`, byName.p99, "ms");
      const expiring = await latencies(50, (i) =>
        fetch(`${url}/api/v1/certificates?expiresWithinDays=${1 + (i % 30)}`, { headers }),
      );
      record(`${label}: GET ?expiresWithinDays= p50`, expiring.p50, "ms");
      record(`${label}: GET ?expiresWithinDays= p99`, expiring.p99, "ms");
      // CRL: a `keyward crl` process against the same database (its start-up included).
      const crlStart = process.hrtime.bigint();
      keyward(["crl", "intermediate", "--json"], env);
      record(
        `${label}: keyward crl (${count / 10} revoked), process`,
        Number(process.hrtime.bigint() - crlStart) / 1e9,
        "s",
      );

      // The OCSP refresh runs on the minute: cached OCSP under load meanwhile, and how long it takes.
      const cached = ocspPath(template.serial);
      await fetch(`${url}${cached}`);
      const quiet = await autocannon({ url: `${url}${cached}`, connections: 16, duration: 3 });
      record(`${label}: cached OCSP before the refresh, 16 conn, p99`, quiet.latency.p99, "ms");
      await ageAnswers(engine, where, validityHours(real));
      const total = await staleAnswers(engine, where, staleBefore);
      const waitUntil = Date.now() + 75_000;
      while ((await staleAnswers(engine, where, staleBefore)) === total && Date.now() < waitUntil) {
        await new Promise((r) => setTimeout(r, 250));
      }
      if ((await staleAnswers(engine, where, staleBefore)) === total) {
        throw new Error(`the OCSP refresh did not start within 75 s (${total} answers due)`);
      }
      const refreshStart = process.hrtime.bigint();
      const refreshUntil = Date.now() + Number(process.env.BENCH_SCALE_REFRESH_SECONDS ?? 900) * 1000;
      const during = autocannon({ url: `${url}${cached}`, connections: 16, duration: 5 });
      let left = total;
      while (left > 0 && Date.now() < refreshUntil) {
        await new Promise((r) => setTimeout(r, 1000));
        left = await staleAnswers(engine, where, staleBefore);
      }
      const refreshSeconds = Number(process.hrtime.bigint() - refreshStart) / 1e9;
      const loaded = await during;
      record(`${label}: cached OCSP during the refresh, 16 conn, p99`, loaded.latency.p99, "ms", {
        name: "before",
        value: Math.max(quiet.latency.p99, 1),
      });
      if (left > 0) {
        record(
          `${label}: OCSP refresh, answers re-signed in ${refreshSeconds.toFixed(0)} s (stopped)`,
          total - left,
          "answers",
        );
      } else {
        record(`${label}: OCSP refresh of ${total} answers`, refreshSeconds, "s");
      }

      // A sweep: every certificate asked once (16 in flight), then RSS.
      const sweepStart = process.hrtime.bigint();
      let next = 0;
      const all = [...issued.map((c) => c.serial).filter((s) => s.length === 32), ...serials];
      const sweepLimit = Number(process.env.BENCH_SCALE_SWEEP ?? 100_000);
      const swept = all.slice(0, sweepLimit);
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (next < swept.length) {
            const res = await fetch(`${url}${ocspPath(swept[next++]!)}`);
            await res.arrayBuffer();
            if (res.status !== 200) throw new Error(`OCSP answered ${res.status}`);
          }
        }),
      );
      record(`${label}: OCSP sweep of ${swept.length}`, Number(process.hrtime.bigint() - sweepStart) / 1e9, "s");
      record(`${label}: RSS after the sweep`, server.rssMb(), "MiB");
    } finally {
      await server.stop();
    }

    // Backup and restore with the server stopped: the data and the token lost, restored from the archive.
    const drill = await backupDrill(token.dir, env, async () => {
      rmSync(join(token.dir, "tokens"), { recursive: true, force: true });
      mkdirSync(join(token.dir, "tokens"));
      if (engine === "sqlite") {
        for (const f of ["keyward.db", "keyward.db-wal", "keyward.db-shm"]) rmSync(join(token.dir, f), { force: true });
        return env;
      }
      return { ...env, KEYWARD_DATABASE_URL: where.url!.replace(`schema=${schema}`, `schema=${schema}_restored`) };
    });
    if (drill.rows < count * 2)
      throw new Error(`the restore brought back ${drill.rows} rows for ${count} certificates`);
    record(`${label}: backup create --include-token`, drill.create.seconds, "s");
    record(`${label}: backup create, peak RSS`, drill.create.rssMb, "MiB");
    record(`${label}: backup archive`, drill.archiveMb, "MiB");
    record(`${label}: backup restore --include-token`, drill.restore.seconds, "s");
    record(`${label}: backup restore, peak RSS`, drill.restore.rssMb, "MiB");
  } finally {
    if (where.url) {
      const client = new pg.Client({ connectionString: pgBase });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.query(`DROP SCHEMA IF EXISTS "${schema}_restored" CASCADE`);
      await client.end();
    }
    token.cleanup();
  }
}

async function readReal(
  engine: "sqlite" | "postgres",
  where: { file?: string; url?: string },
  serials: string[],
): Promise<Row[]> {
  const query =
    "select c.ca_id, c.spki_sha256, c.key_type, c.tbs, c.certificate, o.der, o.this_update, o.next_update from certificates c join ocsp_responses o on o.serial = c.serial where c.serial = ";
  if (engine === "sqlite") {
    const db = new Database(where.file!, { readonly: true });
    try {
      return serials.map((s) => db.prepare(`${query}?`).get(s) as Row);
    } finally {
      db.close();
    }
  }
  const client = await pgClient(where.url!);
  try {
    const rows: Row[] = [];
    for (const s of serials) rows.push((await client.query(`${query}$1`, [s])).rows[0] as Row);
    return rows;
  } finally {
    await client.end();
  }
}

export async function scaleFigures(record: RecordFigure): Promise<void> {
  const sizes = (process.env.BENCH_SCALE ?? "10000,100000,1000000").split(",").map(Number);
  const engines = (process.env.BENCH_SCALE_ENGINES ?? "sqlite,postgres").split(",") as Array<"sqlite" | "postgres">;
  for (const engine of engines) {
    for (const count of sizes) await oneDeployment(engine, count, record);
  }
}
