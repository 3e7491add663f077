import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ChallTestSrv, startChallTestSrv } from "../helpers/challtestsrv.js";
import { freePort, openssl, opensslAsync, startKeyward, type TestKeyward, writeFile } from "../helpers/keyward.js";

/** lego and certbot from Debian, unmodified, against Keyward over plain http on loopback. */
const run = promisify(execFile);
let kw: TestKeyward;
let dns: ChallTestSrv;
let http01Port: number;
let tlsAlpn01Port: number;
let rootFile: string;

beforeAll(async () => {
  dns = await startChallTestSrv();
  http01Port = await freePort();
  tlsAlpn01Port = await freePort();
  kw = await startKeyward({ overrides: { acme: { http01Port, tlsAlpn01Port, dnsResolver: dns.dns } } });
  rootFile = writeFile(kw.dir, "root.pem", await (await fetch(`${kw.url}/ca/root.pem`)).text());
});

afterAll(async () => {
  await kw?.close();
  dns?.stop();
});

async function lego(args: string[], path: string): Promise<string> {
  // Global flags must come before the command (ACME-CLIENTS.md).
  const { stdout, stderr } = await run(
    "lego",
    ["--server", `${kw.url}/acme/directory`, "--accept-tos", "--email", "ops@example.com", "--path", path, ...args],
    {
      timeout: 120_000,
    },
  );
  return stdout + stderr;
}

function verify(certFile: string, name: string): string {
  const pem = readFileSync(certFile, "utf8");
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g)!;
  const leaf = writeFile(kw.dir, `${name}-leaf.pem`, blocks[0]!);
  const chain = writeFile(kw.dir, `${name}-chain.pem`, blocks.slice(1).join(""));
  return openssl(["verify", "-CAfile", rootFile, "-untrusted", chain, leaf]);
}

async function ocspStatus(name: string): Promise<string> {
  return opensslAsync([
    "ocsp",
    "-issuer",
    join(kw.dir, `${name}-chain.pem`),
    "-cert",
    join(kw.dir, `${name}-leaf.pem`),
    "-url",
    `${kw.url}/ocsp`,
    "-CAfile",
    rootFile,
    "-verify_other",
    join(kw.dir, `${name}-chain.pem`),
  ]);
}

describe("lego", () => {
  it.each(["ec256", "ec384", "rsa2048"])("issues with %s keys over http-01, renews, and revokes", async (keyType) => {
    const name = `lego-${keyType}.example.com`;
    const path = join(kw.dir, `lego-${keyType}`);
    const flags = ["-k", keyType, "-d", name, "--http", "--http.port", `127.0.0.1:${http01Port}`];
    await lego([...flags, "run"], path);
    const certFile = join(path, "certificates", `${name}.crt`);
    expect(verify(certFile, `lego-${keyType}`)).toContain(": OK");
    const first = openssl(["x509", "-noout", "-serial", "-in", certFile]);

    await lego([...flags, "renew", "--days", "400", "--no-random-sleep"], path);
    const renewed = openssl(["x509", "-noout", "-serial", "-in", certFile]);
    expect(renewed).not.toBe(first);
    expect(verify(certFile, `lego-${keyType}`)).toContain(": OK");

    await lego(["-d", name, "revoke", "--reason", "1"], path);
    const status = await ocspStatus(`lego-${keyType}`);
    expect(status).toContain("Response verify OK");
    expect(status).toContain(": revoked");
    expect(status).toContain("Reason: keyCompromise");
  });

  it("issues over tls-alpn-01 (RFC 8737) with lego's built-in TLS server", async () => {
    const name = "lego-tls.example.com";
    const path = join(kw.dir, "lego-tls");
    await lego(["-k", "ec256", "-d", name, "--tls", "--tls.port", `127.0.0.1:${tlsAlpn01Port}`, "run"], path);
    expect(verify(join(path, "certificates", `${name}.crt`), "lego-tls")).toContain(": OK");
  });

  it("issues a wildcard over dns-01 with the exec hook", async () => {
    const hook = writeFile(
      kw.dir,
      "hook.sh",
      `#!/bin/sh\ncase "$1" in present) curl -s -X POST -d "{\\"host\\":\\"$2\\",\\"value\\":\\"$3\\"}" ${dns.management}/set-txt ;; cleanup) curl -s -X POST -d "{\\"host\\":\\"$2\\"}" ${dns.management}/clear-txt ;; esac\n`,
    );
    await run("chmod", ["+x", hook]);
    const path = join(kw.dir, "lego-wild");
    const { stdout, stderr } = await run(
      "lego",
      [
        "--server",
        `${kw.url}/acme/directory`,
        "--accept-tos",
        "--email",
        "ops@example.com",
        "--path",
        path,
        "-d",
        "*.wild.example.com",
        "--dns",
        "exec",
        "--dns.resolvers",
        dns.dns,
        "--dns.disable-cp",
        "run",
      ],
      {
        env: {
          ...process.env,
          EXEC_PATH: hook,
          EXEC_SEQUENCE_INTERVAL: "1",
          EXEC_PROPAGATION_TIMEOUT: "10",
          EXEC_POLLING_INTERVAL: "1",
        },
        timeout: 120_000,
      },
    );
    expect(stdout + stderr).not.toContain("error");
    expect(verify(join(path, "certificates", "_.wild.example.com.crt"), "lego-wild")).toContain(": OK");
  });
});

describe("certbot", () => {
  it("gets a certificate standalone, renews it, and revokes by account key and by certificate key", async () => {
    const base = join(kw.dir, "certbot");
    const common = [
      "--config-dir",
      `${base}/config`,
      "--work-dir",
      `${base}/work`,
      "--logs-dir",
      `${base}/logs`,
      "-n",
      "--server",
      `${kw.url}/acme/directory`,
    ];
    const certbot = (args: string[]) => run("certbot", [...common, ...args], { timeout: 180_000 });
    const standalone = ["--standalone", "--http-01-port", String(http01Port), "--http-01-address", "127.0.0.1"];
    await certbot([
      "--agree-tos",
      "--register-unsafely-without-email",
      "certonly",
      ...standalone,
      "-d",
      "certbot.example.com",
    ]);
    const live = `${base}/config/live/certbot.example.com`;
    expect(verify(`${live}/fullchain.pem`, "certbot")).toContain(": OK");

    await certbot([
      "renew",
      "--cert-name",
      "certbot.example.com",
      "--force-renewal",
      "--no-random-sleep-on-renew",
      ...standalone,
    ]);
    expect(verify(`${live}/fullchain.pem`, "certbot-renewed")).toContain(": OK");
    const renewedSerial = openssl(["x509", "-noout", "-serial", "-in", `${live}/cert.pem`]);

    await certbot([
      "revoke",
      "--cert-path",
      `${live}/cert.pem`,
      "--reason",
      "keycompromise",
      "--no-delete-after-revoke",
    ]);
    expect(await ocspStatus("certbot-renewed")).toContain("Reason: keyCompromise");

    // A second certificate, revoked with its own key (jwk in the JWS, no account).
    await certbot(["certonly", ...standalone, "-d", "certbot2.example.com"]);
    const live2 = `${base}/config/live/certbot2.example.com`;
    expect(verify(`${live2}/fullchain.pem`, "certbot2")).toContain(": OK");
    await certbot([
      "revoke",
      "--cert-path",
      `${live2}/cert.pem`,
      "--key-path",
      `${live2}/privkey.pem`,
      "--no-delete-after-revoke",
    ]);
    expect(await ocspStatus("certbot2")).toContain(": revoked");
    expect(renewedSerial).toMatch(/^serial=/);
  });
});
