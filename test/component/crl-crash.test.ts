import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keyward, serve } from "../helpers/cli.js";
import { freePort, openssl, opensslCsr, writeFile } from "../helpers/keyward.js";
import { createTestToken, type TestToken } from "../helpers/softhsm.js";

/**
 * Issue 22, finding 2: the CRL re-sign after a revocation used to be an in-memory timer only, so
 * a crash inside `revocation.crlDebounceMs` left an acknowledged revocation out of the CRL until
 * half-life. The revocation now marks its CRL due in its own transaction; startup re-signs it.
 */
let token: TestToken;
let admin: string;
let server: Awaited<ReturnType<typeof serve>> | undefined;

beforeAll(async () => {
  token = createTestToken("keyward");
  // A debounce far longer than the test: only the durable mark can bring the revocation to the CRL.
  writeFileSync(join(token.dir, "keyward.yaml"), "revocation:\n  crlDebounceMs: 600000\n");
  expect((await keyward(token, ["init"])).code).toBe(0);
  admin = (await keyward(token, ["token", "create", "--role", "admin"])).stdout.trim();
}, 120_000);

afterAll(async () => {
  if (server?.child.exitCode === null) await server.stop();
  token?.cleanup();
});

const api = (url: string, path: string, body?: unknown) =>
  fetch(`${url}${path}`, {
    method: body ? "POST" : "GET",
    headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  });

async function crlNumber(url: string): Promise<number> {
  const der = writeFile(
    token.dir,
    "now.crl",
    Buffer.from(await (await fetch(`${url}/crl/intermediate.crl`)).arrayBuffer()),
  );
  return Number(
    /X509v3 CRL Number:\s*\n\s*(\d+)/.exec(openssl(["crl", "-inform", "DER", "-in", der, "-noout", "-text"]))![1],
  );
}

describe("a revocation acknowledged just before a crash", () => {
  it("is in the CRL after a restart: openssl verify -crl_check rejects the certificate", async () => {
    const port = await freePort();
    server = await serve(token, port);
    const { csr } = opensslCsr(token.dir, "crashed");
    const issued = (await (await api(server.url, "/api/v1/certificates", { csr, profile: "server" })).json()) as {
      serial: string;
      certificate: string;
      chain: string;
    };
    const before = await crlNumber(server.url);
    const revoked = await api(server.url, `/api/v1/certificates/${issued.serial}/revoke`, { reason: "keyCompromise" });
    expect(revoked.status).toBe(200);
    server.child.kill("SIGKILL");
    await new Promise((r) => server!.child.once("exit", r));

    server = await serve(token, port);
    // The startup sweep re-signs the due CRL; give it a few seconds on a loaded machine.
    let number = before;
    for (let i = 0; i < 100 && number === before; i++) {
      await new Promise((r) => setTimeout(r, 200));
      number = await crlNumber(server.url);
    }
    expect(number).toBeGreaterThan(before);

    const crlPem = join(token.dir, "after.crl.pem");
    openssl(["crl", "-inform", "DER", "-in", join(token.dir, "now.crl"), "-out", crlPem]);
    const cert = writeFile(token.dir, "crashed.pem", issued.certificate);
    const chain = writeFile(token.dir, "crashed-chain.pem", issued.chain);
    const root = writeFile(token.dir, "root.pem", await (await fetch(`${server.url}/ca/root.pem`)).text());
    const verify = spawnSync(
      "openssl",
      ["verify", "-crl_check", "-CRLfile", crlPem, "-CAfile", root, "-untrusted", chain, cert],
      { encoding: "utf8" },
    );
    expect(verify.stdout + verify.stderr).toContain("certificate revoked");
    expect(verify.status).not.toBe(0);
  }, 120_000);
});
