// `npm start`: set up what is missing on this machine, initialise ./data on the first run, serve.
import { execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  ensureBuild,
  ensureDebianPackages,
  ensureDependencies,
  ensureSoftHsmToken,
  fail,
  log,
  SOFTHSM_PACKAGE,
} from "./setup-lib.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 20 || (major === 20 && minor < 19)) fail(`Node.js 20.19 or newer is needed, this is ${process.version}`);

ensureDebianPackages([SOFTHSM_PACKAGE]);
// A packaged install (the Docker image) ships dist/ without sources: nothing to install or build.
if (existsSync(join(root, "src"))) {
  ensureDependencies(root);
  ensureBuild(root);
}

// From here on (not for npm ci and the build above): the data dir holds the token, PINs and the
// database, owner-only whatever the caller's umask; `keyward` inherits this and sets it itself too.
process.umask(0o077);
const dataDir = resolve(process.env.KEYWARD_DATA_DIR ?? join(root, "data"));
const env = { ...process.env, KEYWARD_DATA_DIR: dataDir };
const keyward = (args, options = {}) =>
  execFileSync(process.execPath, [join(root, "bin", "keyward.js"), ...args], { env, stdio: "inherit", ...options });

// The embedded default: a SoftHSM2 token of our own inside the data dir, with a generated PIN.
const usesOwnToken = !process.env.KEYWARD_HSM_MODULE && !process.env.SOFTHSM2_CONF;
if (usesOwnToken) ensureSoftHsmToken(dataDir, process.env.KEYWARD_HSM_TOKEN ?? "keyward");

// KEYWARD_SETUP_ONLY=1: a fresh token and nothing else, e.g. to restore a backup into it.
if (process.env.KEYWARD_SETUP_ONLY) {
  log(`set up ${dataDir}; no CA created (restore with: npx keyward backup restore ARCHIVE --share NAME=FILE …)`);
  process.exit(0);
}

keyward(["init"]);

const server = spawn(process.execPath, [join(root, "bin", "keyward.js"), "serve", ...process.argv.slice(2)], {
  env,
  stdio: "inherit",
});
// Forwarded once: a Ctrl-C reaches the whole process group, so `serve` may get it twice (directly
// and from here); it shuts down once either way, and we wait for it.
let forwarded = false;
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    if (!forwarded) server.kill(signal);
    forwarded = true;
  });
}
server.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
