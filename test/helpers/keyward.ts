import type { Actor } from "../../src/audit/index.js";
import { execFile, execFileSync, spawnSync } from "node:child_process";
import { promisify } from "node:util";
import { writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import pino, { type Logger } from "pino";
import type { Clock } from "../../src/clock/index.js";
import { compose, type Services } from "../../src/compose.js";
import { type Config, deepMerge, loadConfig } from "../../src/config/index.js";
import { createApp } from "../../src/http/app.js";
import { listen } from "../../src/http/server.js";
import { createTestToken, type TestToken } from "./softhsm.js";

const execFileAsync = promisify(execFile);

export interface TestKeyward {
  url: string;
  /** An admin bearer token. */
  adminToken: string;
  services: Services;
  config: Config;
  token: TestToken;
  dir: string;
  /** Fetch under the server with the admin token and a JSON body. */
  api(
    path: string,
    init?: { method?: string; body?: unknown; token?: string | null; headers?: Record<string, string> },
  ): Promise<Response>;
  close(): Promise<void>;
}

/** The actor tests act as when they call services directly. */
export const testActor: Actor = { id: "test", name: "test", kind: "system" };

/** Environment for a Keyward whose data dir and token are the test token's temp dir. */
export function testEnv(token: TestToken, extra: Record<string, string> = {}): Record<string, string> {
  return {
    KEYWARD_DATA_DIR: token.dir,
    KEYWARD_HSM_TOKEN: token.tokenLabel,
    KEYWARD_HSM_PIN_SOURCE: `file:${token.pinFile}`,
    KEYWARD_HSM_MODULE: token.modulePath,
    SOFTHSM2_CONF: token.conf,
    KEYWARD_LOG_LEVEL: "silent",
    ...extra,
  };
}

/**
 * A real Keyward in this process: a fresh SoftHSM2 token and SQLite file in a temp dir, the CA
 * initialised, the HTTP server on an ephemeral port, and an admin token.
 */
export async function startKeyward(
  options: {
    overrides?: Record<string, unknown>;
    rootKey?: string;
    intermediateKey?: string;
    clock?: Clock;
    /** Where the server logs (default: nowhere), e.g. to check that no secret is ever logged. */
    logger?: Logger;
  } = {},
): Promise<TestKeyward> {
  const token = createTestToken("keyward");
  // Certificates carry URLs built from baseUrl, so the port is chosen before anything is issued.
  const port = await freePort();
  const config = loadConfig({
    env: testEnv(token),
    overrides: deepMerge({ listen: `127.0.0.1:${port}` }, options.overrides ?? {}),
  });
  const logger = options.logger ?? pino({ level: "silent" });
  const services = await compose(config, { clock: options.clock, logger });
  const settings = structuredClone(config.ca);
  if (options.rootKey) settings.root.keyType = options.rootKey as never;
  if (options.intermediateKey) settings.intermediates[0]!.keyType = options.intermediateKey as never;
  await services.ca.initialize(settings, testActor);
  const server = await listen(createApp(services, logger), "127.0.0.1", port);
  const { token: adminToken } = await services.tokens.create({ role: "admin", name: "test-admin" }, testActor);
  return {
    url: server.url,
    adminToken,
    services,
    config,
    token,
    dir: token.dir,
    api(path, init = {}) {
      const headers: Record<string, string> = { ...(init.headers ?? {}) };
      const bearer = init.token === undefined ? adminToken : init.token;
      if (bearer) headers.authorization = `Bearer ${bearer}`;
      let body: string | undefined;
      if (init.body !== undefined) {
        body = typeof init.body === "string" ? init.body : JSON.stringify(init.body);
        headers["content-type"] ??= "application/json";
      }
      return fetch(`${server.url}${path}`, { method: init.method ?? (body ? "POST" : "GET"), headers, body });
    },
    async close() {
      await server.close();
      await services.close();
      token.cleanup();
    },
  };
}

/** How many certificate rows (any status) the deployment's database holds: "nothing was recorded". */
export async function certificateRows(services: Services): Promise<number> {
  const row = await services.database.db
    .selectFrom("certificates")
    .select((eb) => eb.fn.countAll().as("n"))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** A key and CSR made by `openssl req`, a tool we did not write. */
export function opensslCsr(
  dir: string,
  name: string,
  options: { key?: string[]; subj?: string; san?: string } = {},
): { csr: string; keyFile: string; csrFile: string } {
  const keyFile = join(dir, `${name}.key`);
  const csrFile = join(dir, `${name}.csr`);
  const args = ["req", "-new", ...(options.key ?? ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]), "-nodes"];
  args.push("-keyout", keyFile, "-out", csrFile, "-subj", options.subj ?? `/CN=${name}.example.com`);
  if (options.san !== "") args.push("-addext", `subjectAltName=${options.san ?? `DNS:${name}.example.com`}`);
  execFileSync("openssl", args, { stdio: "pipe" });
  return { csr: execFileSync("cat", [csrFile], { encoding: "utf8" }), keyFile, csrFile };
}

export function openssl(args: string[], input?: string | Buffer): string {
  return execFileSync("openssl", args, { encoding: "utf8", stdio: ["pipe", "pipe", "pipe"], input });
}

/** openssl's stdout and stderr together, whatever its exit status (verify and ocsp report on both). */
export function opensslOutput(args: string[]): string {
  const result = spawnSync("openssl", args, { encoding: "utf8" });
  return result.stdout + result.stderr;
}

/**
 * openssl that talks to our in-process server (`ocsp -url`): it must not block the event loop
 * the server runs on, so it runs asynchronously.
 */
export async function opensslAsync(args: string[]): Promise<string> {
  const { stdout, stderr } = await execFileAsync("openssl", args, { encoding: "utf8" });
  return stdout + stderr;
}

export function writeFile(dir: string, name: string, content: string | Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

/** What a recipient does with `openssl cms`: open EnvelopedData (DER) with its own key. */
export function opensslCmsDecrypt(cmsFile: string, keyFile: string, certFile: string): Buffer {
  return execFileSync("openssl", [
    "cms",
    "-decrypt",
    "-inform",
    "DER",
    "-in",
    cmsFile,
    "-inkey",
    keyFile,
    "-recip",
    certFile,
  ]);
}

/** EnvelopedData made by `openssl cms` (AES-256-CBC, RSA-OAEP for RSA recipients), DER. */
export function opensslCmsEncrypt(inFile: string, outFile: string, recipientCert: string): void {
  execFileSync("openssl", [
    "cms",
    "-encrypt",
    "-binary",
    "-aes256",
    "-in",
    inFile,
    "-outform",
    "DER",
    "-out",
    outFile,
    "-recip",
    recipientCert,
    "-keyopt",
    "rsa_padding_mode:oaep",
  ]);
}
