import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { keyward, serve } from "../helpers/cli.js";
import { freePort, openssl, opensslCmsDecrypt, opensslCsr, opensslOutput, writeFile } from "../helpers/keyward.js";
import { createTestToken, listTokenObjects, type TestToken } from "../helpers/softhsm.js";

const tokens: TestToken[] = [];

afterAll(() => {
  for (const t of tokens) t.cleanup();
});

function newToken(): TestToken {
  const token = createTestToken("keyward");
  tokens.push(token);
  return token;
}

describe("keyward init", () => {
  it("creates the CA once, refuses to overwrite it, and keeps keys non-extractable in the token", async () => {
    const token = newToken();
    const first = await keyward(token, ["init", "--json"]);
    expect(first.code).toBe(0);
    const created = JSON.parse(first.stdout) as {
      initialized: boolean;
      cas: Array<{ id: string; keyType: string; certificate: string }>;
    };
    expect(created.initialized).toBe(true);
    expect(created.cas.map((c) => [c.id, c.keyType])).toEqual([
      ["root", "p384"],
      ["intermediate", "p256"],
    ]);

    const second = await keyward(token, ["init", "--json"]);
    expect(second.code).toBe(0);
    const again = JSON.parse(second.stdout) as typeof created;
    expect(again.initialized).toBe(false);
    expect(again.cas.map((c) => c.certificate)).toEqual(created.cas.map((c) => c.certificate));

    const human = await keyward(token, ["init"]);
    expect(human.stdout).toContain("CA already initialised");

    const keys = listTokenObjects(token, "privkey");
    // init's events are covered by a signed audit tree head before it exits: the audit key exists too.
    expect(keys.map((k) => /label:\s+(\S+)/.exec(k)?.[1]).sort()).toEqual([
      "intermediate-ca",
      "keyward-audit",
      "root-ca",
      "ssh-host-ca",
      "ssh-user-ca",
    ]);
    for (const key of keys) expect(key).toMatch(/Access:\s+sensitive, always sensitive, never extractable, local/);
  });

  it.each([
    ["rsa3072", "p256", "sha256WithRSAEncryption"],
    ["ed25519", "p384", "ED25519"],
    ["p256", "rsa2048", "ecdsa-with-SHA256"],
  ])("creates a %s root with a %s intermediate that openssl verifies", async (rootKey, intermediateKey, rootSig) => {
    const token = newToken();
    const res = await keyward(token, ["init", "--json", "--root-key", rootKey, "--intermediate-key", intermediateKey]);
    expect(res.code).toBe(0);
    const { cas } = JSON.parse(res.stdout) as { cas: Array<{ certificate: string }> };
    const root = writeFile(token.dir, "root.pem", cas[0]!.certificate);
    const intermediate = writeFile(token.dir, "int.pem", cas[1]!.certificate);
    expect(openssl(["verify", "-CAfile", root, intermediate])).toContain(": OK");
    expect(openssl(["x509", "-in", intermediate, "-noout", "-text"])).toContain(`Signature Algorithm: ${rootSig}`);
  });

  it("reports a wrong PIN and a missing token clearly, without the PIN", async () => {
    const token = newToken();
    writeFile(token.dir, "bad.pin", "not-the-pin-5150\n");
    const wrong = await keyward(token, ["init"], { KEYWARD_HSM_PIN_SOURCE: `file:${join(token.dir, "bad.pin")}` });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain("HSM login refused: the PIN is incorrect (CKR_PIN_INCORRECT)");
    expect(wrong.stderr).not.toContain("not-the-pin-5150");
    const missing = await keyward(token, ["init"], { KEYWARD_HSM_TOKEN: "elsewhere" });
    expect(missing.stderr).toContain('no token labelled "elsewhere"');
    const noPin = await keyward(token, ["init"], { KEYWARD_HSM_PIN_SOURCE: "env:KEYWARD_TEST_NO_SUCH_VAR" });
    expect(noPin.stderr).toContain("environment variable KEYWARD_TEST_NO_SUCH_VAR is not set");
  });
});

describe("keyward serve, restarted on the same data dir", () => {
  it("keeps the CA and its certificates across a restart and issues again", async () => {
    const token = newToken();
    expect((await keyward(token, ["init"])).code).toBe(0);
    const admin = (await keyward(token, ["token", "create", "--role", "admin"])).stdout.trim();
    expect(admin).toMatch(/^kw_[A-Za-z0-9_-]{43}$/);

    const issue = async (url: string, name: string) => {
      const { csr } = opensslCsr(token.dir, name);
      const res = await fetch(`${url}/api/v1/certificates`, {
        method: "POST",
        headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
        body: JSON.stringify({ csr, profile: "server" }),
      });
      expect(res.status).toBe(201);
      return (await res.json()) as { serial: string; certificate: string; chain: string };
    };

    const port = await freePort();
    const first = await serve(token, port);
    const rootBefore = await (await fetch(`${first.url}/ca/root.pem`)).text();
    const a = await issue(first.url, "before");
    expect(await first.stop()).toBe(0);

    const second = await serve(token, port);
    try {
      const rootAfter = await (await fetch(`${second.url}/ca/root.pem`)).text();
      expect(rootAfter).toBe(rootBefore);
      const b = await issue(second.url, "after");
      const rootFile = writeFile(token.dir, "root.pem", rootAfter);
      for (const [name, cert] of [
        ["a", a],
        ["b", b],
      ] as const) {
        writeFile(token.dir, `chain-${name}.pem`, cert.chain);
        const leaf = writeFile(token.dir, `leaf-${name}.pem`, cert.certificate);
        expect(
          openssl(["verify", "-CAfile", rootFile, "-untrusted", join(token.dir, `chain-${name}.pem`), leaf]),
        ).toContain(": OK");
      }
      const old = await fetch(`${second.url}/api/v1/certificates/${a.serial}`, {
        headers: { authorization: `Bearer ${admin}` },
      });
      expect(((await old.json()) as { status: string }).status).toBe("valid");
    } finally {
      await second.stop();
    }
  });
});

describe("keyward serve shutdown", () => {
  it("on SIGTERM turns unready, keeps serving for the grace period, finishes in-flight requests, exits 0", async () => {
    const token = newToken();
    await keyward(token, ["init"]);
    const admin = (await keyward(token, ["token", "create", "--role", "admin"])).stdout.trim();
    const { csr } = opensslCsr(token.dir, "drain");
    const server = await serve(token, await freePort());
    // Twenty requests, each on its own connection, fully sent before SIGTERM: they are in flight.
    const body = JSON.stringify({ csr, profile: "server" });
    const sent: Array<Promise<void>> = [];
    const requests = Array.from(
      { length: 20 },
      () =>
        new Promise<number>((resolveStatus, reject) => {
          const req = httpRequest(`${server.url}/api/v1/certificates`, {
            method: "POST",
            agent: false,
            headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
          });
          sent.push(new Promise((ok) => req.once("finish", () => ok())));
          req.once("response", (res) => {
            res.resume();
            res.once("end", () => resolveStatus(res.statusCode ?? 0));
          });
          req.once("error", reject);
          req.end(body);
        }),
    );
    await Promise.all(sent);
    // Sent is not yet accepted: give the server a moment to accept every connection (a connection
    // still in the listen backlog when the port closes is refused, as for any server).
    await new Promise((r) => setTimeout(r, 300));
    const exited = server.stop();
    // During the grace period the instance tells load balancers it is going, but still serves.
    await new Promise((r) => setTimeout(r, 300));
    const ready = await fetch(`${server.url}/ready`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { draining?: boolean }).draining).toBe(true);
    expect(await Promise.all(requests)).toEqual(Array(20).fill(201));
    expect(await exited).toBe(0);
    await expect(fetch(`${server.url}/health`)).rejects.toThrow();
  });
});

describe("keyward cert", () => {
  it("issues, shows and lists from the command line", async () => {
    const token = newToken();
    await keyward(token, ["init"]);
    const { csrFile } = opensslCsr(token.dir, "cli");
    const out = join(token.dir, "cli.pem");
    const issued = await keyward(token, [
      "cert",
      "issue",
      "--csr",
      csrFile,
      "--profile",
      "server",
      "--out",
      out,
      "--json",
    ]);
    expect(issued.code).toBe(0);
    const body = JSON.parse(issued.stdout) as { serial: string; certificate: string };
    expect(readFileSync(out, "utf8")).toBe(body.certificate);

    const show = await keyward(token, ["cert", "show", body.serial]);
    expect(show.stdout).toMatch(/status\s+valid/);
    expect(show.stdout).toContain("dns:cli.example.com");
    const pem = await keyward(token, ["cert", "show", "--serial", body.serial, "--pem"]);
    expect(pem.stdout).toBe(body.certificate);

    const list = JSON.parse((await keyward(token, ["cert", "list", "--json", "--name", "cli."])).stdout) as {
      items: Array<{ serial: string }>;
    };
    expect(list.items.map((i) => i.serial)).toEqual([body.serial]);

    const early = await keyward(token, ["acme", "renew-early", "--serial", body.serial, "--hours", "2", "--json"]);
    const forced = JSON.parse(early.stdout) as { certificates: number; window: { start: string; end: string } };
    expect(forced.certificates).toBe(1);
    expect(Date.parse(forced.window.end) - Date.parse(forced.window.start)).toBe(2 * 3_600_000);
    const neither = await keyward(token, ["acme", "renew-early"]);
    expect(neither.code).toBe(1);
    expect(neither.stderr).toContain("give either --serial or --ca");

    const missing = await keyward(token, ["cert", "issue", "--csr", join(token.dir, "absent.csr")]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("cannot read the CSR file");
    const bad = await keyward(token, ["cert", "show", "ffff", "--json"]);
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout)).toEqual({ error: { code: "notFound", detail: "no certificate with serial ffff" } });
  });

  it("rolls over to a new default intermediate that then issues", async () => {
    const token = newToken();
    await keyward(token, ["init"]);
    const created = await keyward(token, [
      "ca",
      "create-intermediate",
      "--id",
      "intermediate-2",
      "--default",
      "--json",
    ]);
    expect(created.code).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({ id: "intermediate-2", default: true });
    const { csrFile } = opensslCsr(token.dir, "rolled");
    const issued = JSON.parse((await keyward(token, ["cert", "issue", "--csr", csrFile, "--json"])).stdout) as {
      certificate: string;
      chain: string;
    };
    expect(openssl(["x509", "-noout", "-issuer"], issued.certificate)).toContain(
      "Keyward Intermediate CA intermediate-2",
    );
    const list = (await keyward(token, ["ca", "list"])).stdout;
    expect(list).toMatch(/intermediate-2\s+intermediate\s+p256\s+\S+\s+yes/);
  });
});

describe("keyward ca create-intermediate with a configured country and policies", () => {
  it("gives the new intermediate the root's country and the configured intermediate's policies", async () => {
    const token = newToken();
    const config = writeFile(
      token.dir,
      "policies.yaml",
      [
        "ca:",
        "  root: { country: CH }",
        "  intermediates:",
        "    - { id: intermediate, keyType: p256, commonName: Issuing, country: CH, validityDays: 365,",
        "        policies: [2.5.29.32.0], cpsUri: https://ca.example.com/cps }",
        "",
      ].join("\n"),
    );
    const env = { KEYWARD_CONFIG: config };
    expect((await keyward(token, ["init"], env)).code).toBe(0);
    const created = await keyward(token, ["ca", "create-intermediate", "--id", "rolled", "--json"], env);
    expect(created.code).toBe(0);
    const text = openssl(
      ["x509", "-noout", "-text"],
      (JSON.parse(created.stdout) as { certificate: string }).certificate,
    );
    expect(text).toContain("Subject: C = CH, O = Keyward, CN = Keyward Intermediate CA rolled");
    expect(text).toMatch(/Policy: X509v3 Any Policy\s+CPS: https:\/\/ca\.example\.com\/cps\n/);
    expect(text).toMatch(/X509v3 Extended Key Usage:\s+TLS Web Server Authentication, TLS Web Client Authentication\n/);
  });
});

describe("keyward revocation commands", () => {
  it("revokes from the CLI, numbers CRLs strictly upward across runs, and signs a root CRL listing a revoked intermediate", async () => {
    const token = newToken();
    const init = JSON.parse((await keyward(token, ["init", "--json"])).stdout) as {
      cas: Array<{ certificate: string }>;
    };
    const root = writeFile(token.dir, "root.pem", init.cas[0]!.certificate);
    const intermediate = writeFile(token.dir, "int.pem", init.cas[1]!.certificate);

    const { csrFile } = opensslCsr(token.dir, "to-revoke");
    const issued = JSON.parse((await keyward(token, ["cert", "issue", "--csr", csrFile, "--json"])).stdout) as {
      serial: string;
      certificate: string;
    };
    // A server certificate is never put on hold (BR §7.2.2): refused, naming what is allowed.
    const held = await keyward(token, ["cert", "revoke", issued.serial, "--reason", "certificateHold"]);
    expect(held.code).toBe(1);
    expect(held.stderr).toContain(
      'profile "server" does not allow the revocation reason certificateHold; allowed: unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn',
    );
    const revoked = await keyward(token, ["cert", "revoke", issued.serial, "--reason", "superseded", "--json"]);
    expect(revoked.code).toBe(0);
    const { crlNumber } = JSON.parse(revoked.stdout) as { crlNumber: number };
    const again = await keyward(token, ["cert", "revoke", issued.serial, "--reason", "superseded"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("is already revoked");

    // Each CLI run is a fresh process: the numbers still only go up.
    const numbers = [crlNumber];
    for (let i = 0; i < 2; i++) {
      numbers.push(
        (JSON.parse((await keyward(token, ["crl", "intermediate", "--json"])).stdout) as { number: number }).number,
      );
    }
    expect(numbers[1]).toBeGreaterThan(numbers[0]!);
    expect(numbers[2]).toBeGreaterThan(numbers[1]!);
    const crlFile = join(token.dir, "int.crl");
    await keyward(token, ["crl", "intermediate", "--out", crlFile]);
    const text = openssl(["crl", "-inform", "DER", "-in", crlFile, "-noout", "-text"]);
    expect(text).toContain(`Serial Number: ${issued.serial.toUpperCase()}`);
    expect(text).toMatch(/CRL Reason Code:\s+Superseded/);

    const second = JSON.parse(
      (await keyward(token, ["ca", "create-intermediate", "--id", "second", "--default", "--json"])).stdout,
    ) as { certificate: string };
    const secondFile = writeFile(token.dir, "second.pem", second.certificate);
    const caRevoke = await keyward(token, ["ca", "revoke", "--id", "second", "--json"]);
    expect(caRevoke.code).toBe(0);
    expect(JSON.parse(caRevoke.stdout)).toMatchObject({ id: "second", revocationReason: "cACompromise" });
    const rootCrl = join(token.dir, "root.crl");
    const signed = await keyward(token, ["crl", "root", "--out", rootCrl, "--json"]);
    expect(JSON.parse(signed.stdout)).toMatchObject({ ca: "root" });
    const rootCrlPem = join(token.dir, "root.crl.pem");
    openssl(["crl", "-inform", "DER", "-in", rootCrl, "-out", rootCrlPem]);
    expect(openssl(["crl", "-in", rootCrlPem, "-CAfile", root, "-noout", "-text"])).toMatch(/Only CA Certificates/);
    const verify = (cert: string) =>
      opensslOutput(["verify", "-crl_check", "-CRLfile", rootCrlPem, "-CAfile", root, cert]);
    expect(verify(secondFile)).toContain("certificate revoked");
    expect(verify(intermediate)).toContain(": OK");
    // The revoked default issuer is skipped: issuance falls back to the remaining intermediate.
    const fallback = JSON.parse((await keyward(token, ["cert", "issue", "--csr", csrFile, "--json"])).stdout) as {
      certificate: string;
    };
    expect(openssl(["x509", "-noout", "-issuer"], fallback.certificate)).toContain("CN = Keyward Intermediate CA\n");
    const revokedRoot = await keyward(token, ["ca", "revoke", "--id", "root"]);
    expect(revokedRoot.stderr).toContain("the root cannot be revoked");
  });

  it("creates people with a TOTP QR code, lists tokens, and verifies and exports the audit log", async () => {
    const token = newToken();
    await keyward(token, ["init"]);
    const created = await keyward(
      token,
      ["user", "create", "--name", "olivia", "--role", "auditor", "--password-stdin"],
      {},
      "a long enough passphrase\n",
    );
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/^otpauth:\/\/totp\/Keyward:olivia\?secret=[A-Z2-7]+/);
    expect(created.stdout.match(/^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$/gm)).toHaveLength(10);
    // The QR code for the authenticator app goes to the terminal (stderr), in block characters.
    expect(created.stderr.split("\n").length).toBeGreaterThan(15);
    const short = await keyward(
      token,
      ["user", "create", "--name", "pat", "--role", "admin", "--password-stdin"],
      {},
      "short\n",
    );
    expect(short.code).toBe(1);
    expect(short.stderr).toContain("password is too short");

    const users = JSON.parse((await keyward(token, ["user", "list", "--json"])).stdout) as {
      items: Array<{ name: string; role: string }>;
    };
    expect(users.items).toEqual([expect.objectContaining({ name: "olivia", role: "auditor" })]);

    const secret = (await keyward(token, ["token", "create", "--role", "requester", "--profiles", "server", "--json"]))
      .stdout;
    const { id } = JSON.parse(secret) as { id: string };
    const listed = JSON.parse((await keyward(token, ["token", "list", "--json"])).stdout) as {
      items: Array<{ id: string; scopes: unknown; role: string }>;
    };
    expect(listed.items).toEqual([
      expect.objectContaining({ id, role: "requester", scopes: { profiles: ["server"] } }),
    ]);
    expect(JSON.stringify(listed)).not.toContain(JSON.parse(secret).token);
    expect((await keyward(token, ["token", "revoke", id])).stdout).toContain(`Token ${id} revoked.`);

    const verified = await keyward(token, ["audit", "verify"]);
    expect(verified.code).toBe(0);
    // Every command that recorded events signed a tree head over them before it exited.
    const [, events, heads, witnessed, covered] =
      /^OK: (\d+) events, (\d+) signed tree heads, (\d+) in the witness, covering (\d+) events\.$/m.exec(
        verified.stdout,
      )!;
    expect(Number(heads)).toBeGreaterThan(1);
    expect([witnessed, covered]).toEqual([heads, events]);
    expect((await keyward(token, ["audit", "tree-head"])).stdout).toContain("Nothing new since the last tree head.");
    const out = join(token.dir, "audit.jsonl");
    const exported = JSON.parse((await keyward(token, ["audit", "export", "--out", out, "--json"])).stdout) as {
      lines: number;
    };
    const lines = readFileSync(out, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; action?: string });
    expect(lines).toHaveLength(exported.lines);
    expect(lines.filter((l) => l.type === "keyward-audit-tree-head")).toHaveLength(Number(heads));
    expect(lines.map((l) => l.action)).toEqual(
      expect.arrayContaining(["ca.create", "user.create", "token.create", "token.revoke"]),
    );

    const actions = JSON.parse(
      (await keyward(token, ["audit", "list", "--action", "user.create", "--json"])).stdout,
    ) as {
      items: Array<{ actor: { kind: string } }>;
    };
    expect(actions.items.map((e) => e.actor.kind)).toEqual(["cli"]);
  });

  it("creates a distributable key and sends it to a recipient certificate that openssl cms opens", async () => {
    const token = newToken();
    await keyward(token, ["init"]);
    const { csrFile, keyFile } = opensslCsr(token.dir, "holder", {
      key: ["-newkey", "rsa:2048"],
    });
    const certFile = join(token.dir, "holder.pem");
    await keyward(token, ["cert", "issue", "--csr", csrFile, "--profile", "recipient", "--out", certFile]);
    const created = JSON.parse(
      (
        await keyward(token, [
          "key",
          "create",
          "--name",
          "fleet",
          "--distributable",
          "--on-recipient-revoked",
          "rotate",
          "--json",
        ])
      ).stdout,
    ) as { id: string; onRecipientRevoked: string };
    expect(created.onRecipientRevoked).toBe("rotate");

    const out = join(token.dir, "fleet.cms");
    const sent = await keyward(token, ["key", "distribute", created.id, "--certificate", certFile, "--out", out]);
    expect(sent.code).toBe(0);
    expect(sent.stdout).toMatch(/^Version 1 of key .* sealed for CN=holder\.example\.com \([0-9a-f]+\) as CMS in /);
    const opened = opensslCmsDecrypt(out, keyFile, certFile);
    expect(opened).toHaveLength(32);

    const listed = await keyward(token, ["key", "distributions", created.id]);
    expect(listed.stdout).toMatch(/1\s+cms\s+CN=holder\.example\.com\s+[0-9a-f]+\s+\S+\s+cli:\S+\s+no/);

    const stranger = await keyward(token, ["key", "distribute", created.id, "--certificate", csrFile]);
    expect(stranger.code).toBe(1);
    expect(stranger.stderr).toContain('certificate must be exactly one PEM "CERTIFICATE"');
  });

  it("escrows a key to two agents and recovers it after its token object is deleted with pkcs11-tool", async () => {
    const token = newToken();
    await keyward(token, ["init"]);
    const agents: Array<{ name: string; keyFile: string; certFile: string }> = [];
    for (const [name, key] of [
      ["ann", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]],
      ["ben", ["-newkey", "rsa:2048"]],
    ] as const) {
      const { csrFile, keyFile } = opensslCsr(token.dir, name, { key: [...key] });
      const certFile = join(token.dir, `${name}.pem`);
      await keyward(token, ["cert", "issue", "--csr", csrFile, "--profile", "recipient", "--out", certFile]);
      expect((await keyward(token, ["escrow", "agent", "add", "--name", name, "--certificate", certFile])).code).toBe(
        0,
      );
      agents.push({ name, keyFile, certFile });
    }
    const { id } = JSON.parse(
      (await keyward(token, ["key", "create", "--name", "treasury", "--distributable", "--json"])).stdout,
    ) as { id: string };
    const policy = await keyward(token, ["escrow", "policy", "--key", id, "--agents", "ann,ben", "--threshold", "2"]);
    expect(policy.stdout).toContain("Escrow 2 of 2 set; 1 version(s) escrowed now.");
    const secretFile = writeFile(token.dir, "secret.txt", "kept for years");
    const jwe = writeFile(
      token.dir,
      "secret.jwe",
      (await keyward(token, ["key", "encrypt", id, "--in", secretFile])).stdout,
    );

    const shares: string[] = [];
    for (const [i, a] of agents.entries()) {
      const sealed = join(token.dir, `${a.name}.share.cms`);
      expect(
        (
          await keyward(token, [
            "escrow",
            "share",
            "export",
            "--key",
            id,
            "--version",
            "1",
            "--agent",
            a.name,
            "--out",
            sealed,
          ])
        ).code,
      ).toBe(0);
      if (i === 0) {
        const opened = await keyward(token, [
          "escrow",
          "share",
          "decrypt",
          "--in",
          sealed,
          "--key",
          a.keyFile,
          "--certificate",
          a.certFile,
        ]);
        expect(opened.stderr).toBe("");
        shares.push(writeFile(token.dir, `${a.name}.share`, opened.stdout));
      } else {
        const raw = opensslCmsDecrypt(sealed, a.keyFile, a.certFile);
        shares.push(writeFile(token.dir, `${a.name}.share`, raw.toString("base64")));
      }
    }

    const label = listTokenObjects(token, "secrkey")
      .join("\n")
      .match(/kms-treasury-v1-[0-9a-f]+/)![0];
    execFileSync(
      "pkcs11-tool",
      [
        "--module",
        token.modulePath,
        "--token-label",
        token.tokenLabel,
        "--login",
        "--pin",
        token.pin,
        "--delete-object",
        "--type",
        "secrkey",
        "--label",
        label,
      ],
      { env: { ...process.env, SOFTHSM2_CONF: token.conf }, stdio: "pipe" },
    );
    expect((await keyward(token, ["key", "decrypt", id, "--in", jwe])).code).not.toBe(0);

    const opened = JSON.parse(
      (await keyward(token, ["escrow", "recover", "--key", id, "--version", "1", "--json"])).stdout,
    ) as { id: string; threshold: number };
    expect(opened.threshold).toBe(2);
    const first = await keyward(token, [
      "escrow",
      "share",
      "submit",
      "--recovery",
      opened.id,
      "--agent",
      "ann",
      "--in",
      shares[0]!,
    ]);
    expect(first.stdout.trim()).toBe("Share accepted: 1 of 2.");
    const wrong = await keyward(token, [
      "escrow",
      "share",
      "submit",
      "--recovery",
      opened.id,
      "--agent",
      "ben",
      "--in",
      shares[0]!,
    ]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("this is not agent ben's share");
    const second = await keyward(token, [
      "escrow",
      "share",
      "submit",
      "--recovery",
      opened.id,
      "--agent",
      "ben",
      "--in",
      shares[1]!,
    ]);
    expect(second.stdout).toContain("is recovered into the token");
    expect((await keyward(token, ["key", "decrypt", id, "--in", jwe])).stdout).toBe("kept for years");
    expect((await keyward(token, ["escrow", "recoveries"])).stdout).toMatch(/completed\s+0\s+cli:/);
  });
});
