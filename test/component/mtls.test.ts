import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StorageError } from "../../src/errors/index.js";
import { createApp } from "../../src/http/app.js";
import { listen, type RunningServer } from "../../src/http/server.js";
import { certificatePem } from "../../src/pki/pem.js";
import { opensslCsr, startKeyward, type TestKeyward, testActor } from "../helpers/keyward.js";

let kw: TestKeyward;
let https: RunningServer;
let root: string;
let tls: { cert: string; key: string; ca: string[] };

async function issue(
  name: string,
  profile: string,
  options: { subj?: string; san?: string },
): Promise<{ serial: string; pem: string; key: string }> {
  const { csr, keyFile } = opensslCsr(kw.dir, name, options);
  const res = await kw.api("/api/v1/certificates", { body: { csr, profile } });
  expect(res.status).toBe(201);
  const body = (await res.json()) as { serial: string; certificate: string; chain: string };
  return { serial: body.serial, pem: body.certificate + body.chain, key: readFileSync(keyFile, "utf8") };
}

/** GET over HTTPS with an optional client certificate; trusts only our root. */
function get(
  path: string,
  client?: { pem: string; key: string },
  server: RunningServer = https,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${server.url}${path}`,
      { ca: root, ...(client ? { cert: client.pem, key: client.key } : {}) },
      (res) => {
        let body = "";
        res.on("data", (chunk) => (body += chunk));
        res.on("end", () => resolve({ status: res.statusCode!, body }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

beforeAll(async () => {
  kw = await startKeyward();
  root = await (await fetch(`${kw.url}/ca/root.pem`)).text();
  const server = await issue("localhost-tls", "server", { subj: "/CN=127.0.0.1", san: "IP:127.0.0.1" });
  const cas = await kw.services.ca.list();
  tls = { cert: server.pem, key: server.key, ca: cas.map((c) => certificatePem(c.certificate)) };
  https = await listen(createApp(kw.services, pino({ level: "silent" })), "127.0.0.1", 0, tls);
});

afterAll(async () => {
  await https?.close();
  await kw?.close();
});

describe("mTLS: client certificates we issued as an alternative to API tokens", () => {
  it("authenticates a bound, valid client certificate as its token, and nothing else", async () => {
    expect(https.url).toMatch(/^https:\/\/127\.0\.0\.1:/);
    const client = await issue("svc-mtls", "client", {});
    expect((await get("/api/v1/me")).status).toBe(401);

    const unbound = await get("/api/v1/me", client);
    expect(unbound.status).toBe(401);
    expect(JSON.parse(unbound.body).detail).toBe(
      `client certificate ${client.serial} is not bound to an active API token`,
    );

    await kw.services.tokens.create(
      { role: "requester", name: "svc-mtls", clientCertSerial: client.serial },
      testActor,
    );
    const me = await get("/api/v1/me", client);
    expect(me.status).toBe(200);
    expect(JSON.parse(me.body)).toMatchObject({ name: "svc-mtls", role: "requester", kind: "token" });

    // A certificate from another CA is not ours: the TLS layer does not vouch for it.
    const foreignKey = join(kw.dir, "foreign.key");
    const foreignCert = join(kw.dir, "foreign.pem");
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        foreignKey,
        "-out",
        foreignCert,
        "-subj",
        "/CN=intruder",
        "-days",
        "1",
      ],
      { stdio: "pipe" },
    );
    const foreign = await get("/api/v1/me", {
      pem: readFileSync(foreignCert, "utf8"),
      key: readFileSync(foreignKey, "utf8"),
    });
    expect(foreign.status).toBe(401);

    // Revoking the certificate ends its access at once.
    expect(
      (await kw.api(`/api/v1/certificates/${client.serial}/revoke`, { body: { reason: "keyCompromise" } })).status,
    ).toBe(200);
    const revoked = await get("/api/v1/me", client);
    expect(revoked.status).toBe(401);
    expect(JSON.parse(revoked.body).detail).toBe(
      `client certificate ${client.serial} is not valid here (unknown, revoked or expired)`,
    );
  });

  it("reports a database that cannot look the certificate up as unavailable, not as a refusal", async () => {
    const client = await issue("svc-mtls-outage", "client", {});
    await kw.services.tokens.create(
      { role: "requester", name: "svc-mtls-outage", clientCertSerial: client.serial },
      testActor,
    );
    const findCertificate = () => Promise.reject(new StorageError("database unreachable"));
    const outage = await listen(
      createApp({ ...kw.services, findCertificate }, pino({ level: "silent" })),
      "127.0.0.1",
      0,
      tls,
    );
    try {
      const res = await get("/api/v1/me", client, outage);
      expect(res.status).toBe(503);
      expect(JSON.parse(res.body).type).toBe("urn:keyward:problem:storage");
    } finally {
      await outage.close();
    }
  });
});
