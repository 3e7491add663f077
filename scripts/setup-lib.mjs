// Shared by `npm start` and `npm test`: what a fresh Debian machine needs before Keyward runs.
// Plain JavaScript, so it works before dependencies are installed or anything is built.
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readdirSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so";

export function log(message) {
  process.stderr.write(`[keyward] ${message}\n`);
}

export function fail(message) {
  process.stderr.write(`[keyward] ${message}\n`);
  process.exit(1);
}

function have(command) {
  return spawnSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" }).status === 0;
}

/** Installs missing Debian packages when we are root with apt; otherwise says exactly what to run. */
export function ensureDebianPackages(packages) {
  const missing = packages.filter((p) => !p.present());
  if (missing.length === 0) return;
  const names = missing.map((p) => p.name);
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  if (!isRoot || !have("apt-get")) {
    fail(`missing system packages: ${names.join(", ")}. Install them with: sudo apt-get install -y ${names.join(" ")}`);
  }
  log(`installing ${names.join(", ")} with apt-get…`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  execFileSync("apt-get", ["update", "-qq"], { stdio: "inherit", env });
  execFileSync("apt-get", ["install", "-y", "-qq", ...names], { stdio: "inherit", env });
  // Debian's nginx starts a default site on port 80; tests run their own nginx.
  if (names.includes("nginx")) spawnSync("service", ["nginx", "stop"], { stdio: "ignore" });
}

export const SOFTHSM_PACKAGE = { name: "softhsm2", present: () => existsSync(SOFTHSM_MODULE) && have("softhsm2-util") };

function newestMtime(path) {
  const s = statSync(path);
  if (!s.isDirectory()) return s.mtimeMs;
  let newest = s.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

/** `npm ci` when node_modules is missing or older than the lock file. */
export function ensureDependencies(root) {
  const marker = join(root, "node_modules", ".package-lock.json");
  const lock = join(root, "package-lock.json");
  if (existsSync(marker) && statSync(marker).mtimeMs >= statSync(lock).mtimeMs) return;
  log("installing dependencies (npm ci; the first run compiles native modules and takes a few minutes)…");
  execFileSync("npm", ["ci", "--no-audit", "--no-fund"], { cwd: root, stdio: "inherit" });
}

/** Builds dist/ (server and console) when either is missing or older than any of its sources. */
export function ensureBuild(root) {
  const outputs = [join(root, "dist", "cli", "main.js"), join(root, "dist", "console", "index.html")];
  const sources = Math.max(
    newestMtime(join(root, "src")),
    existsSync(join(root, "console")) ? newestMtime(join(root, "console")) : 0,
    statSync(join(root, "tsconfig.json")).mtimeMs,
  );
  if (outputs.every((built) => existsSync(built) && statSync(built).mtimeMs >= sources)) return;
  log("building (tsc, vite)…");
  execFileSync("npm", ["run", "--silent", "build"], { cwd: root, stdio: "inherit" });
}

/**
 * A SoftHSM2 token of Keyward's own inside `dataDir` (tokens/, softhsm2.conf, a generated PIN in
 * hsm.pin and SO PIN in hsm-so.pin), unless one is already there.
 */
export function ensureSoftHsmToken(dataDir, label) {
  const conf = join(dataDir, "softhsm2.conf");
  if (existsSync(conf)) return;
  log(`first run: creating a SoftHSM2 token in ${dataDir}`);
  mkdirSync(join(dataDir, "tokens"), { recursive: true, mode: 0o700 });
  chmodSync(dataDir, 0o700);
  const pin = randomBytes(16).toString("hex");
  const soPin = randomBytes(16).toString("hex");
  writeFileSync(join(dataDir, "hsm.pin"), `${pin}\n`, { mode: 0o600 });
  // The SO PIN re-initialises the token or resets the user PIN; keep it offline in production.
  writeFileSync(join(dataDir, "hsm-so.pin"), `${soPin}\n`, { mode: 0o600 });
  writeFileSync(
    join(dataDir, "softhsm2.conf.tmp"),
    `directories.tokendir = ${join(dataDir, "tokens")}\nobjectstore.backend = file\nlog.level = ERROR\n`,
  );
  execFileSync("softhsm2-util", ["--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", soPin], {
    env: { ...process.env, SOFTHSM2_CONF: join(dataDir, "softhsm2.conf.tmp") },
    stdio: ["ignore", "ignore", "inherit"],
  });
  // Written last: its presence means the token is complete.
  renameSync(join(dataDir, "softhsm2.conf.tmp"), conf);
}
