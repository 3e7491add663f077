/**
 * KMIP Encrypt throughput with PyKMIP's client against `keyward serve` (KMIP listener on), next to
 * the same encryption over REST, and Keyward's CPU per operation for each (from /proc, so the
 * clients' own CPU is not counted). `npm run -s build && npx tsx bench/kmip.ts` (BENCH_SECONDS,
 * BENCH_CLIENTS=1,2). PyKMIP is pure Python: one client process is bound by its own CPU.
 */
import "reflect-metadata";
import { execFile, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import autocannon from "autocannon";
import { freePort, opensslCsr, testEnv } from "../test/helpers/keyward.js";
import { createTestToken } from "../test/helpers/softhsm.js";

const ROOT = resolve(import.meta.dirname, "..");
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CLIENTS = (process.env.BENCH_CLIENTS ?? "1,2").split(",").map(Number);
const exec = promisify(execFile);
const CLK_TCK = 100;

const LOOP = `
import sys, time
from kmip.core import enums
from kmip.pie.client import ProxyKmipClient
conf, uid, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
params = {"cryptographic_algorithm": enums.CryptographicAlgorithm.AES, "block_cipher_mode": enums.BlockCipherMode.GCM}
with ProxyKmipClient(config="client", config_file=conf) as c:
    c.encrypt(b"warm", uid=uid, cryptographic_parameters=params)
    n, end = 0, time.time() + seconds
    while time.time() < end:
        c.encrypt(b"x" * 64, uid=uid, cryptographic_parameters=params)
        n += 1
print(n, time.process_time())
`;

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

async function keyward(args: string[], env: Record<string, string>): Promise<string> {
  const { stdout } = await exec(process.execPath, [join(ROOT, "bin", "keyward.js"), ...args], {
    env: { ...process.env, ...env },
  });
  return stdout.trim();
}

const token = createTestToken("kmip-bench");
const [httpPort, kmipPort] = [await freePort(), await freePort()];
const env = testEnv(token, {
  KEYWARD_LISTEN: `127.0.0.1:${httpPort}`,
  KEYWARD_KMIP_LISTEN: `127.0.0.1:${kmipPort}`,
  KEYWARD_LOG_LEVEL: "info", // "KMIP listening" tells when to start
});
await keyward(["init"], env);
const admin = await keyward(["token", "create", "--role", "admin"], env);
const server = spawn(process.execPath, [join(ROOT, "bin", "keyward.js"), "serve"], {
  env: { ...process.env, ...env },
  stdio: ["ignore", "ignore", "pipe"],
});
// The log (stderr) says when the KMIP listener is up.
await new Promise<void>((ok) => server.stderr.on("data", (d) => String(d).includes("KMIP listening") && ok()));
const url = `http://127.0.0.1:${httpPort}`;
const api = async (path: string, body: unknown) => {
  const res = await fetch(`${url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return res.json() as Promise<Record<string, string>>;
};

try {
  const { csr, keyFile } = opensslCsr(token.dir, "bench", { subj: "/CN=bench", san: "URI:urn:bench" });
  const issued = await api("/api/v1/certificates", { csr, profile: "kmip-client" });
  await keyward(["token", "create", "--role", "key-officer", "--client-cert", issued.serial!], env);
  writeFileSync(join(token.dir, "client.pem"), issued.certificate! + issued.chain!);
  writeFileSync(join(token.dir, "root.pem"), await (await fetch(`${url}/ca/root.pem`)).text());
  const conf = join(token.dir, "pykmip.conf");
  writeFileSync(
    conf,
    `[client]\nhost=127.0.0.1\nport=${kmipPort}\ncertfile=${token.dir}/client.pem\nkeyfile=${keyFile}\nca_certs=${token.dir}/root.pem\ncert_reqs=CERT_REQUIRED\nssl_version=PROTOCOL_SSLv23\ndo_handshake_on_connect=True\nsuppress_ragged_eofs=True\n`,
  );
  const loop = join(token.dir, "loop.py");
  writeFileSync(loop, LOOP);
  const key = await api("/api/v1/keys", { name: "bench-key", algorithm: "AES-256" });

  for (const clients of CLIENTS) {
    const cpu0 = cpuSeconds(server.pid!);
    const counts = await Promise.all(
      Array.from({ length: clients }, () =>
        exec("/usr/bin/python3", [loop, conf, key.id!, String(SECONDS)]).then((r) =>
          r.stdout.trim().split(" ").map(Number),
        ),
      ),
    );
    const cpu = cpuSeconds(server.pid!) - cpu0;
    const ops = counts.reduce((a, [n]) => a + n!, 0);
    const clientCpu = counts.reduce((a, [, seconds]) => a + seconds!, 0);
    console.log(
      `KMIP Encrypt (PyKMIP, ${clients} client process${clients > 1 ? "es" : ""}): ${(ops / SECONDS).toFixed(0)} ops/s; Keyward CPU ${((cpu / ops) * 1000).toFixed(2)} ms/op; PyKMIP CPU ${((clientCpu / ops) * 1000).toFixed(2)} ms/op`,
    );
  }

  const body = JSON.stringify({ plaintext: Buffer.alloc(64, "x").toString("base64") });
  const options = {
    url: `${url}/api/v1/keys/${key.id}/encrypt`,
    method: "POST" as const,
    headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
    body,
    connections: 4,
  };
  await autocannon({ ...options, duration: 1 });
  const cpu0 = cpuSeconds(server.pid!);
  const result = await autocannon({ ...options, duration: SECONDS });
  const cpu = cpuSeconds(server.pid!) - cpu0;
  if (result.non2xx || result.errors)
    throw new Error(`REST encrypt: ${result.non2xx} non-2xx, ${result.errors} errors`);
  console.log(
    `REST encrypt (autocannon, 4 connections): ${result.requests.average.toFixed(0)} ops/s; Keyward CPU ${((cpu / result.requests.total) * 1000).toFixed(2)} ms/op`,
  );
} finally {
  await new Promise((exited) => {
    server.once("exit", exited);
    server.kill("SIGTERM");
  });
  token.cleanup();
}
