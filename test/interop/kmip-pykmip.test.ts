import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { opensslCsr, startKeyward, type TestKeyward, testActor, writeFile } from "../helpers/keyward.js";

const run = promisify(execFile);
const SCRIPT = join(import.meta.dirname, "kmip-pykmip.py");

let kw: TestKeyward;
let port: number;

/** A kmip-client certificate issued by Keyward through the API, bound to a role (or not). */
async function client(
  name: string,
  role?: string,
): Promise<{ serial: string; config: string; cert: string; key: string }> {
  const { csr, keyFile } = opensslCsr(kw.dir, name, { subj: `/CN=${name}`, san: `URI:urn:keyward:kmip:${name}` });
  const res = await kw.api("/api/v1/certificates", { body: { csr, profile: "kmip-client" } });
  expect(res.status).toBe(201);
  const body = (await res.json()) as { serial: string; certificate: string; chain: string };
  if (role) await kw.services.tokens.create({ role, name, clientCertSerial: body.serial }, testActor);
  const cert = writeFile(kw.dir, `${name}.pem`, body.certificate + body.chain);
  const ca = writeFile(kw.dir, "root.pem", await (await fetch(`${kw.url}/ca/root.pem`)).text());
  // PyKMIP's ProxyKmipClient reads its settings from a config file: one per client, in the temp dir.
  const config = writeFile(
    kw.dir,
    `${name}.conf`,
    [
      "[client]",
      "host=127.0.0.1",
      `port=${port}`,
      `certfile=${cert}`,
      `keyfile=${keyFile}`,
      `ca_certs=${ca}`,
      "cert_reqs=CERT_REQUIRED",
      "ssl_version=PROTOCOL_SSLv23",
      "do_handshake_on_connect=True",
      "suppress_ragged_eofs=True",
      "",
    ].join("\n"),
  );
  return { serial: body.serial, config, cert, key: keyFile };
}

/** Runs a scenario of the Python script with PyKMIP (asynchronously: the server shares this event loop). */
async function pykmip(config: string, scenario: string): Promise<Record<string, unknown>> {
  const { stdout } = await run("/usr/bin/python3", [SCRIPT, config, scenario], { timeout: 60_000 });
  return JSON.parse(stdout.trim().split("\n").pop()!);
}

/** openssl s_client with stdin closed at once: it connects, shakes hands and quits. */
async function sClient(args: string[]): Promise<{ code: number; output: string }> {
  const pending = run("openssl", args, { timeout: 20_000 });
  pending.child.stdin?.end();
  try {
    const { stdout, stderr } = await pending;
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, output: `${e.stdout ?? ""}${e.stderr ?? ""}` };
  }
}

beforeAll(async () => {
  kw = await startKeyward({ overrides: { kmip: { listen: "127.0.0.1:0" } } });
  const bound = await kw.services.kmip.start();
  port = bound!.port;
});

afterAll(async () => {
  await kw?.close();
});

describe("KMIP with PyKMIP's ProxyKmipClient (python3-pykmip)", () => {
  it("creates, activates, locates, reads attributes, encrypts and decrypts in the token, revokes and destroys", async () => {
    const officer = await client("kmip-officer", "key-officer");
    const r = await pykmip(officer.config, "lifecycle");
    const uid = r.uid as string;
    expect(uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.located).toEqual([uid]);
    expect(r.locatedActiveAes).toContain(uid);
    expect(r.attributes).toEqual({
      Name: "kmip-demo-key",
      State: "ACTIVE",
      "Cryptographic Algorithm": "AES",
      "Cryptographic Length": 256,
      "Object Type": "SYMMETRIC_KEY",
    });
    expect(r.attributeList).toEqual(expect.arrayContaining(["Unique Identifier", "Name", "State", "Initial Date"]));
    // GCM: the ciphertext is the plaintext's length plus the 16-byte tag (KMIP 1.2 has no tag field).
    expect((r.ciphertextHex as string).length / 2).toBe("sixteen byte blk and then some more".length + 16);
    expect(r.decrypted).toBe("sixteen byte blk and then some more");
    expect(r.tampered).toMatchObject({ status: "OPERATION_FAILED", reason: "INVALID_FIELD" });
    expect(r.cbc).toMatchObject({ reason: "INVALID_FIELD" });
    expect((r.cbc as { message: string }).message).toMatch(/AES-GCM/);
    expect(r.getNotDistributable).toMatchObject({ reason: "PERMISSION_DENIED" });
    expect((r.getNotDistributable as { message: string }).message).toMatch(/not distributable/);
    expect(r.destroyActive).toMatchObject({ reason: "ILLEGAL_OPERATION" });
    expect(r.stateAfterRevoke).toBe("DEACTIVATED");
    // Deactivated keys still decrypt what they protected (SP 800-57), but encrypt no more.
    expect(r.decryptAfterRevoke).toBe("sixteen byte blk and then some more");
    expect(r.encryptAfterRevoke).toMatchObject({ reason: "ILLEGAL_OPERATION" });
    // Destroy schedules the destruction after kms.destroyWaitDays, as the API does.
    expect((r.afterDestroy as Record<string, string>)["x-Keyward-Destroy-After"]).toMatch(/^\d{4}-/);
    expect(r.unknown).toMatchObject({ reason: "ITEM_NOT_FOUND" });

    // The same key in the KMS, with the client's bound token as the actor of every change.
    const key = await kw.services.keys.get(uid);
    expect(key.name).toBe("kmip-demo-key");
    expect(key.versions[0]!.state).toBe("deactivated");
    expect(key.versions[0]!.destroyAfter).not.toBeNull();
    const mine = (await kw.services.audit.search({ limit: 1000 })).filter((e) => e.actor.name === "kmip-officer");
    const actions = mine.map((e) => e.action);
    expect(actions).toEqual(
      expect.arrayContaining([
        "key.create",
        "key.encrypt",
        "key.decrypt",
        "key.deactivated",
        "key.destroy.schedule",
        "kmip.locate",
      ]),
    );
    expect(mine.filter((e) => e.action === "kmip.get" && e.outcome === "denied")).toHaveLength(1);
  }, 120_000);

  it("gives a distributable key to Get (recorded as a distribution), and ReKey rotates it", async () => {
    const officer = await client("kmip-exporter", "key-officer");
    const r = await pykmip(officer.config, "distributable");
    expect(r.keyBits).toBe(128);
    expect(r.algorithm).toBe("AES");
    expect(r.openedByCryptography).toBe("opened elsewhere");
    expect(r.rekeyed).toBe(r.uid);
    expect(r.versionAfterRekey).toBe("2");
    expect(r.oldCiphertextAfterRekey).toBe("opened elsewhere");
    const distributions = await kw.services.distribution.list(r.uid as string);
    expect(distributions).toHaveLength(1);
    expect(distributions[0]).toMatchObject({ format: "kmip", recipientSerial: officer.serial });
  }, 120_000);

  it("registers a symmetric key and a secret, and gives them back only when they may leave", async () => {
    const officer = await client("kmip-registrar", "key-officer");
    const r = await pykmip(officer.config, "register");
    expect(r.openedWithRegistered).toBe("sealed by the token");
    expect(r.keyBack).toBe(true);
    expect(r.keptGet).toMatchObject({ reason: "PERMISSION_DENIED" });
    expect(r.aes192).toMatchObject({ reason: "INVALID_FIELD" });
    expect(r.secretBack).toBe("correct horse battery staple");
    expect(r.secretType).toBe("PASSWORD");
    expect(r.secretObjectType).toBe("SECRET_DATA");
    expect(r.locatedSecrets).toEqual([r.secretUid]);
    // Both are KMS keys: registered (audited so), in the token, the secret only as a distributable one.
    const key = await kw.services.keys.get(r.keyUid as string);
    expect(key).toMatchObject({ name: "kmip-registered-key", algorithm: "AES-256", distributable: true });
    const secret = await kw.services.keys.get(r.secretUid as string);
    expect(secret).toMatchObject({ name: "kmip-db-password", distributable: true });
    expect(secret.tags).toContain("kmip-secret-data");
    expect(secret.versions[0]!.keyUri).toMatch(/^pkcs11:/);
    const events = (await kw.services.audit.search({ limit: 1000 })).filter((e) => e.actor.name === "kmip-registrar");
    expect(events.filter((e) => e.action === "key.register")).toHaveLength(3);
    expect(events.filter((e) => e.action === "key.distribute")).toHaveLength(2);
    // The secret is nowhere in the clear under the data dir: not in the database, not in the token's files.
    const files = readdirSync(kw.dir, { recursive: true, withFileTypes: true }).filter((f) => f.isFile());
    expect(files.some((f) => /\.(db|sqlite)/.test(f.name))).toBe(true);
    for (const f of files) {
      expect(readFileSync(join(f.parentPath, f.name)).includes("correct horse")).toBe(false);
    }
  }, 120_000);

  it("refuses a role without the permission, an unbound certificate, and ends access when the certificate is revoked", async () => {
    const auditor = await client("kmip-auditor", "auditor");
    await expect(pykmip(auditor.config, "lifecycle")).rejects.toThrow(/PERMISSION_DENIED|lacks the permission/);

    const unbound = await client("kmip-unbound");
    await expect(pykmip(unbound.config, "whoami")).rejects.toThrow(/not bound to an active API token/);

    const app = await client("kmip-app", "requester");
    expect((await pykmip(app.config, "whoami")).located).toEqual(expect.any(Array));
    const revoked = await kw.api(`/api/v1/certificates/${app.serial}/revoke`, { body: { reason: "keyCompromise" } });
    expect(revoked.status).toBe(200);
    await expect(pykmip(app.config, "whoami")).rejects.toThrow(/revoked/);
  }, 120_000);

  it("requires a client certificate and TLS 1.2 or later (openssl s_client)", async () => {
    const officer = await client("kmip-tls", "key-officer");
    const connect = ["s_client", "-connect", `127.0.0.1:${port}`, "-CAfile", join(kw.dir, "root.pem")];
    const noCert = await sClient([...connect, "-tls1_2"]);
    expect(noCert.output).toMatch(/alert|handshake failure|certificate required/i);
    expect(noCert.code).not.toBe(0);
    const tls11 = await sClient([...connect, "-tls1_1"]);
    expect(tls11.output).toMatch(/no protocols available|protocol version|unsupported protocol|wrong version/i);
    expect(tls11.code).not.toBe(0);
    const ok = await sClient([
      ...connect,
      "-tls1_2",
      "-cert",
      officer.cert,
      "-key",
      officer.key,
      "-verify_return_error",
    ]);
    expect(ok.output).toMatch(/Verify return code: 0 \(ok\)/);
    expect(ok.code).toBe(0);
  }, 60_000);
});
