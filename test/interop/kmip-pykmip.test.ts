import { execFile } from "node:child_process";
import { webcrypto } from "node:crypto";
import { createServer, type Server } from "node:http";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import * as x509 from "@peculiar/x509";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { opensslCsr, startKeyward, type TestKeyward, testActor, writeFile } from "../helpers/keyward.js";

const run = promisify(execFile);
const SCRIPT = join(import.meta.dirname, "kmip-pykmip.py");

let kw: TestKeyward;
let port: number;

const crypto = webcrypto as unknown as Crypto;
const EC = { name: "ECDSA", namedCurve: "P-256" } as const;
const SIGN = { name: "ECDSA", hash: "SHA-256" } as const;

/** A CA that is not Keyward's (a company's own PKI): a self-signed root that issues client certificates. */
async function outsideCa(name: string, parent?: { certificate: x509.X509Certificate; keys: CryptoKeyPair }) {
  const keys = await crypto.subtle.generateKey(EC, true, ["sign", "verify"]);
  const common = {
    signingAlgorithm: SIGN,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
    ],
  };
  const certificate = parent
    ? await x509.X509CertificateGenerator.create(
        {
          ...common,
          subject: `CN=${name}`,
          issuer: parent.certificate.subject,
          publicKey: keys.publicKey,
          signingKey: parent.keys.privateKey,
        },
        crypto,
      )
    : await x509.X509CertificateGenerator.createSelfSigned({ ...common, name: `CN=${name}`, keys }, crypto);
  let serial = 0x100000 + Math.floor(Math.random() * 0xffffff);
  return {
    certificate,
    keys,
    /** A client certificate (with its key, PEM) for a SAN URI; its chain up to the root follows it. */
    async issue(cn: string, uri: string, serialNumber?: string) {
      const leafKeys = await crypto.subtle.generateKey(EC, true, ["sign", "verify"]);
      const leaf = await x509.X509CertificateGenerator.create(
        {
          serialNumber: serialNumber ?? (serial++).toString(16),
          subject: `CN=${cn}`,
          issuer: certificate.subject,
          publicKey: leafKeys.publicKey,
          signingKey: keys.privateKey,
          signingAlgorithm: SIGN,
          notBefore: new Date(Date.now() - 60_000),
          notAfter: new Date(Date.now() + 86_400_000),
          extensions: [
            new x509.BasicConstraintsExtension(false, undefined, true),
            new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
            new x509.SubjectAlternativeNameExtension([{ type: "url", value: uri }]),
            await x509.AuthorityKeyIdentifierExtension.create(certificate, false, crypto),
          ],
        },
        crypto,
      );
      const pkcs8 = Buffer.from(await crypto.subtle.exportKey("pkcs8", leafKeys.privateKey));
      const key = `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString("base64")}\n-----END PRIVATE KEY-----\n`;
      const chain = parent ? certificate.toString("pem") : "";
      return { serial: leaf.serialNumber, cert: `${leaf.toString("pem")}\n${chain}`, key };
    },
    /** Its CRL (DER) revoking these serials. */
    async crl(revoked: string[]) {
      const made = await x509.X509CrlGenerator.create(
        {
          issuer: certificate.subject,
          thisUpdate: new Date(Date.now() - 60_000),
          nextUpdate: new Date(Date.now() + 3_600_000),
          signingAlgorithm: SIGN,
          signingKey: keys.privateKey,
          entries: revoked.map((serialNumber) => ({ serialNumber, revocationDate: new Date(Date.now() - 1000) })),
          extensions: [await x509.AuthorityKeyIdentifierExtension.create(certificate, false, crypto)],
        },
        crypto,
      );
      return Buffer.from(made.rawData);
    },
  };
}

let outside: Awaited<ReturnType<typeof outsideCa>>;
let crlServer: Server;
let outsideCrl: Buffer;

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
  const config = await pykmipConfig(name, cert, keyFile);
  return { serial: body.serial, config, cert, key: keyFile };
}

/** PyKMIP's ProxyKmipClient reads its settings from a config file: one per client, in the temp dir. */
async function pykmipConfig(name: string, cert: string, keyFile: string): Promise<string> {
  const ca = writeFile(kw.dir, "root.pem", await (await fetch(`${kw.url}/ca/root.pem`)).text());
  return writeFile(
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
}

/** A PyKMIP config for a certificate of an outside CA. */
async function outsideClient(ca: Awaited<ReturnType<typeof outsideCa>>, name: string, uri: string, serial?: string) {
  const issued = await ca.issue(name, uri, serial);
  const cert = writeFile(kw.dir, `${name}.pem`, issued.cert);
  const key = writeFile(kw.dir, `${name}.key`, issued.key);
  return { serial: issued.serial, config: await pykmipConfig(name, cert, key) };
}

/** Runs a scenario of the Python script with PyKMIP (asynchronously: the server shares this event loop). */
async function pykmip(config: string, scenario: string, prefix = ""): Promise<Record<string, unknown>> {
  const { stdout } = await run("/usr/bin/python3", [SCRIPT, config, scenario, prefix], { timeout: 60_000 });
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
  // The outside CA's CRL is served over HTTP, as its own PKI would (read afresh: crlRefreshSeconds 0).
  outside = await outsideCa("Outside Corp Root");
  outsideCrl = await outside.crl([]);
  crlServer = createServer((_req, res) => res.end(outsideCrl));
  await new Promise<void>((resolve) => crlServer.listen(0, "127.0.0.1", resolve));
  const crlPort = (crlServer.address() as { port: number }).port;
  const anchorDir = mkdtempSync(join(tmpdir(), "kmip-anchor-"));
  const certFile = writeFile(anchorDir, "outside-root.pem", outside.certificate.toString("pem"));
  kw = await startKeyward({
    overrides: {
      kmip: {
        listen: "127.0.0.1:0",
        trustAnchors: [
          {
            certFile,
            crlUrl: `http://127.0.0.1:${crlPort}/root.crl`,
            crlRefreshSeconds: 0,
            clients: [{ name: "outside-app", role: "key-officer", uri: "urn:outside:kmip-app" }],
          },
        ],
      },
    },
  });
  const bound = await kw.services.kmip.start();
  port = bound!.port;
});

afterAll(async () => {
  await kw?.close();
  crlServer?.close();
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
    expect(r.locatedSecrets).toContain(r.secretUid);
    expect(r.locatedSecrets).not.toContain(r.keyUid);
    // Both are KMS keys: registered (audited so), in the token, the secret only as a distributable one.
    const key = await kw.services.keys.get(r.keyUid as string);
    expect(key).toMatchObject({ name: "kmip-registered-key", algorithm: "AES-256", distributable: true });
    const secret = await kw.services.keys.get(r.secretUid as string);
    expect(secret).toMatchObject({ name: "kmip-db-password", distributable: true });
    expect(secret.tags).toContain("kmip-secret-data");
    expect(secret.versions[0]!.keyUri).toMatch(/^pkcs11:/);
    // A rotation would put random bytes where the registered password was: refused, nothing added.
    await expect(kw.services.keys.rotate(secret.id, testActor)).rejects.toThrow(/holds registered secret data/);
    expect((await kw.services.keys.get(secret.id)).versions).toHaveLength(1);
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

  it("creates RSA and EC key pairs whose public key Get gives and whose private key never leaves", async () => {
    const officer = await client("kmip-pairs", "key-officer");
    const r = (await pykmip(officer.config, "keypair")) as Record<string, Record<string, unknown>>;
    for (const [label, algorithm, bits] of [
      ["rsa", "RSA-2048", 2048],
      ["ec", "ECDSA-P256", 256],
    ] as const) {
      const pair = r[label]!;
      expect(pair.publicUid).toBe(`${pair.privateUid}/public`);
      expect(pair.publicFormat).toBe("X_509");
      expect(pair.publicBits).toBe(bits);
      expect(pair.privateGet).toMatchObject({ reason: "PERMISSION_DENIED" });
      expect((pair.privateGet as { message: string }).message).toMatch(/never leaves/);
      expect(pair.types).toEqual(["PUBLIC_KEY", "PRIVATE_KEY"]);
      // Locate by the name finds both halves.
      expect(pair.located).toEqual([pair.privateUid, pair.publicUid]);
      // The KMS's own key pair: the public key is the one the API serves.
      const key = await kw.services.keys.get(pair.privateUid as string);
      expect(key).toMatchObject({ algorithm, purpose: "sign", distributable: false });
      expect(key.versions[0]!.publicKey!.toString("hex")).toBe(pair.publicHex);
    }
  }, 180_000);

  it("adds, modifies and deletes custom attributes, and renames a key with Modify Attribute Name", async () => {
    const officer = await client("kmip-attributes", "key-officer");
    const r = await pykmip(officer.config, "attributes");
    expect(r.afterAdd).toEqual(["x-Keyward-Version", "x-env", "x-owner"]);
    expect(r.envs).toEqual(["dr", "prod"]);
    expect(r.owner).toBe("payments");
    expect(r.envsAfterDelete).toEqual(["prod"]);
    expect(r.renamed).toBe("kmip-attr-renamed");
    expect(r.locatedRenamed).toEqual([r.uid]);
    expect(r.deleteState).toMatchObject({ reason: "ILLEGAL_OPERATION" });
    expect(r.addName).toMatchObject({ reason: "ILLEGAL_OPERATION" });
    // The rename is the KMS key's, and every change is audited with the client as the actor.
    expect((await kw.services.keys.get(r.uid as string)).name).toBe("kmip-attr-renamed");
    const actions = (await kw.services.audit.search({ limit: 1000 }))
      .filter((e) => e.actor.name === "kmip-attributes" && e.outcome === "success")
      .map((e) => e.action);
    expect(actions).toEqual(
      expect.arrayContaining(["kmip.attribute.add", "kmip.attribute.modify", "kmip.attribute.delete", "key.rename"]),
    );
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

  it("accepts a configured outside CA's client by its SAN URI, until its CRL revokes it; refuses any other CA at the handshake", async () => {
    const app = await outsideClient(outside, "outside-app", "urn:outside:kmip-app");
    const r = await pykmip(app.config, "register", "outside-");
    expect(r.secretBack).toBe("correct horse battery staple");
    const events = await kw.services.audit.search({ limit: 1000 });
    expect(events.some((e) => e.action === "key.register" && e.actor.name === "outside-app")).toBe(true);

    // The anchor's certificate, but not a client configured for it.
    const stranger = await outsideClient(outside, "outside-stranger", "urn:outside:someone-else");
    await expect(pykmip(stranger.config, "whoami")).rejects.toThrow(/not one of the clients configured/);

    // The outside CA revokes the client: its next message is refused.
    outsideCrl = await outside.crl([app.serial]);
    await expect(pykmip(app.config, "whoami")).rejects.toThrow(/revoked by its CA's CRL/);

    // A CA under the anchor (TLS accepts the chain) issues a certificate with the serial of a
    // Keyward certificate bound to a role: the serial alone does not make it that client.
    const victim = await client("kmip-victim", "key-officer");
    const sub = await outsideCa("Outside Issuing CA", outside);
    const forged = await outsideClient(sub, "kmip-forger", "urn:outside:forger", victim.serial);
    await expect(pykmip(forged.config, "whoami")).rejects.toThrow(/not the one Keyward issued/);

    // A CA nobody configured: TLS refuses the certificate (TLS 1.3: after the client's Finished, so
    // PyKMIP reads end-of-file instead of any KMIP answer), and nothing reaches the KMIP layer.
    const rogue = await outsideCa("Rogue Root");
    const intruder = await outsideClient(rogue, "rogue-app", "urn:outside:kmip-app");
    await expect(pykmip(intruder.config, "whoami")).rejects.toThrow(/No data read from socket|SSL|alert/);
    const after = await kw.services.audit.search({ limit: 1000 });
    expect(
      after.filter((e) => e.actor.name === "rogue-app" || e.details?.clientCertificate === intruder.serial),
    ).toEqual([]);
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
