import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keyward, serve } from "../helpers/cli.js";
import { freePort, opensslAsync, opensslCsr, writeFile } from "../helpers/keyward.js";
import { createTestToken, type TestToken } from "../helpers/softhsm.js";

/** `keyward serve --workers 2`: two processes on one port, one SQLite database, one token. */
let token: TestToken;
let server: Awaited<ReturnType<typeof serve>>;
let admin: string;

const workerPids = () =>
  execFileSync("pgrep", ["-P", String(server.child.pid)], { encoding: "utf8" })
    .trim()
    .split("\n")
    .filter(Boolean);

beforeAll(async () => {
  token = createTestToken("keyward");
  expect((await keyward(token, ["init"])).code).toBe(0);
  admin = (await keyward(token, ["token", "create", "--role", "admin"])).stdout.trim();
  server = await serve(token, await freePort(), ["--workers", "2"]);
});

afterAll(async () => {
  if (server?.child.exitCode === null) await server.stop();
  token?.cleanup();
});

const issue = async (name: string) => {
  const { csr } = opensslCsr(token.dir, name);
  const res = await fetch(`${server.url}/api/v1/certificates`, {
    method: "POST",
    headers: { authorization: `Bearer ${admin}`, "content-type": "application/json", connection: "close" },
    body: JSON.stringify({ csr, profile: "server" }),
  });
  expect(res.status).toBe(201);
  return (await res.json()) as { serial: string; certificate: string; chain: string };
};

describe("serve --workers", () => {
  it("runs two workers that issue concurrently without losing or repeating a serial", async () => {
    expect(workerPids()).toHaveLength(2);
    const issued = await Promise.all(Array.from({ length: 24 }, (_, i) => issue(`w${i}`)));
    expect(new Set(issued.map((c) => c.serial)).size).toBe(24);
    const listed = await fetch(`${server.url}/api/v1/certificates?limit=100`, {
      headers: { authorization: `Bearer ${admin}` },
    });
    const serials = ((await listed.json()) as { items: Array<{ serial: string }> }).items.map((c) => c.serial);
    for (const c of issued) expect(serials).toContain(c.serial);
  });

  it("answers OCSP revoked from every worker soon after a revocation on one of them", async () => {
    const cert = await issue("revoked-by-one");
    const certFile = writeFile(token.dir, "rev.pem", cert.certificate);
    const issuerFile = writeFile(
      token.dir,
      "rev-issuer.pem",
      `${cert.chain.split("-----END CERTIFICATE-----")[0]}-----END CERTIFICATE-----\n`,
    );
    // Each openssl run is a new connection; the cluster deals them out to both workers in turn.
    const ask = () =>
      opensslAsync(["ocsp", "-issuer", issuerFile, "-cert", certFile, "-url", `${server.url}/ocsp`, "-noverify"]);
    for (let i = 0; i < 4; i++) expect(await ask()).toContain(": good");
    const revoked = await fetch(`${server.url}/api/v1/certificates/${cert.serial}/revoke`, {
      method: "POST",
      headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
      body: JSON.stringify({ reason: "keyCompromise" }),
    });
    expect(revoked.status).toBe(200);
    const started = Date.now();
    let streak = 0;
    while (streak < 4 && Date.now() - started < 5000) {
      streak = (await ask()).includes(": revoked") ? streak + 1 : 0;
    }
    expect(streak).toBe(4);
  });

  it("refuses an API token on every worker soon after `keyward token revoke` (another process)", async () => {
    const created = await keyward(token, ["token", "create", "--role", "auditor", "--json"]);
    const { id, token: secret } = JSON.parse(created.stdout) as { id: string; token: string };
    // A new connection each time: the cluster deals them out to both workers in turn.
    const me = () =>
      fetch(`${server.url}/api/v1/me`, { headers: { authorization: `Bearer ${secret}`, connection: "close" } });
    // Both workers authenticate the token, and so hold it in memory.
    for (let i = 0; i < 4; i++) expect((await me()).status).toBe(200);
    expect((await keyward(token, ["token", "revoke", id])).code).toBe(0);
    const started = Date.now();
    let streak = 0;
    while (streak < 4 && Date.now() - started < 3000) streak = (await me()).status === 401 ? streak + 1 : 0;
    expect(streak).toBe(4);
  });

  it("replaces a worker that dies, and stops cleanly on SIGTERM", async () => {
    const [victim] = workerPids();
    process.kill(Number(victim), "SIGKILL");
    const started = Date.now();
    while (Date.now() - started < 10_000) {
      const pids = workerPids();
      if (pids.length === 2 && !pids.includes(victim!)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(workerPids()).not.toContain(victim);
    expect(workerPids()).toHaveLength(2);
    await issue("after-replacement");
    const pids = workerPids();
    expect(await server.stop()).toBe(0);
    for (const pid of pids) expect(() => process.kill(Number(pid), 0)).toThrow();
  });
});
