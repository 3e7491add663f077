import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { BIN } from "../helpers/cli.js";

const run = promisify(execFile);
const work = mkdtempSync(join(tmpdir(), "keyward-init-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** `keyward` with only what an operator's fresh shell has: no HSM or SoftHSM2 settings at all. */
async function keyward(args: string[], env: Record<string, string>) {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith("KEYWARD_") && k !== "SOFTHSM2_CONF"),
  );
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], {
      env: { ...clean, KEYWARD_LOG_LEVEL: "silent", ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("keyward init on a fresh data dir", () => {
  it("sets up the default SoftHSM2 token itself, as npm start does", async () => {
    const dir = join(work, "fresh");
    const result = await keyward(["init"], { KEYWARD_DATA_DIR: dir });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain(`Created a SoftHSM2 token "keyward" in ${dir}`);
    expect(statSync(join(dir, "hsm.pin")).mode & 0o777).toBe(0o600);
    expect(existsSync(join(dir, "softhsm2.conf"))).toBe(true);
    const cas = JSON.parse((await keyward(["ca", "list", "--json"], { KEYWARD_DATA_DIR: dir })).stdout);
    expect(cas.items.map((c: { id: string }) => c.id).sort()).toEqual(["intermediate", "root"]);
    // Idempotent: the second run changes nothing.
    const again = await keyward(["init"], { KEYWARD_DATA_DIR: dir });
    expect(again.stdout).toContain("CA already initialised");
  });

  it("names a missing PIN for another token, and leaves nothing behind", async () => {
    const dir = join(work, "no-pin");
    const result = await keyward(["init"], {
      KEYWARD_DATA_DIR: dir,
      KEYWARD_HSM_PIN_SOURCE: `file:${join(work, "absent.pin")}`,
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      `HSM PIN source file:${join(work, "absent.pin")}: cannot read the file (ENOENT): put the token's user PIN there`,
    );
    expect(existsSync(dir)).toBe(false);
  });

  it("names a missing token and how to create it, and leaves nothing behind", async () => {
    const dir = join(work, "no-token");
    mkdirSync(join(work, "empty-tokens"));
    writeFileSync(join(work, "empty.conf"), `directories.tokendir = ${join(work, "empty-tokens")}\n`);
    const result = await keyward(["init"], {
      KEYWARD_DATA_DIR: dir,
      SOFTHSM2_CONF: join(work, "empty.conf"),
      KEYWARD_HSM_PIN_SOURCE: "env:PIN",
      PIN: "1234",
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      'no token labelled "keyward" in /usr/lib/softhsm/libsofthsm2.so: initialise it first with the HSM\'s tool (SoftHSM2: softhsm2-util --init-token --free --label keyward',
    );
    expect(existsSync(dir)).toBe(false);
  });

  it("removes the token and database it made when init fails later", async () => {
    const dir = join(work, "fails-late");
    const result = await keyward(["init", "--root-token", "not-attached"], { KEYWARD_DATA_DIR: dir });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('no token labelled "not-attached" is attached');
    expect(existsSync(dir) ? readdirSync(dir) : []).toEqual([]);
  });
});
