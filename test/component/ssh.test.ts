import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { opensslCsr, startKeyward, type TestKeyward, testActor } from "../helpers/keyward.js";
import { createPerson, SteppingClock } from "../helpers/people.js";
import { krlQuery, sshFingerprint, sshKeygen, sshKeygenShow } from "../helpers/ssh.js";

describe("SSH certificate authority", () => {
  let kw: TestKeyward;
  let dir: string;
  const clock = new SteppingClock();

  beforeAll(async () => {
    kw = await startKeyward({ clock });
    await kw.services.ssh.init(testActor);
    dir = mkdtempSync(join(tmpdir(), "keyward-ssh-"));
  });
  afterAll(async () => {
    await kw?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function sign(body: Record<string, unknown>, token?: string) {
    const res = await kw.api("/api/v1/ssh/certificates", { body, ...(token ? { token } : {}) });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  }

  it("serves the user and host CA keys as OpenSSH lines, Ed25519 from the token", async () => {
    for (const type of ["user", "host"]) {
      const res = await kw.api(`/ssh/${type}_ca.pub`, { token: null });
      expect(res.status).toBe(200);
      const line = await res.text();
      expect(line).toMatch(new RegExp(`^ssh-ed25519 AAAA\\S+ keyward-${type}-ca\\n$`));
      writeFileSync(join(dir, `${type}_ca.pub`), line);
      expect(sshFingerprint(join(dir, `${type}_ca.pub`))).toMatch(/^SHA256:/);
    }
    const keys = await kw.services.ca.ssh.keys();
    expect(keys.map((k) => [k.type, k.keyType]).sort()).toEqual([
      ["host", "ed25519"],
      ["user", "ed25519"],
    ]);
    // The CA keys never leave the token.
    const attributes = await kw.services.caTokens.keyAttributes(keys[0]!.keyUri);
    expect(attributes).toMatchObject({ sensitive: true, extractable: false, token: true });
    // They are CA keys: the service-key port (OCSP, audit, KMS statements) never signs with them.
    await expect(
      kw.services.ca.serviceKeys.sign(keys[0]!.keyUri, { name: "Ed25519" }, Buffer.from("x")),
    ).rejects.toThrow(/never sign with a CA key/);
  });

  it("signs a user certificate that ssh-keygen -L reads: principals, validity, serial, signing CA", async () => {
    const key = sshKeygen(dir, "alice", "ed25519");
    const { status, json } = await sign({ publicKey: key.pub, type: "user", principals: ["alice", "deploy"] });
    expect(status, JSON.stringify(json)).toBe(201);
    writeFileSync(join(dir, "alice-cert.pub"), `${json.certificate}\n`);
    const shown = sshKeygenShow(join(dir, "alice-cert.pub"));
    expect(shown).toContain("Type: ssh-ed25519-cert-v01@openssh.com user certificate");
    expect(shown).toContain(`Serial: ${json.serial}`);
    expect(shown).toContain(`Key ID: "${json.keyId}"`);
    expect(shown).toMatch(/Principals: \n\s+alice\n\s+deploy\n/);
    expect(shown).toContain(`Signing CA: ED25519 ${sshFingerprint(join(dir, "user_ca.pub"))}`);
    for (const ext of [
      "permit-X11-forwarding",
      "permit-agent-forwarding",
      "permit-port-forwarding",
      "permit-pty",
      "permit-user-rc",
    ])
      expect(shown).toContain(ext);
    const [, from, to] = /Valid: from (\S+) to (\S+)/.exec(shown)!;
    const hours = (Date.parse(to!) - Date.parse(from!)) / 3_600_000;
    // 16 h by default, from 5 minutes back.
    expect(hours).toBeCloseTo(16 + 5 / 60, 1);
  });

  it("signs ECDSA and RSA-3072 keys, refuses RSA-1024 and DSA with precise problems, audited, nothing signed", async () => {
    for (const [type, bits] of [
      ["ecdsa", 256],
      ["rsa", 3072],
    ] as const) {
      const key = sshKeygen(dir, `k-${type}`, type, bits);
      const { status } = await sign({ publicKey: key.pub, type: "user", principals: ["alice"] });
      expect(status).toBe(201);
    }
    const before = (await kw.services.ssh.list({ limit: 1000 })).length;
    const weak = sshKeygen(dir, "weak", "rsa", 1024);
    const refused = await sign({ publicKey: weak.pub, type: "user", principals: ["alice"] });
    expect(refused.status).toBe(400);
    expect(refused.json.detail).toMatch(/RSA keys of 1024 bits are refused/);
    const dsa =
      "ssh-dss AAAAB3NzaC1kc3MAAACBAP1/U4EddRIpUt9KnC7s5Of2EbdSPO9EAMMeP4C2USZpRV1AIlH7WT2NWPq/xfW6MPbLm1Vs14E7gB00b/JmYLdrmVClpJ+f6AR7ECLCT7up1/63xhv4O1fnxqimFQ8E+4P208UewwI1VBNaFpEy9nXzrith1yrv8iIDGZ3RSAHHAAAAFQCXYFCPFSMLzLKSuYKi64QL8Fgc9QAAAIEA9+GghdabPd7LvKtcNrhXuXmUr7v6OuqC+VdMCz0HgmdRWVeOutRZT+ZxBxCBgLRJFnEj6EwoFhO3zwkyjMim4TwWeotUfI0o4KOuHiuzpnWRbqN/C/ohNWLx+2J6ASQ7zKTxvqhRkImog9/hWuWfBpKLZl6Ae1UlZAFMO/7PSSoAAACBAPDs0aSkFRdsZ9nOqNJIm3P+M0D+e6FYpCdDJ1xfkvAcdkeJKD7lhAfYDG1cOVa3/UDZR7I/Q+ZaVyl2xgHDm2J9dEuMQK1qGRnEdYDpGm85KbpiiaPrwSWCufY6t9TvDQQ6l1mM8jDXWn3Vve9J44LzfdFzrDmLUZa1fxdtBHtf keyward-test";
    const dsaRefused = await sign({ publicKey: dsa, type: "user", principals: ["alice"] });
    expect(dsaRefused.status).toBe(400);
    expect(dsaRefused.json.detail).toMatch(/DSA keys are refused/);
    const malformed = await sign({ publicKey: "ssh-ed25519 AAAAnotakey", type: "user", principals: ["alice"] });
    expect(malformed.status).toBe(400);
    expect(malformed.json.detail).toMatch(/^publicKey: /);
    expect((await kw.services.ssh.list({ limit: 1000 })).length).toBe(before);
    const denied = await kw.services.audit.search({ action: "ssh.sign", outcome: "denied", limit: 100 });
    expect(denied.map((e) => String(e.details?.reason))).toEqual(
      expect.arrayContaining([expect.stringMatching(/1024 bits/), expect.stringMatching(/DSA/)]),
    );
  });

  it("a person logged in with password + TOTP gets a certificate for their own principal, and no other", async () => {
    const bob = await createPerson(kw, clock, "bob", "requester");
    const session = await bob.login();
    const key = sshKeygen(dir, "bob", "ed25519");
    const own = await sign({ publicKey: key.pub, type: "user", principals: ["bob"] }, session);
    expect(own.status, JSON.stringify(own.json)).toBe(201);
    const other = await sign({ publicKey: key.pub, type: "user", principals: ["root"] }, session);
    expect(other.status).toBe(400);
    expect(other.json.detail).toMatch(/"root" is not allowed for bob/);
    const long = await sign({ publicKey: key.pub, type: "user", principals: ["bob"], validityHours: 20 }, session);
    expect(long.status).toBe(400);
    expect(long.json.detail).toMatch(
      /validityHours: 20 is over the cap for role requester under SSH profile "user" \(16\)/,
    );
    const host = await sign({ publicKey: key.pub, type: "host", principals: ["web.example.com"] }, session);
    expect(host.status).toBe(403);
  });

  it("critical options: allowed ones are signed as OpenSSH reads them, unknown ones refused", async () => {
    const key = sshKeygen(dir, "opts", "ed25519");
    const ok = await sign({
      publicKey: key.pub,
      type: "user",
      principals: ["backup"],
      criticalOptions: { "force-command": "/usr/bin/rsync --server", "source-address": "10.0.0.0/8,192.0.2.7" },
      extensions: ["permit-pty"],
    });
    expect(ok.status, JSON.stringify(ok.json)).toBe(201);
    writeFileSync(join(dir, "opts-cert.pub"), `${ok.json.certificate}\n`);
    const shown = sshKeygenShow(join(dir, "opts-cert.pub"));
    expect(shown).toMatch(/force-command \/usr\/bin\/rsync --server/);
    expect(shown).toMatch(/source-address 10\.0\.0\.0\/8,192\.0\.2\.7/);
    expect(shown).toMatch(/Extensions: \n\s+permit-pty\n/);
    const unknown = await sign({
      publicKey: key.pub,
      type: "user",
      principals: ["x"],
      criticalOptions: { "no-such": "" },
    });
    expect(unknown.status).toBe(400);
    expect(unknown.json.detail).toMatch(/unknown critical option "no-such"/);
    const badSource = await sign({
      publicKey: key.pub,
      type: "user",
      principals: ["x"],
      criticalOptions: { "source-address": "nowhere" },
    });
    expect(badSource.status).toBe(400);
  });

  it("revokes by serial into a KRL that ssh-keygen -Q reads; keyCompromise blocks the key", async () => {
    const key = sshKeygen(dir, "carol", "ed25519");
    const first = await sign({ publicKey: key.pub, type: "user", principals: ["carol"] });
    const second = await sign({ publicKey: key.pub, type: "user", principals: ["carol"] });
    writeFileSync(join(dir, "carol-1-cert.pub"), `${first.json.certificate}\n`);
    writeFileSync(join(dir, "carol-2-cert.pub"), `${second.json.certificate}\n`);

    const revoke = await kw.api(`/api/v1/ssh/certificates/${first.json.serial}/revoke`, {
      body: { reason: "superseded" },
    });
    expect(revoke.status).toBe(200);
    const krlFile = join(dir, "revoked.krl");
    const fetchKrl = async () => {
      const res = await kw.api("/ssh/revoked.krl", { token: null });
      expect(res.status).toBe(200);
      writeFileSync(krlFile, Buffer.from(await res.arrayBuffer()));
    };
    await fetchKrl();
    expect(krlQuery(krlFile, join(dir, "carol-1-cert.pub")).revoked).toBe(true);
    expect(krlQuery(krlFile, join(dir, "carol-2-cert.pub")).revoked).toBe(false);
    expect((await kw.api(`/api/v1/ssh/certificates/${first.json.serial}/revoke`, { body: {} })).status).toBe(409);

    const compromised = await kw.api(`/api/v1/ssh/certificates/${second.json.serial}/revoke`, {
      body: { reason: "keyCompromise" },
    });
    expect(compromised.status).toBe(200);
    await fetchKrl();
    // The key itself is listed: its plain public key is revoked too, and no new certificate is signed for it.
    expect(krlQuery(krlFile, `${key.path}.pub`).revoked).toBe(true);
    const again = await sign({ publicKey: key.pub, type: "user", principals: ["carol"] });
    expect(again.status).toBe(400);
    expect(again.json.detail).toMatch(/blocked after a key compromise/);

    const listed = await kw.api("/api/v1/ssh/certificates?principal=carol");
    const items = ((await listed.json()) as { items: { serial: string; status: string }[] }).items;
    expect(items.map((i) => i.status).sort()).toEqual(["revoked", "revoked"]);
    const events = await kw.services.audit.search({ action: "ssh.revoke", limit: 10 });
    expect(events).toHaveLength(2);
  });

  it("one key, one fate: keyCompromise on an X.509 certificate puts the key in the KRL; an SSH keyCompromise blocks X.509 issuance", async () => {
    // One P-256 key, certified both ways.
    const x509 = opensslCsr(dir, "shared");
    const pub = execFileSync("ssh-keygen", ["-y", "-f", x509.keyFile], { encoding: "utf8" }).trim();
    const sshCert = await sign({ publicKey: pub, type: "user", principals: ["shared"] });
    expect(sshCert.status, JSON.stringify(sshCert.json)).toBe(201);
    writeFileSync(join(dir, "shared-cert.pub"), `${sshCert.json.certificate}\n`);
    const issued = await kw.api("/api/v1/certificates", { body: { csr: x509.csr, profile: "client" } });
    expect(issued.status, await issued.clone().text()).toBe(201);
    const { serial } = (await issued.json()) as { serial: string };
    const revoked = await kw.api(`/api/v1/certificates/${serial}/revoke`, { body: { reason: "keyCompromise" } });
    expect(revoked.status).toBe(200);
    const krl = await kw.api("/ssh/revoked.krl", { token: null });
    writeFileSync(join(dir, "shared.krl"), Buffer.from(await krl.arrayBuffer()));
    expect(krlQuery(join(dir, "shared.krl"), join(dir, "shared-cert.pub")).revoked).toBe(true);

    const other = opensslCsr(dir, "other");
    const otherPub = execFileSync("ssh-keygen", ["-y", "-f", other.keyFile], { encoding: "utf8" }).trim();
    const otherSsh = await sign({ publicKey: otherPub, type: "user", principals: ["other"] });
    await kw.api(`/api/v1/ssh/certificates/${otherSsh.json.serial}/revoke`, { body: { reason: "keyCompromise" } });
    const refused = await kw.api("/api/v1/certificates", { body: { csr: other.csr, profile: "client" } });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { detail: string }).detail).toMatch(/blocked|compromise/i);
  });

  it("counts signatures, refusals and revocations in /metrics", async () => {
    const body = await (await kw.api("/metrics", { token: null })).text();
    const value = (event: string) =>
      Number(
        new RegExp(`^keyward_ssh_certificates_total\\{event="${event}",type="user"\\} (\\d+)$`, "m").exec(body)?.[1] ??
          0,
      );
    expect(value("signed")).toBeGreaterThanOrEqual(8);
    expect(value("refused")).toBeGreaterThanOrEqual(5);
    expect(value("revoked")).toBeGreaterThanOrEqual(3);
  });
});
