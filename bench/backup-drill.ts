// A backup and its restore, timed from the CLI as an operator runs them: `backup create
// --include-token` with two custodians, the shares opened, the data and the token lost, `backup
// restore --include-token`. The `backup` section runs it on seeded rows, `scale` on each deployment.
import { spawn } from "node:child_process";
import { statSync } from "node:fs";
import { join, resolve } from "node:path";
import { opensslCsr } from "../test/helpers/keyward.js";

const ROOT = resolve(import.meta.dirname, "..");
const CUSTODIANS = ["ann", "ben"];

/** One `keyward` command under /usr/bin/time: wall time, peak RSS and stdout; throws on failure. */
export async function timedKeyward(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ seconds: number; rssMb: number; stdout: string }> {
  const start = process.hrtime.bigint();
  const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((ok, fail) => {
    const child = spawn("/usr/bin/time", ["-f", "%M", process.execPath, join(ROOT, "bin", "keyward.js"), ...args], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("exit", (code) =>
      code === 0 ? ok({ stdout, stderr }) : fail(new Error(`keyward ${args.slice(0, 2).join(" ")}: ${stderr.trim()}`)),
    );
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return { seconds, rssMb: Number(stderr.trim().split("\n").pop()) / 1024, stdout };
}

/** The custodians a backup needs: escrow agents with recipient certificates (keys in `dir`). */
export async function addCustodians(dir: string, env: NodeJS.ProcessEnv): Promise<void> {
  for (const who of CUSTODIANS) {
    const { csrFile } = opensslCsr(dir, who, { key: ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] });
    const certificate = join(dir, `${who}.pem`);
    await timedKeyward(["cert", "issue", "--csr", csrFile, "--profile", "recipient", "--out", certificate], env);
    await timedKeyward(["escrow", "agent", "add", "--name", who, "--certificate", certificate], env);
  }
}

export interface DrillFigures {
  create: { seconds: number; rssMb: number };
  archiveMb: number;
  restore: { seconds: number; rssMb: number };
  rows: number;
}

/**
 * Backs up (with the token), opens both custodians' shares, calls `lose` (which removes the data
 * and the token and returns the environment of the empty deployment to restore into), restores.
 */
export async function backupDrill(
  dir: string,
  env: NodeJS.ProcessEnv,
  lose: () => Promise<NodeJS.ProcessEnv>,
): Promise<DrillFigures> {
  const archive = join(dir, "keyward.backup");
  const custodians = CUSTODIANS.join(",");
  const create = await timedKeyward(
    ["backup", "create", "--out", archive, "--custodians", custodians, "--threshold", "2", "--include-token"],
    env,
  );
  const shares: string[] = [];
  for (const who of CUSTODIANS) {
    const sealed = join(dir, `${who}.cms`);
    await timedKeyward(["backup", "share", "export", archive, "--custodian", who, "--out", sealed], env);
    const share = join(dir, `${who}.share`);
    const key = ["--key", join(dir, `${who}.key`), "--certificate", join(dir, `${who}.pem`)];
    await timedKeyward(["escrow", "share", "decrypt", "--in", sealed, ...key, "--out", share], env);
    shares.push("--share", `${who}=${share}`);
  }
  const emptyEnv = await lose();
  const restore = await timedKeyward(["backup", "restore", archive, "--include-token", ...shares, "--json"], emptyEnv);
  const rows = Object.values((JSON.parse(restore.stdout) as { rows: Record<string, number> }).rows).reduce(
    (a, b) => a + b,
    0,
  );
  return {
    create: { seconds: create.seconds, rssMb: create.rssMb },
    archiveMb: statSync(archive).size / 1024 / 1024,
    restore: { seconds: restore.seconds, rssMb: restore.rssMb },
    rows,
  };
}
