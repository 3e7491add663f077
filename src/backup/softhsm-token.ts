import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { ConflictError } from "../errors/index.js";

/**
 * A SoftHSM2 token carried in a backup: its directory under `directories.tokendir`, file by file.
 * The private objects in it stay encrypted under the token's own key, which only the user PIN (or
 * SO PIN) opens: the archive adds its own encryption (the custodians' KEK) on top, and the PIN is
 * never in the archive.
 */
export interface CarriedToken {
  label: string;
  /** The token's directory name (SoftHSM2 names it by a UUID). */
  directory: string;
  /** SoftHSM2's generation counter at the copy: the token did not change while it was read. */
  generation: string;
  files: Array<{ name: string; data: string }>;
}

/** Where the token lives and how it is reached: the `hsm` settings plus SOFTHSM2_CONF. */
export interface TokenLocation {
  module: string;
  token: string;
  softhsmConf?: string;
}

const HSM_NATIVE =
  "back CA keys up with your HSM's own backup or cloning under dual control, or replace them after a restore (docs/handbook/backup-restore.md)";

/** SoftHSM2's token directory for these settings; refuses (loudly) for any other PKCS#11 module. */
export function softHsmTokenDir(location: TokenLocation): string {
  if (!/softhsm/i.test(basename(location.module))) {
    throw new ConflictError(
      `--include-token: the token of module ${location.module} cannot be carried in a backup archive (only SoftHSM2 keeps its token in files Keyward can copy); ${HSM_NATIVE}`,
    );
  }
  const conf = process.env.SOFTHSM2_CONF ?? location.softhsmConf;
  if (!conf || !existsSync(conf)) {
    throw new ConflictError(
      `--include-token: no SoftHSM2 configuration (SOFTHSM2_CONF or hsm.softhsmConf) to find the token directory in`,
    );
  }
  const line = readFileSync(conf, "utf8")
    .split("\n")
    .find((l) => /^\s*directories\.tokendir\s*=/.test(l));
  const dir = line?.split("=").slice(1).join("=").trim();
  if (!dir) throw new ConflictError(`--include-token: ${conf} names no directories.tokendir`);
  return dir;
}

/** The directory (under tokendir) of the token with this label, or undefined. */
export function findTokenDirectory(tokendir: string, label: string): string | undefined {
  // token.object holds the label as SoftHSM2 stores it: 32 bytes, blank-padded (no prefix matches).
  const padded = Buffer.from(label.padEnd(32, " "), "utf8");
  if (!existsSync(tokendir)) return undefined;
  for (const entry of readdirSync(tokendir)) {
    const object = join(tokendir, entry, "token.object");
    if (existsSync(object) && readFileSync(object).includes(padded)) return entry;
  }
  return undefined;
}

const stamp = (path: string) => {
  const s = statSync(path);
  return `${s.size}:${s.mtimeMs}`;
};

/**
 * A consistent copy of the token's files while Keyward may be running: SoftHSM2 bumps the token's
 * `generation` file on every object created or deleted and rewrites an object's file when it
 * changes, so a copy taken between two equal generations with no file changed since it was read
 * is the token as it was at one moment. Under steady writes it retries, then refuses.
 */
export function copySoftHsmToken(location: TokenLocation, attempts = 20): CarriedToken {
  const tokendir = softHsmTokenDir(location);
  const directory = findTokenDirectory(tokendir, location.token);
  if (!directory) {
    throw new ConflictError(`--include-token: no SoftHSM2 token labelled "${location.token}" in ${tokendir}`);
  }
  const path = join(tokendir, directory);
  const generation = () => readFileSync(join(path, "generation")).toString("hex");
  for (let attempt = 0; attempt < attempts; attempt++) {
    const before = generation();
    const names = readdirSync(path).sort();
    const stamps = names.map((name) => stamp(join(path, name)));
    const files = names.map((name) => ({ name, data: readFileSync(join(path, name)).toString("base64") }));
    const unchanged =
      generation() === before &&
      readdirSync(path).sort().join("/") === names.join("/") &&
      names.every((name, i) => stamp(join(path, name)) === stamps[i]);
    if (unchanged) return { label: location.token, directory, generation: before, files };
  }
  throw new ConflictError(
    `--include-token: token "${location.token}" kept changing while it was copied (${attempts} attempts); run the backup when the server is less busy, or stop it for the copy`,
  );
}

/**
 * Puts a carried token back under tokendir. Refuses when a token with its label (or its directory)
 * is already there: a restore never overwrites a token. Returns a function that removes it again,
 * for a restore that fails later.
 */
export function restoreSoftHsmToken(location: TokenLocation, carried: CarriedToken): () => void {
  const tokendir = softHsmTokenDir(location);
  if (carried.label !== location.token) {
    throw new ConflictError(
      `--include-token: the archive carries token "${carried.label}" but hsm.token is "${location.token}": restore with KEYWARD_HSM_TOKEN=${carried.label}`,
    );
  }
  const existing = findTokenDirectory(tokendir, carried.label);
  const path = join(tokendir, carried.directory);
  if (existing || existsSync(path)) {
    throw new ConflictError(
      `--include-token: a token labelled "${carried.label}" already exists in ${tokendir}; a restore never overwrites a token (remove it, or restore without --include-token)`,
    );
  }
  mkdirSync(path, { recursive: true, mode: 0o700 });
  for (const file of carried.files) {
    if (file.name.includes("/") || file.name.startsWith("."))
      throw new ConflictError(`bad token file name ${file.name}`);
    writeFileSync(join(path, file.name), Buffer.from(file.data, "base64"), { mode: 0o600 });
  }
  return () => rmSync(path, { recursive: true, force: true });
}
