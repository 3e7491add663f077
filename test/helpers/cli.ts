import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { promisify } from "node:util";
import { testEnv } from "./keyward.js";
import type { TestToken } from "./softhsm.js";

/** The built CLI, as operators run it: tests that use it need `npm run build` (npm test does). */
export const BIN = resolve(import.meta.dirname, "../../bin/keyward.js");
if (!existsSync(resolve(import.meta.dirname, "../../dist/cli/main.js"))) {
  throw new Error("these tests run the built CLI: run `npm run build` first (npm test does)");
}

const run = promisify(execFile);

/** `keyward <args>` on the test token's data dir; never throws, returns the exit code and output. */
export async function keyward(token: TestToken, args: string[], env: Record<string, string> = {}, input?: string) {
  try {
    const pending = run(process.execPath, [BIN, ...args], { env: { ...process.env, ...testEnv(token, env) } });
    pending.child.stdin?.end(input ?? "");
    const { stdout, stderr } = await pending;
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** `keyward serve` as its own process; resolves once it prints its URL. */
export async function serve(
  token: TestToken,
  port: number,
  args: string[] = [],
): Promise<{ child: ChildProcess; url: string; stop(): Promise<number | null> }> {
  const child = spawn(process.execPath, [BIN, "serve", "--json", ...args], {
    env: { ...process.env, ...testEnv(token, { KEYWARD_LISTEN: `127.0.0.1:${port}` }) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const url = await new Promise<string>((resolveUrl, reject) => {
    let out = "";
    child.stdout!.on("data", (d) => {
      out += d;
      const match = /"url":\s*"([^"]+)"/.exec(out);
      if (match) resolveUrl(match[1]!);
    });
    child.once("exit", (code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
  });
  return {
    child,
    url,
    stop: () =>
      new Promise((resolveCode) => {
        child.once("exit", (code) => resolveCode(code));
        child.kill("SIGTERM");
      }),
  };
}
