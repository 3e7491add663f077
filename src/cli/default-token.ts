import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../config/index.js";
import { ConfigError } from "../errors/index.js";
import { Pkcs11Hsm, readPin, useSoftHsmConf } from "../hsm/index.js";

/**
 * Whether the configuration is the embedded default: SoftHSM2 with its config, PIN file and token
 * directory inside the data dir (what `npm start` sets up), and no other SoftHSM2 config named.
 */
export function usesDefaultToken(config: Config): boolean {
  const { hsm, dataDir } = config;
  return (
    !process.env.SOFTHSM2_CONF &&
    /softhsm/i.test(hsm.module) &&
    hsm.softhsmConf === join(dataDir, "softhsm2.conf") &&
    hsm.pinSource === `file:${join(dataDir, "hsm.pin")}`
  );
}

/**
 * The default SoftHSM2 token in the data dir, created as `npm start` creates it (generated user
 * and SO PINs in hsm.pin and hsm-so.pin, 0600) unless it exists. softhsm2.conf is written last:
 * its presence means the token is complete.
 */
export function ensureDefaultToken(config: Config): { created: boolean } {
  const { dataDir, hsm } = config;
  const conf = join(dataDir, "softhsm2.conf");
  if (existsSync(conf)) return { created: false };
  if (!existsSync(hsm.module)) {
    throw new ConfigError(
      `SoftHSM2 is not installed (no ${hsm.module}): install it with \`apt-get install -y softhsm2\` (npm start does this), or set hsm.module and hsm.pinSource for your PKCS#11 module`,
    );
  }
  mkdirSync(join(dataDir, "tokens"), { recursive: true, mode: 0o700 });
  chmodSync(dataDir, 0o700);
  const pin = randomBytes(16).toString("hex");
  const soPin = randomBytes(16).toString("hex");
  writeFileSync(join(dataDir, "hsm.pin"), `${pin}\n`, { mode: 0o600 });
  // The SO PIN re-initialises the token or resets the user PIN; keep it offline in production.
  writeFileSync(join(dataDir, "hsm-so.pin"), `${soPin}\n`, { mode: 0o600 });
  const draft = `${conf}.tmp`;
  writeFileSync(
    draft,
    `directories.tokendir = ${join(dataDir, "tokens")}\nobjectstore.backend = file\nlog.level = ERROR\n`,
    {
      mode: 0o600,
    },
  );
  try {
    execFileSync("softhsm2-util", ["--init-token", "--free", "--label", hsm.token, "--pin", pin, "--so-pin", soPin], {
      env: { ...process.env, SOFTHSM2_CONF: draft },
      stdio: ["ignore", "ignore", "pipe"],
    });
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: Buffer };
    throw new ConfigError(
      e.code === "ENOENT"
        ? "softhsm2-util is not installed: install it with `apt-get install -y softhsm2` (npm start does this)"
        : `softhsm2-util could not create token "${hsm.token}": ${e.stderr?.toString().trim() || e.message}`,
    );
  }
  renameSync(draft, conf);
  return { created: true };
}

/** What a data dir holds now, to remove exactly what a failed command added to it. */
export function dataDirEntries(dataDir: string): { existed: boolean; entries: Set<string> } {
  return existsSync(dataDir)
    ? { existed: true, entries: new Set(readdirSync(dataDir)) }
    : { existed: false, entries: new Set() };
}

/**
 * Removes what was added to a fresh data dir since `before` (the whole dir when it was new). A data
 * dir that already held a database is left alone: its WAL may come and go under a running server.
 */
export function removeAdded(dataDir: string, before: { existed: boolean; entries: Set<string> }): void {
  if (!existsSync(dataDir) || before.entries.has("keyward.db")) return;
  if (!before.existed) {
    rmSync(dataDir, { recursive: true, force: true });
    return;
  }
  for (const entry of readdirSync(dataDir)) {
    if (!before.entries.has(entry)) rmSync(join(dataDir, entry), { recursive: true, force: true });
  }
}

/**
 * For a token Keyward does not set up itself: what is missing and how to provide it, before
 * anything is created.
 */
export function checkConfiguredToken(config: Config): void {
  const { hsm } = config;
  try {
    readPin(hsm.pinSource);
  } catch (error) {
    throw new ConfigError(
      `${(error as Error).message}: put the token's user PIN there (a file: its first line, mode 0600), or point hsm.pinSource (KEYWARD_HSM_PIN_SOURCE) at it`,
    );
  }
  if (!existsSync(hsm.module)) {
    throw new ConfigError(
      `the PKCS#11 module ${hsm.module} does not exist: set hsm.module (KEYWARD_HSM_MODULE) to your HSM's library`,
    );
  }
  useSoftHsmConf(hsm);
  if (!Pkcs11Hsm.tokenPresent(hsm.module, hsm.token)) {
    throw new ConfigError(
      `no token labelled "${hsm.token}" in ${hsm.module}: initialise it first with the HSM's tool (SoftHSM2: softhsm2-util --init-token --free --label ${hsm.token} --pin … --so-pin …), then run keyward init again`,
    );
  }
}
