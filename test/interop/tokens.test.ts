import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN } from "../helpers/cli.js";
import { freePort, openssl, opensslAsync, opensslCsr, writeFile } from "../helpers/keyward.js";
import { createTestToken } from "../helpers/softhsm.js";
import { type ForeignToken, missingFor, startOpencryptokiToken, startTpm2Token } from "../helpers/tokens.js";

/**
 * "Any PKCS#11 token", proven: the same run on SoftHSM2, on tpm2-pkcs11 over a software TPM and on
 * opencryptoki's soft token, each started here on 127.0.0.1 with its own state and stopped after.
 * Keyward runs as operators run it (the built CLI and `keyward serve`); what it makes is checked
 * with openssl. Each run prints `keyward hsm check` and issuance and OCSP rates (for the notes).
 */
const execFileAsync = promisify(execFile);

interface Case {
  start(): Promise<ForeignToken>;
  missing?: string;
  rootKey: string;
  intermediateKey: string;
  /**
   * kms.protection for the run, and where new secrets end up with it: AES keys, HMAC keys and
   * imported secrets (TOTP seeds). `auto` seals what the token cannot hold.
   */
  protection: "token" | "auto";
  aes: "token" | "sealed";
  hmac: "token" | "sealed";
  seeds: "token" | "sealed";
  /** The type Keyward's own statement signers (audit, KMS revoked list, backups) take on this token. */
  serviceKey: "p256" | "rsa2048";
}

async function softhsm(): Promise<ForeignToken> {
  const token = createTestToken("keyward-softhsm");
  return {
    name: "SoftHSM2",
    modulePath: token.modulePath,
    label: token.tokenLabel,
    pin: token.pin,
    dir: token.dir,
    env: { SOFTHSM2_CONF: token.conf },
    command: (command, args) => [command, args],
    stop: async () => token.cleanup(),
  };
}

const CASES: Array<[string, Case]> = [
  [
    "SoftHSM2",
    {
      start: softhsm,
      rootKey: "p384",
      intermediateKey: "p256",
      protection: "token",
      aes: "token",
      hmac: "token",
      seeds: "token",
      serviceKey: "p256",
    },
  ],
  [
    "tpm2-pkcs11 on swtpm",
    {
      start: startTpm2Token,
      missing: missingFor("tpm2"),
      rootKey: "p384",
      intermediateKey: "p256",
      // No secret keys of any kind: everything sealed by an RSA key pair in the TPM.
      protection: "auto",
      aes: "sealed",
      hmac: "sealed",
      seeds: "sealed",
      serviceKey: "p256",
    },
  ],
  [
    "opencryptoki soft token",
    {
      start: startOpencryptokiToken,
      missing: missingFor("opencryptoki"),
      // No EC at all: RSA-2048 (the token has no CKM_SHA256_RSA_PKCS: signed with the DigestInfo fallback).
      rootKey: "rsa3072",
      intermediateKey: "rsa2048",
      // HMAC keys and imported seeds in the token; no CKM_AES_GCM: AES keys sealed.
      protection: "auto",
      aes: "sealed",
      hmac: "token",
      seeds: "token",
      // The issuing CA's type: the token has no EC.
      serviceKey: "rsa2048",
    },
  ],
];

// A machine without the packages skips a token with the reason; CI (CI=true) must have them all.
const skipped = (c: Case) => c.missing !== undefined && process.env.CI !== "true";

describe.each(CASES)("on %s", (_name, c) => {
  let token: ForeignToken;
  let server: ChildProcess | undefined;
  let url: string;
  let admin: string;
  let env: NodeJS.ProcessEnv;
  let work: string;

  const keyward = async (args: string[], input?: string, extraEnv: NodeJS.ProcessEnv = {}) => {
    const [cmd, argv] = token.command(process.execPath, [BIN, ...args]);
    try {
      const pending = execFileAsync(cmd, argv, { env: { ...env, ...extraEnv }, maxBuffer: 16 * 1024 * 1024 });
      pending.child.stdin?.end(input ?? "");
      const { stdout, stderr } = await pending;
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };
  const api = (path: string, body?: unknown, method?: string) =>
    fetch(`${url}${path}`, {
      method: method ?? (body === undefined ? "GET" : "POST"),
      headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  beforeAll(async () => {
    if (skipped(c)) return;
    if (c.missing) throw new Error(c.missing);
    token = await c.start();
    work = join(token.dir, "keyward");
    mkdirSync(work, { recursive: true });
    writeFileSync(join(work, "pin"), `${token.pin}\n`, { mode: 0o600 });
    const port = await freePort();
    env = { ...process.env, ...token.env };
    if (!token.env.SOFTHSM2_CONF) delete env.SOFTHSM2_CONF;
    Object.assign(env, {
      KEYWARD_DATA_DIR: work,
      KEYWARD_HSM_MODULE: token.modulePath,
      KEYWARD_HSM_TOKEN: token.label,
      KEYWARD_HSM_PIN_SOURCE: `file:${join(work, "pin")}`,
      KEYWARD_LISTEN: `127.0.0.1:${port}`,
      KEYWARD_LOG_LEVEL: "warn",
      KEYWARD_KMS_PROTECTION: c.protection,
    });
  }, 180_000);

  afterAll(async () => {
    if (server && server.exitCode === null) {
      await new Promise((resolve) => {
        server!.once("exit", resolve);
        server!.kill("SIGTERM");
      });
    }
    await token?.stop();
  });

  it.skipIf(skipped(c))("keyward hsm check says what the token can do", async () => {
    const check = await keyward(["hsm", "check"]);
    expect(check.code, check.stderr).toBe(0);
    process.stdout.write(`\n--- keyward hsm check on ${token.name}\n${check.stdout}\n`);
    const json = JSON.parse((await keyward(["hsm", "check", "--json"])).stdout) as { keyTypes: string[] };
    expect(json.keyTypes).toEqual(expect.arrayContaining([c.rootKey, c.intermediateKey]));
  });

  it.skipIf(skipped(c))("init, then issuance that openssl verifies", async () => {
    const init = await keyward(["init", "--root-key", c.rootKey, "--intermediate-key", c.intermediateKey]);
    expect(init.code, init.stderr).toBe(0);
    const [cmd, argv] = token.command(process.execPath, [BIN, "serve", "--json", "--workers", "1"]);
    server = spawn(cmd, argv, { env, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    server.stderr!.on("data", (d) => (stderr += d));
    url = await new Promise<string>((resolve, reject) => {
      let out = "";
      server!.stdout!.on("data", (d) => {
        out += d;
        const match = /"url":\s*"([^"]+)"/.exec(out);
        if (match) resolve(match[1]!);
      });
      server!.once("exit", (code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
    });
    const created = await keyward(["token", "create", "--role", "admin", "--json"]);
    expect(created.code, created.stderr).toBe(0);
    admin = JSON.parse(created.stdout).token;

    writeFile(work, "root.pem", await (await fetch(`${url}/ca/root.pem`)).text());
    const { csr } = opensslCsr(work, "www");
    const res = await api("/api/v1/certificates", { csr, profile: "server" });
    expect(res.status, await res.clone().text()).toBe(201);
    const issued = (await res.json()) as { certificate: string; chain: string };
    writeFile(work, "www.pem", issued.certificate);
    writeFile(work, "chain.pem", issued.chain);
    writeFile(work, "issuer.pem", issued.chain.split(/(?<=-----END CERTIFICATE-----\n?)/)[0]!);
    expect(
      openssl([
        "verify",
        "-CAfile",
        join(work, "root.pem"),
        "-untrusted",
        join(work, "chain.pem"),
        join(work, "www.pem"),
      ]),
    ).toContain("www.pem: OK");
  });

  const ocsp = (name: string) =>
    opensslAsync([
      "ocsp",
      ...["-issuer", join(work, "issuer.pem"), "-cert", join(work, `${name}.pem`)],
      ...["-url", `${url}/ocsp`, "-CAfile", join(work, "root.pem"), "-verify_other", join(work, "chain.pem")],
    ]);

  it.skipIf(skipped(c))("OCSP good, then revoked, as openssl reads and verifies it", async () => {
    const good = await ocsp("www");
    expect(good).toContain("Response verify OK");
    expect(good).toContain("www.pem: good");
    const serial = openssl(["x509", "-in", join(work, "www.pem"), "-noout", "-serial"])
      .split("=")[1]!
      .trim();
    const revoke = await api(`/api/v1/certificates/${serial.toLowerCase()}/revoke`, { reason: "keyCompromise" });
    expect(revoke.status, await revoke.clone().text()).toBe(200);
    const revoked = await ocsp("www");
    expect(revoked).toContain("Response verify OK");
    expect(revoked).toContain("www.pem: revoked");
  });

  it.skipIf(skipped(c))("a CRL signed in the token that openssl verifies and that lists the revocation", async () => {
    const signed = await keyward(["crl", "intermediate", "--out", join(work, "int.crl")]);
    expect(signed.code, signed.stderr).toBe(0);
    const text = openssl([
      "crl",
      ...["-inform", "DER", "-in", join(work, "int.crl"), "-CAfile", join(work, "issuer.pem"), "-noout", "-text"],
    ]);
    const serial = openssl(["x509", "-in", join(work, "www.pem"), "-noout", "-serial"])
      .split("=")[1]!
      .trim();
    expect(text).toContain(`Serial Number: ${serial}`);
    expect(
      openssl(["crl", "-inform", "DER", "-in", join(work, "int.crl"), "-CAfile", join(work, "issuer.pem"), "-noout"]),
    ).toBe("");
  });

  it.skipIf(skipped(c))(
    "an audit checkpoint signed in the token with the CA's key type, and audit verify",
    async () => {
      const checkpoint = await keyward(["audit", "checkpoint"]);
      expect(checkpoint.code, checkpoint.stderr).toBe(0);
      const verify = await keyward(["audit", "verify"]);
      expect(verify.code, `${verify.stdout}${verify.stderr}`).toBe(0);
      expect(verify.stdout).toMatch(/OK: \d+ events, [1-9]\d* signed tree heads/);
      // The signer's certificate (from the export) carries the type the token could make.
      const exported = await keyward(["audit", "export", "--out", join(work, "audit.jsonl")]);
      expect(exported.code, exported.stderr).toBe(0);
      const head = readFileSync(join(work, "audit.jsonl"), "utf8")
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as { type: string; chain?: string[] })
        .find((line) => line.chain);
      expect(head?.chain?.length).toBeGreaterThan(1);
      const { X509Certificate } = await import("node:crypto");
      const signer = new X509Certificate(head!.chain![0]!).publicKey;
      expect(signer.asymmetricKeyType).toBe(c.serviceKey === "p256" ? "ec" : "rsa");
    },
  );

  it.skipIf(skipped(c))("the KMS revoked-key list is signed with the token's type and verifies (jose)", async () => {
    const res = await fetch(`${url}/kms/revoked`);
    expect(res.status, await res.clone().text()).toBe(200);
    const jws = await res.text();
    const jose = await import("jose");
    const { alg, x5c } = jose.decodeProtectedHeader(jws);
    expect(alg).toBe(c.serviceKey === "p256" ? "ES256" : "RS256");
    const pem = `-----BEGIN CERTIFICATE-----\n${x5c![0]!.match(/.{1,64}/g)!.join("\n")}\n-----END CERTIFICATE-----\n`;
    const { payload } = await jose.compactVerify(jws, await jose.importX509(pem, alg!));
    expect(JSON.parse(new TextDecoder().decode(payload)).keys).toEqual([]);
  });

  it.skipIf(skipped(c))("KMS keys in the token or sealed by a token key: create, encrypt/decrypt, MAC", async () => {
    if (c.aes === "sealed") {
      // kms.protection token never falls back to sealed: refused, naming what the token lacks.
      const strict = await keyward(["key", "create", "--name", "strict", "--algorithm", "AES-256"], undefined, {
        KEYWARD_KMS_PROTECTION: "token",
      });
      expect(strict.code).toBe(2);
      expect(strict.stderr).toContain("CKM_AES_GCM");
      expect(strict.stderr).toContain('kms.protection is "token"');
    }
    const aes = await api("/api/v1/keys", { name: "aes", algorithm: "AES-256" });
    expect(aes.status, await aes.clone().text()).toBe(201);
    const aesKey = (await aes.json()) as { id: string; protection: string; versions: Array<{ protection: string }> };
    expect(aesKey.protection).toBe(c.aes);
    expect(aesKey.versions[0]!.protection).toBe(c.aes);
    const plaintext = Buffer.from("attack at dawn").toString("base64");
    const encrypted = await api(`/api/v1/keys/${aesKey.id}/encrypt`, { plaintext });
    expect(encrypted.status, await encrypted.clone().text()).toBe(200);
    const { ciphertext } = (await encrypted.json()) as { ciphertext: string };
    const decrypted = await api(`/api/v1/keys/${aesKey.id}/decrypt`, { ciphertext });
    expect(decrypted.status, await decrypted.clone().text()).toBe(200);
    expect(((await decrypted.json()) as { plaintext: string }).plaintext).toBe(plaintext);
    // An altered ciphertext does not authenticate (400), sealed or not.
    const parts = ciphertext.split(".");
    parts[3] = Buffer.from("attack at dusk").toString("base64url");
    const altered = await api(`/api/v1/keys/${aesKey.id}/decrypt`, { ciphertext: parts.join(".") });
    expect(altered.status).toBe(400);

    const hmac = await api("/api/v1/keys", { name: "mac", algorithm: "HMAC-SHA256" });
    expect(hmac.status, await hmac.clone().text()).toBe(201);
    const hmacKey = (await hmac.json()) as { id: string; protection: string };
    expect(hmacKey.protection).toBe(c.hmac);
    const data = Buffer.from("message").toString("base64");
    const mac = await api(`/api/v1/keys/${hmacKey.id}/mac`, { data });
    expect(mac.status, await mac.clone().text()).toBe(200);
    const made = (await mac.json()) as { mac: string; version: number };
    const verified = await api(`/api/v1/keys/${hmacKey.id}/verify`, { data, mac: made.mac, version: made.version });
    expect(await verified.json()).toMatchObject({ valid: true });
    const wrong = await api(`/api/v1/keys/${hmacKey.id}/verify`, {
      data: Buffer.from("other").toString("base64"),
      mac: made.mac,
      version: made.version,
    });
    expect(await wrong.json()).toMatchObject({ valid: false });

    const listed = await keyward(["key", "list"]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`aes\\s+AES-256\\s+\\S+\\s+${c.aes}`));
  });

  it.skipIf(skipped(c))(
    "a person with TOTP logs in and an EAB key is made, in the token or sealed by a token key",
    async () => {
      const created = await keyward(
        ["user", "create", "--name", "olivia", "--role", "auditor", "--password-stdin", "--json"],
        "a long enough password\n",
      );
      expect(created.code, created.stderr).toBe(0);
      const { totpCode, base32Decode } = await import("../../src/access/totp.js");
      const secret = new URL(JSON.parse(created.stdout).otpauthUri).searchParams.get("secret")!;
      const login = (otp: string) =>
        fetch(`${url}/api/v1/auth/login`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ name: "olivia", password: "a long enough password", otp }),
        });
      const ok = await login(totpCode(base32Decode(secret), new Date()));
      expect(ok.status, await ok.clone().text()).toBe(200);
      // An ACME EAB key (a shared HMAC secret like the seed) follows the same rule.
      const eab = await keyward(["acme", "eab", "create", "--name", "olivia-acme", "--json"]);
      expect(eab.code, eab.stderr).toBe(0);
      expect(JSON.parse(eab.stdout).hmacKey).toMatch(/^[A-Za-z0-9_-]{43}$/);
      // Where the seed is: its handle in the users table names a token object or a sealed key.
      const Database = (await import("better-sqlite3")).default;
      const db = new Database(join(work, "keyward.db"), { readonly: true });
      try {
        const row = db.prepare("select totp_key_uri as uri from users where name = 'olivia'").get() as { uri: string };
        expect(row.uri.startsWith("keyward-sealed:") ? "sealed" : "token").toBe(c.seeds);
        const eabRow = db.prepare("select key_uri as uri from acme_eab_keys").get() as { uri: string };
        expect(eabRow.uri.startsWith("keyward-sealed:") ? "sealed" : "token").toBe(c.seeds);
        const sealed = db.prepare("select count(*) as n from sealed_keys").get() as { n: number };
        // Sealed keys exist exactly where this token needed them (AES keys and, on the TPM, HMAC and seeds).
        expect(sealed.n > 0).toBe(c.seeds === "sealed" || c.aes === "sealed" || c.hmac === "sealed");
      } finally {
        db.close();
      }
    },
  );

  it.skipIf(skipped(c))("issuance and OCSP rates (printed for the notes)", async () => {
    const csrs = Array.from({ length: 20 }, (_, i) => opensslCsr(work, `rate-${i}`).csr);
    let started = performance.now();
    for (let i = 0; i < csrs.length; i += 4) {
      const batch = csrs.slice(i, i + 4).map((csr) => api("/api/v1/certificates", { csr, profile: "server" }));
      for (const res of await Promise.all(batch)) expect(res.status).toBe(201);
    }
    const issuance = csrs.length / ((performance.now() - started) / 1000);
    const request = openssl([
      "ocsp",
      ...[
        "-issuer",
        join(work, "issuer.pem"),
        "-cert",
        join(work, "www.pem"),
        "-no_nonce",
        "-reqout",
        join(work, "req.der"),
      ],
    ]);
    expect(request).toBe("");
    const body = readFileSync(join(work, "req.der"));
    started = performance.now();
    const n = 200;
    for (let i = 0; i < n; i += 10) {
      const answers = await Promise.all(
        Array.from({ length: 10 }, () =>
          fetch(`${url}/ocsp`, { method: "POST", headers: { "content-type": "application/ocsp-request" }, body }),
        ),
      );
      for (const a of answers) expect(a.status).toBe(200);
    }
    const ocspRate = n / ((performance.now() - started) / 1000);
    process.stdout.write(
      `\n--- rates on ${token.name}: issuance ${issuance.toFixed(1)}/s (4 concurrent), OCSP ${ocspRate.toFixed(0)}/s (10 concurrent, pre-signed)\n`,
    );
  });
});
