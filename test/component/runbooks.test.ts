import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { BIN } from "../helpers/cli.js";
import { freePort } from "../helpers/keyward.js";
import { SOFTHSM_MODULE } from "../helpers/softhsm.js";

const HANDBOOK = resolve(import.meta.dirname, "../../docs/handbook");
const TOTP = resolve(import.meta.dirname, "../../scripts/totp.mjs");

/** The ```sh blocks of a page, in order, with the line each starts on. */
function shellBlocks(markdown: string): Array<{ line: number; code: string }> {
  const blocks: Array<{ line: number; code: string }> = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== "```sh") continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && lines[end]!.trim() !== "```") end++;
    blocks.push({ line: start + 1, code: lines.slice(start, end).join("\n") });
    i = end;
  }
  return blocks;
}

/**
 * Runs one page's blocks in order in one bash (`set -euo pipefail`, so variables carry from block to
 * block as they would in an operator's shell) against a fresh data dir and token. Each block
 * announces itself, so a failure names the block that failed.
 */
async function runPage(page: string): Promise<{ code: number | null; output: string; failedBlock?: number }> {
  const blocks = shellBlocks(readFileSync(join(HANDBOOK, page), "utf8"));
  const work = mkdtempSync(join(tmpdir(), "keyward-runbook-"));
  try {
    mkdirSync(join(work, "bin"));
    symlinkSync(BIN, join(work, "bin", "keyward"));
    symlinkSync(TOTP, join(work, "bin", "totp"));
    mkdirSync(join(work, "tokens"));
    writeFileSync(
      join(work, "softhsm2.conf"),
      `directories.tokendir = ${join(work, "tokens")}\nobjectstore.backend = file\nlog.level = ERROR\n`,
    );
    const script = [
      "set -euo pipefail",
      ...blocks.map((b, i) => `echo "::block ${i + 1} (line ${b.line})" >&2\n${b.code}`),
      'echo "::done" >&2',
    ].join("\n");
    writeFileSync(join(work, "runbook.sh"), script);
    const port = await freePort();
    // What an operator's shell holds before starting (docs/handbook/README.md, "Before you start").
    const env = {
      PATH: `${join(work, "bin")}:${process.env.PATH}`,
      HOME: work,
      LANG: "C.UTF-8",
      SOFTHSM2_CONF: join(work, "softhsm2.conf"),
      PKCS11_MODULE: SOFTHSM_MODULE,
      KEYWARD_HSM_MODULE: SOFTHSM_MODULE,
      KEYWARD_DATA_DIR: join(work, "data"),
      KEYWARD_LISTEN: `127.0.0.1:${port}`,
      KEYWARD_HSM_TOKEN: "keyward",
      KEYWARD_HSM_PIN_SOURCE: "env:KEYWARD_HSM_PIN",
      KEYWARD_HSM_PIN: `online-${port}`,
      KEYWARD_HSM_SO_PIN: `so-${port}-online`,
      KEYWARD_HSM_ROOT_PIN: `root-${port}`,
      KEYWARD_LOG_LEVEL: "warn",
    };
    mkdirSync(env.KEYWARD_DATA_DIR, { mode: 0o700 });
    // The online token exists before any page starts, as `npm start` would have made it.
    execFileSync(
      "softhsm2-util",
      [
        "--init-token",
        "--free",
        "--label",
        "keyward",
        "--pin",
        env.KEYWARD_HSM_PIN,
        "--so-pin",
        env.KEYWARD_HSM_SO_PIN,
      ],
      { env: { ...process.env, SOFTHSM2_CONF: env.SOFTHSM2_CONF }, stdio: "pipe" },
    );
    const child = spawn("bash", [join(work, "runbook.sh")], { cwd: work, env, detached: true });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    const code = await new Promise<number | null>((done) => child.once("exit", done));
    // A page that failed half-way may leave its own `keyward serve` behind: end that process group.
    try {
      process.kill(-child.pid!, "SIGTERM");
    } catch {
      // Nothing left of it.
    }
    const started = [...output.matchAll(/::block (\d+)/g)].map((m) => Number(m[1]));
    return { code, output, failedBlock: code === 0 ? undefined : started.at(-1) };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Pages run side by side, a few at a time: each is mostly waiting on short CLI processes. */
const PARALLEL_PAGES = 3;
let running = 0;
const waiting: Array<() => void> = [];
async function limited<T>(work: () => Promise<T>): Promise<T> {
  if (running >= PARALLEL_PAGES) await new Promise<void>((r) => waiting.push(r));
  running++;
  try {
    return await work();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

const pages = readdirSync(HANDBOOK)
  .filter((f) => f.endsWith(".md") && f !== "README.md")
  .filter((f) => !process.env.RUNBOOK || f.startsWith(process.env.RUNBOOK));

describe("executable runbooks (docs/handbook)", () => {
  it("the handbook index links every page, and every page has commands to run", () => {
    const index = readFileSync(join(HANDBOOK, "README.md"), "utf8");
    for (const page of readdirSync(HANDBOOK).filter((f) => f.endsWith(".md") && f !== "README.md")) {
      expect(index, `README.md links ${page}`).toContain(`(${page})`);
      expect(shellBlocks(readFileSync(join(HANDBOOK, page), "utf8")).length, page).toBeGreaterThan(0);
    }
  });

  it("extracts blocks in order", () => {
    const blocks = shellBlocks("# t\n```sh\necho 1\n```\ntext\n```json\n{}\n```\n```sh\necho 2\necho 3\n```\n");
    expect(blocks).toEqual([
      { line: 3, code: "echo 1" },
      { line: 10, code: "echo 2\necho 3" },
    ]);
  });

  for (const page of pages) {
    // backup-restore.md runs a whole disaster drill twice (with and without the token): ~150 CLI calls.
    it.concurrent(`${page}: every block runs and its checks pass`, { timeout: 420_000 }, async () => {
      const result = await limited(() => runPage(page));
      const tail = result.output.split("\n").slice(-40).join("\n");
      expect(result.code, `${page} failed in block ${result.failedBlock}:\n${tail}`).toBe(0);
      expect(result.output).toContain("::done");
    });
  }
});
