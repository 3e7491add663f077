// Shared by `npm start` and `npm test`: what a fresh Debian machine needs before Keyward runs.
// Plain JavaScript, so it works before dependencies are installed or anything is built.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
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

/** Builds dist/ when it is missing or older than any source file. */
export function ensureBuild(root) {
  const built = join(root, "dist", "cli", "main.js");
  const sources = Math.max(newestMtime(join(root, "src")), statSync(join(root, "tsconfig.json")).mtimeMs);
  if (existsSync(built) && statSync(built).mtimeMs >= sources) return;
  log("building (tsc)…");
  execFileSync("npm", ["run", "--silent", "build"], { cwd: root, stdio: "inherit" });
}
