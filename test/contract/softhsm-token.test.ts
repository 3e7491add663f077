import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { copySoftHsmToken, restoreSoftHsmToken } from "../../src/backup/index.js";
import { ConflictError } from "../../src/errors/index.js";
import { SOFTHSM_MODULE } from "../helpers/softhsm.js";

const work = mkdtempSync(join(tmpdir(), "keyward-carry-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function tokenDir(name: string, labels: string[]) {
  const dir = join(work, name);
  mkdirSync(join(dir, "tokens"), { recursive: true });
  const softhsmConf = join(dir, "softhsm2.conf");
  writeFileSync(softhsmConf, `directories.tokendir = ${join(dir, "tokens")}\nobjectstore.backend = file\n`);
  for (const label of labels) {
    execFileSync("softhsm2-util", ["--init-token", "--free", "--label", label, "--pin", "1234", "--so-pin", "5678"], {
      env: { ...process.env, SOFTHSM2_CONF: softhsmConf },
      stdio: "pipe",
    });
  }
  return { dir, softhsmConf, tokens: join(dir, "tokens") };
}

describe("carrying a SoftHSM2 token in a backup", () => {
  it("refuses loudly for a token that cannot be copied", () => {
    const call = () => copySoftHsmToken({ module: "/opt/vendor/lib/libcs_pkcs11_R3.so", token: "keyward" });
    expect(call).toThrow(ConflictError);
    expect(call).toThrow(/the token of module \/opt\/vendor\/lib\/libcs_pkcs11_R3\.so cannot be carried/);
  });

  it("copies the token with its label (not one whose label it prefixes) and puts it back only where it is absent", () => {
    delete process.env.SOFTHSM2_CONF;
    const from = tokenDir("from", ["keyward-root", "keyward"]);
    const carried = copySoftHsmToken({ module: SOFTHSM_MODULE, token: "keyward", softhsmConf: from.softhsmConf });
    expect(carried.label).toBe("keyward");
    expect(carried.files.map((f) => f.name)).toEqual(expect.arrayContaining(["token.object", "generation"]));

    const to = tokenDir("to", []);
    const location = { module: SOFTHSM_MODULE, token: "keyward", softhsmConf: to.softhsmConf };
    restoreSoftHsmToken(location, carried);
    // softhsm2-util, not Keyward, sees the restored token under its label.
    const slots = execFileSync("softhsm2-util", ["--show-slots"], {
      env: { ...process.env, SOFTHSM2_CONF: to.softhsmConf },
      encoding: "utf8",
    });
    expect(slots).toMatch(/Label:\s+keyward\s*\n/);
    expect(() => restoreSoftHsmToken(location, carried)).toThrow(/a token labelled "keyward" already exists/);
    expect(() => restoreSoftHsmToken({ ...location, token: "other" }, carried)).toThrow(
      /restore with KEYWARD_HSM_TOKEN=keyward/,
    );
    expect(readdirSync(to.tokens)).toHaveLength(1);
  });
});
