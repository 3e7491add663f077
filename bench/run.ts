// `npm run bench`: figures, not tests. Each figure is printed next to its reference measured in
// the same run on the same machine (shared machines are noisy; compare ratios, not absolutes).
import "reflect-metadata";
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import autocannon from "autocannon";
import { Pkcs11Hsm } from "../src/hsm/index.js";
import type { SigningAlgorithm } from "../src/pki/key-types.js";
import { createTestToken } from "../test/helpers/softhsm.js";
import { freePort, opensslCsr, testEnv } from "../test/helpers/keyward.js";

const ROOT = resolve(import.meta.dirname, "..");
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const rows: Array<{ name: string; value: number; unit: string; reference?: string; ratio?: number }> = [];

function record(name: string, value: number, unit: string, reference?: { name: string; value: number }) {
  const row = { name, value: Math.round(value * 10) / 10, unit, ...(reference ? { reference: reference.name, ratio: Math.round((value / reference.value) * 1000) / 1000 } : {}) };
  rows.push(row);
  const ratio = reference ? `  (${(row.ratio! * 100).toFixed(1)} % of ${reference.name})` : "";
  process.stdout.write(`${name.padEnd(58)} ${String(row.value).padStart(9)} ${unit}${ratio}\n`);
}

/** Raw C_Sign rate for a P-256 key: the physical limit for issuance on this token. */
async function hsmSignRate(sessions: number, inFlight: number): Promise<number> {
  const token = createTestToken("bench");
  const hsm = await Pkcs11Hsm.open({ modulePath: token.modulePath, tokenLabel: token.tokenLabel, pin: token.pin, sessions });
  try {
    const { uri } = await hsm.generateKeyPair("p256", "bench-p256");
    const alg: SigningAlgorithm = { name: "ECDSA", hash: "SHA-256" };
    const data = Buffer.alloc(300, 7);
    const end = Date.now() + SECONDS * 1000;
    let count = 0;
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (Date.now() < end) {
          await hsm.sign(uri, alg, data);
          count++;
        }
      }),
    );
    return count / SECONDS;
  } finally {
    await hsm.close();
    token.cleanup();
  }
}

async function run(args: string[], env: Record<string, string>): Promise<string> {
  return new Promise((resolveOut, reject) => {
    const child = spawn(process.execPath, [join(ROOT, "bin", "keyward.js"), ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.on("exit", (code) => (code === 0 ? resolveOut(out) : reject(new Error(`keyward ${args[0]} exited ${code}`))));
  });
}

/** Issuance through POST /api/v1/certificates against `keyward serve` in its own process. */
async function issuanceRate(connections: number[]): Promise<Map<number, number>> {
  const token = createTestToken("keyward");
  const port = await freePort();
  const env = testEnv(token, { KEYWARD_LISTEN: `127.0.0.1:${port}`, KEYWARD_LOG_LEVEL: "warn" });
  await run(["init"], env);
  const admin = (await run(["token", "create", "--role", "admin"], env)).trim();
  const server = spawn(process.execPath, [join(ROOT, "bin", "keyward.js"), "serve"], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((ok) => server.stdout.on("data", (d) => String(d).includes("listening") && ok()));
  const { csr } = opensslCsr(token.dir, "bench");
  const body = JSON.stringify({ csr, profile: "server" });
  const results = new Map<number, number>();
  try {
    for (const c of connections) {
      const result = await autocannon({
        url: `http://127.0.0.1:${port}/api/v1/certificates`,
        method: "POST",
        headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
        body,
        connections: c,
        duration: SECONDS,
      });
      const created = result["2xx"];
      if (result.non2xx > 0 || result.errors > 0) throw new Error(`issuance bench saw ${result.non2xx} non-2xx and ${result.errors} errors`);
      results.set(c, created / SECONDS);
    }
  } finally {
    await new Promise((exited) => {
      server.once("exit", exited);
      server.kill("SIGTERM");
    });
    token.cleanup();
  }
  return results;
}

async function main() {
  process.stdout.write(`Keyward benchmark, ${SECONDS} s per figure, ${new Date().toISOString()}\n\n`);
  const oneSession = await hsmSignRate(1, 1);
  record("SoftHSM2 ECDSA P-256 C_Sign, 1 session", oneSession, "sign/s");
  const pooled = await hsmSignRate(4, 8);
  record("SoftHSM2 ECDSA P-256 C_Sign, 4 sessions, 8 in flight", pooled, "sign/s");
  const issuance = await issuanceRate([1, 8, 16]);
  for (const [c, rate] of issuance) {
    record(`issuance POST /api/v1/certificates, P-256, ${c} connection${c > 1 ? "s" : ""}`, rate, "cert/s", {
      name: "pooled C_Sign",
      value: pooled,
    });
  }
  mkdirSync(join(ROOT, "bench", "results"), { recursive: true });
  const file = join(ROOT, "bench", "results", `${new Date().toISOString().slice(0, 19).replace(/:/g, "-")}.json`);
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), seconds: SECONDS, node: process.version, rows }, null, 2));
  process.stdout.write(`\nwritten ${file}\n`);
}

await main();
