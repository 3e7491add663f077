import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

/**
 * Issue 22, finding 6: keyward.db, its WAL/SHM and softhsm2.conf were created 0644, protected only
 * by the data directory's 0700. Under `umask 000` every file npm start and the CLI create in the
 * data dir must still be 0600, and every directory 0700.
 */
const ROOT = resolve(import.meta.dirname, "../..");
const dataDir = join(mkdtempSync(join(tmpdir(), "keyward-modes-")), "data");
afterAll(() => rmSync(resolve(dataDir, ".."), { recursive: true, force: true }));

const { SOFTHSM2_CONF: _conf, KEYWARD_HSM_MODULE: _module, ...inherited } = process.env;
const env = { ...inherited, KEYWARD_DATA_DIR: dataDir, KEYWARD_LOG_LEVEL: "silent" };
const underUmask000 = (command: string) =>
  execFileSync("sh", ["-c", `umask 000; ${command}`], { cwd: ROOT, env, stdio: "pipe", encoding: "utf8" });

function modes(dir: string): Array<[string, string]> {
  const out: Array<[string, string]> = [[dir, (statSync(dir).mode & 0o777).toString(8)]];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...modes(path));
    else out.push([path, (statSync(path).mode & 0o777).toString(8)]);
  }
  return out;
}

describe("files Keyward creates", () => {
  it("are 0600 (directories 0700) under umask 000: token, PINs, database, WAL/SHM, witness", () => {
    // The token and its config as npm start makes them, then the CA, a token and a CRL by the CLI.
    underUmask000("KEYWARD_SETUP_ONLY=1 node scripts/start.mjs");
    underUmask000("node bin/keyward.js init");
    underUmask000("node bin/keyward.js token create --role admin > /dev/null");
    const all = modes(dataDir);
    const names = all.map(([path]) => path.slice(dataDir.length + 1));
    for (const expected of ["softhsm2.conf", "hsm.pin", "keyward.db", "audit-witness.log"]) {
      expect(names).toContain(expected);
    }
    for (const [path, mode] of all) {
      const isDir = statSync(path).isDirectory();
      expect(`${path} ${mode}`).toBe(`${path} ${isDir ? "700" : "600"}`);
    }
  });
});
