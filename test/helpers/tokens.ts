import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { createServer } from "node:net";
import { join } from "node:path";
import { freePort } from "./keyward.js";

/**
 * PKCS#11 tokens other than SoftHSM2, each started by the test on 127.0.0.1 with its own state
 * directory and stopped after: what "any PKCS#11 token" is proven on (docs/hsm.md has the same
 * set-up as scripts for people).
 */
export interface ForeignToken {
  name: string;
  modulePath: string;
  label: string;
  pin: string;
  dir: string;
  /** Environment the module needs (TCTI, store, bus), for Keyward's processes. */
  env: Record<string, string>;
  /** The command line that runs `command args` where the token is reachable (a namespace for opencryptoki). */
  command(command: string, args: string[]): [string, string[]];
  stop(): Promise<void>;
}

const TPM_MODULE = "/usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so";
const OCK_MODULE = "/usr/lib/x86_64-linux-gnu/pkcs11/libopencryptoki.so";

/** Why a token cannot be started here, or undefined when it can. */
export function missingFor(token: "tpm2" | "opencryptoki"): string | undefined {
  const need =
    token === "tpm2"
      ? [TPM_MODULE, "/usr/bin/swtpm", "/usr/sbin/tpm2-abrmd", "/usr/bin/tpm2_ptool", "/usr/bin/dbus-daemon"]
      : [OCK_MODULE, "/usr/sbin/pkcsslotd", "/usr/sbin/pkcsconf", "/usr/bin/unshare", "/usr/bin/nsenter"];
  const missing = need.filter((path) => !existsSync(path));
  if (missing.length) return `missing ${missing.join(", ")} (see .ci/run for the packages)`;
  if (token === "opencryptoki" && process.getuid?.() !== 0)
    return "opencryptoki's pkcsslotd uses fixed paths (/var/lib/opencryptoki, /run): a private mount namespace needs root";
  return undefined;
}

/** Two consecutive free ports on 127.0.0.1, the first returned. */
async function freePortPair(): Promise<number> {
  for (;;) {
    const port = await freePort();
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once("error", () => resolve(false));
      server.listen(port + 1, "127.0.0.1", () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

async function waitFor(what: string, check: () => boolean, ms = 15_000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function stopProcess(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

/**
 * tpm2-pkcs11 on a software TPM: swtpm on 127.0.0.1 (two free ports), a private D-Bus session bus,
 * tpm2-abrmd as the resource manager on it (the direct swtpm TCTI runs out of object contexts),
 * and a token made with tpm2_ptool in a store directory of its own.
 */
export async function startTpm2Token(): Promise<ForeignToken> {
  const dir = mkdtempSync(join(tmpdir(), "keyward-tpm2-"));
  const children: ChildProcess[] = [];
  const stop = async () => {
    for (const child of [...children].reverse()) await stopProcess(child);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // The swtpm TCTI finds the control channel at port + 1.
    const port = await freePortPair();
    const ctrl = port + 1;
    mkdirSync(join(dir, "state"));
    mkdirSync(join(dir, "store"));
    const spawnLogged = (cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env) => {
      const child = spawn(cmd, args, { env, stdio: ["ignore", "ignore", "pipe"] });
      let stderr = "";
      child.stderr!.on("data", (d) => (stderr = (stderr + d).slice(-2000)));
      child.once("exit", (code) => {
        if (code) process.stderr.write(`${cmd} exited with ${code}: ${stderr}\n`);
      });
      children.push(child);
      return child;
    };
    spawnLogged("swtpm", [
      "socket",
      "--tpm2",
      "--server",
      `type=tcp,port=${port},bindaddr=127.0.0.1`,
      "--ctrl",
      `type=tcp,port=${ctrl},bindaddr=127.0.0.1`,
      "--tpmstate",
      `dir=${join(dir, "state")}`,
      "--flags",
      "not-need-init,startup-clear",
    ]);
    await waitFor("swtpm", () => spawnSync("bash", ["-c", `exec 3<>/dev/tcp/127.0.0.1/${ctrl}`]).status === 0);
    const bus = join(dir, "bus");
    spawnLogged("dbus-daemon", ["--session", "--nofork", `--address=unix:path=${bus}`]);
    await waitFor("the D-Bus socket", () => existsSync(bus));
    const env: Record<string, string> = {
      DBUS_SESSION_BUS_ADDRESS: `unix:path=${bus}`,
      TPM2TOOLS_TCTI: "tabrmd:bus_type=session",
      TPM2_PKCS11_TCTI: "tabrmd:bus_type=session",
      TPM2_PKCS11_STORE: join(dir, "store"),
    };
    const withEnv = { ...process.env, ...env };
    spawnLogged("tpm2-abrmd", ["--session", "--allow-root", `--tcti=swtpm:host=127.0.0.1,port=${port}`], withEnv);
    await waitFor(
      "tpm2-abrmd",
      () => spawnSync("tpm2_getrandom", ["4"], { env: withEnv, stdio: "ignore" }).status === 0,
    );
    const pin = "tpm-user-pin-42";
    const ptool = (args: string[]) => execFileSync("tpm2_ptool", args, { env: withEnv, stdio: "pipe" });
    ptool(["init"]);
    ptool(["addtoken", "--pid=1", "--label=keyward-tpm", `--userpin=${pin}`, "--sopin=tpm-so-pin-42"]);
    return {
      name: "tpm2-pkcs11 on swtpm",
      modulePath: TPM_MODULE,
      label: "keyward-tpm",
      pin,
      dir,
      env,
      command: (command, args) => [command, args],
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * opencryptoki's soft token. pkcsslotd and the token library use fixed paths (/etc/opencryptoki,
 * /var/lib/opencryptoki, /run, /run/lock) and System V IPC, so the token lives in a private mount
 * and IPC namespace whose paths are bind-mounted from this test's own directory: nothing outside
 * it is read or changed. Every Keyward process runs inside that namespace (nsenter). PINs are at
 * most 8 characters.
 */
export async function startOpencryptokiToken(): Promise<ForeignToken> {
  const dir = mkdtempSync(join(tmpdir(), "keyward-ock-"));
  let holder: ChildProcess | undefined;
  const stop = async () => {
    // pkcsslotd daemonises; its pid file is in our directory (the namespace's /run).
    const pidFile = join(dir, "run", "pkcsslotd.pid");
    if (existsSync(pidFile)) {
      try {
        process.kill(Number(readFileSync(pidFile, "utf8").trim()), "SIGTERM");
      } catch {
        // Already gone.
      }
    }
    await stopProcess(holder);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const lib = join(dir, "lib");
    const etc = join(dir, "etc");
    const run = join(dir, "run");
    cpSync("/var/lib/opencryptoki", lib, { recursive: true });
    mkdirSync(etc);
    mkdirSync(join(run, "lock", "opencryptoki", "swtok"), { recursive: true });
    writeFileSync(
      join(etc, "opencryptoki.conf"),
      "version opencryptoki-3.1\n\nslot 3\n{\nstdll = libpkcs11_sw.so\n}\n",
    );
    execFileSync("chgrp", ["-R", "pkcs11", lib, join(run, "lock", "opencryptoki")]);
    chmodSync(join(run, "lock", "opencryptoki"), 0o770);
    chmodSync(join(run, "lock", "opencryptoki", "swtok"), 0o770);
    // A process that only holds the namespaces open; everything else enters them.
    holder = spawn("unshare", ["--mount", "--ipc", "--propagation", "private", "sleep", "infinity"], {
      stdio: "ignore",
    });
    await waitFor("the namespace", () => {
      const ns = spawnSync("readlink", [`/proc/${holder!.pid}/ns/mnt`]).stdout?.toString();
      return !!ns && ns !== spawnSync("readlink", ["/proc/self/ns/mnt"]).stdout?.toString();
    });
    const pid = String(holder.pid);
    const inside = (script: string, input?: string) =>
      execFileSync("nsenter", ["-t", pid, "-m", "-i", "sh", "-ec", script], { input, stdio: "pipe" }).toString();
    inside(
      [
        `mount --bind ${lib} /var/lib/opencryptoki`,
        `mount --bind ${etc} /etc/opencryptoki`,
        `mount --bind ${run} /run`,
        "mount -t tmpfs tmpfs /dev/shm",
        "pkcsslotd",
      ].join("\n"),
    );
    const pin = "ock12345";
    // The default SO PIN of a new soft token is 87654321.
    inside("pkcsconf -c 3 -I -S 87654321", "keyward-ock\n");
    inside("pkcsconf -c 3 -P -S 87654321 -n ockso123");
    inside("pkcsconf -c 3 -u -S ockso123 -n ockuser1");
    inside(`pkcsconf -c 3 -p -U ockuser1 -n ${pin}`);
    return {
      name: "opencryptoki soft token",
      modulePath: OCK_MODULE,
      label: "keyward-ock",
      pin,
      dir,
      env: {},
      command: (command, args) => ["nsenter", ["-t", pid, "-m", "-i", "--", command, ...args]],
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
