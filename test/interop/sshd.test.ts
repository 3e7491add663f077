import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, startKeyward, type TestKeyward, testActor } from "../helpers/keyward.js";
import { SteppingClock } from "../helpers/people.js";
import { krlQuery, sshKeygen } from "../helpers/ssh.js";

/**
 * OpenSSH from Debian against Keyward's SSH CA: a real sshd on 127.0.0.1 with its own config, port,
 * pid file and host key (nothing of the system's ssh config is read or changed), and the ssh client
 * with `-F /dev/null` and a private known_hosts holding only an @cert-authority line.
 */
const HOST = "sshd.keyward.test";
const SSHD = "/usr/sbin/sshd";

describe("sshd and ssh trust Keyward's SSH certificates and obey its KRL", () => {
  const clock = new SteppingClock();
  const user = userInfo().username;
  let kw: TestKeyward;
  let dir: string;
  let port: number;
  let sshd: ChildProcess;
  let sshdLog = "";

  async function sign(pub: string, body: Record<string, unknown>): Promise<{ serial: string; certificate: string }> {
    const res = await kw.api("/api/v1/ssh/certificates", { body: { publicKey: pub, ...body } });
    const json = (await res.json()) as { serial: string; certificate: string };
    if (res.status !== 201) throw new Error(`signing failed: ${res.status} ${JSON.stringify(json)}`);
    return json;
  }

  async function fetchTo(path: string, file: string): Promise<void> {
    const res = await kw.api(path, { token: null });
    expect(res.status).toBe(200);
    writeFileSync(file, Buffer.from(await res.arrayBuffer()));
  }

  /** `ssh … user@127.0.0.1 echo`; resolves with the exit code and output, never throws. */
  function ssh(key: string, cert: string, knownHosts = join(dir, "known_hosts")) {
    const args = [
      "-F",
      "/dev/null",
      "-p",
      String(port),
      "-i",
      key,
      "-o",
      `CertificateFile=${cert}`,
      "-o",
      "IdentitiesOnly=yes",
      "-o",
      "BatchMode=yes",
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      `UserKnownHostsFile=${knownHosts}`,
      "-o",
      "GlobalKnownHostsFile=/dev/null",
      "-o",
      `HostKeyAlias=${HOST}`,
      "-o",
      "ConnectTimeout=10",
      `${user}@127.0.0.1`,
      "echo keyward-ssh-ok",
    ];
    const env = { ...process.env };
    delete env.SSH_AUTH_SOCK;
    return new Promise<{ code: number; out: string }>((resolve) => {
      execFile("ssh", args, { env, timeout: 30_000 }, (error, stdout, stderr) =>
        resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` }),
      );
    });
  }

  beforeAll(async () => {
    kw = await startKeyward({ clock });
    await kw.services.ssh.init(testActor);
    dir = mkdtempSync(join(tmpdir(), "keyward-sshd-"));
    port = await freePort();

    // The host: its own key, certified by the host CA for HOST.
    const hostKey = sshKeygen(dir, "host_key", "ed25519");
    const hostCert = await sign(hostKey.pub, { type: "host", principals: [HOST] });
    writeFileSync(join(dir, "host_key-cert.pub"), `${hostCert.certificate}\n`);
    await fetchTo("/ssh/user_ca.pub", join(dir, "user_ca.pub"));
    await fetchTo("/ssh/revoked.krl", join(dir, "revoked.krl"));
    const hostCa = await (await kw.api("/ssh/host_ca.pub", { token: null })).text();
    writeFileSync(join(dir, "known_hosts"), `@cert-authority ${HOST} ${hostCa}`);
    // Certificates naming "alice" may log in as the local user running the test.
    mkdirSync(join(dir, "principals"));
    writeFileSync(join(dir, "principals", user), "alice\n");
    writeFileSync(
      join(dir, "sshd_config"),
      [
        `ListenAddress 127.0.0.1`,
        `HostKey ${hostKey.path}`,
        `HostCertificate ${join(dir, "host_key-cert.pub")}`,
        `PidFile ${join(dir, "sshd.pid")}`,
        `TrustedUserCAKeys ${join(dir, "user_ca.pub")}`,
        `AuthorizedPrincipalsFile ${join(dir, "principals")}/%u`,
        "AuthorizedKeysFile none",
        `RevokedKeys ${join(dir, "revoked.krl")}`,
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes no",
        "PermitRootLogin prohibit-password",
        "LogLevel VERBOSE",
        "",
      ].join("\n"),
    );
    // As root, sshd needs its privilege-separation directory (Debian's package makes it at boot only).
    if (process.getuid?.() === 0) mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
    sshd = spawn(SSHD, ["-D", "-e", "-f", join(dir, "sshd_config"), "-p", String(port)], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    sshd.stderr!.on("data", (d) => (sshdLog += d));
    await waitForPort(port, () => sshdLog);
  });

  afterAll(async () => {
    if (sshd && sshd.exitCode === null) {
      sshd.kill("SIGTERM");
      await new Promise((r) => sshd.once("exit", r));
    }
    await kw?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("accepts a certified principal over a host certificate (no TOFU), refuses another principal", async () => {
    const key = sshKeygen(dir, "alice", "ed25519");
    const cert = await sign(key.pub, { type: "user", principals: ["alice"] });
    writeFileSync(join(dir, "alice-cert.pub"), `${cert.certificate}\n`);
    const ok = await ssh(key.path, join(dir, "alice-cert.pub"));
    expect(ok, sshdLog).toMatchObject({ code: 0 });
    expect(ok.out).toContain("keyward-ssh-ok");
    expect(sshdLog).toMatch(
      new RegExp(`Accepted publickey for ${user} .* ED25519-CERT .* \\(serial ${cert.serial}\\)`),
    );

    const mallory = sshKeygen(dir, "mallory", "ed25519");
    const other = await sign(mallory.pub, { type: "user", principals: ["mallory"] });
    writeFileSync(join(dir, "mallory-cert.pub"), `${other.certificate}\n`);
    const mark = sshdLog.length;
    const refused = await ssh(mallory.path, join(dir, "mallory-cert.pub"));
    expect(refused.code).toBe(255);
    expect(refused.out).toMatch(/Permission denied/);
    expect(sshdLog.slice(mark)).toContain("Certificate does not contain an authorized principal");

    // The host is trusted through the host CA only: with the user CA in its place, ssh refuses the host.
    const userCa = await (await kw.api("/ssh/user_ca.pub", { token: null })).text();
    writeFileSync(join(dir, "known_hosts_wrong"), `@cert-authority ${HOST} ${userCa}`);
    const wrongCa = await ssh(key.path, join(dir, "alice-cert.pub"), join(dir, "known_hosts_wrong"));
    expect(wrongCa.code).toBe(255);
    expect(wrongCa.out).toMatch(/Host key verification failed/);
  });

  it("refuses a certificate once it is revoked and the KRL is fetched", async () => {
    const key = sshKeygen(dir, "alice2", "ecdsa");
    const cert = await sign(key.pub, { type: "user", principals: ["alice"] });
    const certFile = join(dir, "alice2-cert.pub");
    writeFileSync(certFile, `${cert.certificate}\n`);
    expect((await ssh(key.path, certFile)).code, sshdLog).toBe(0);

    const revoke = await kw.api(`/api/v1/ssh/certificates/${cert.serial}/revoke`, { body: { reason: "superseded" } });
    expect(revoke.status).toBe(200);
    // Until the KRL is fetched, sshd knows nothing of it.
    expect((await ssh(key.path, certFile)).code).toBe(0);
    await fetchTo("/ssh/revoked.krl", join(dir, "revoked.krl"));
    expect(krlQuery(join(dir, "revoked.krl"), certFile).revoked).toBe(true);
    const mark = sshdLog.length;
    const refused = await ssh(key.path, certFile);
    expect(refused.code).toBe(255);
    expect(sshdLog.slice(mark)).toMatch(/Authentication key ECDSA-CERT \S+ revoked by file/);
  });

  it("refuses an expired certificate", async () => {
    const key = sshKeygen(dir, "alice3", "ed25519");
    // Signed "three hours ago" for one hour.
    clock.advance(-3 * 3_600_000);
    const cert = await sign(key.pub, { type: "user", principals: ["alice"], validityHours: 1 });
    clock.advance(3 * 3_600_000);
    const certFile = join(dir, "alice3-cert.pub");
    writeFileSync(certFile, `${cert.certificate}\n`);
    const mark = sshdLog.length;
    const refused = await ssh(key.path, certFile);
    expect(refused.code).toBe(255);
    expect(sshdLog.slice(mark)).toContain("Certificate invalid: expired");
  });
});

async function waitForPort(port: number, log: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`sshd did not listen on ${port}: ${log()}`);
}
