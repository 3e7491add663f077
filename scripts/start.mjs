// `npm start`: set up what is missing on this machine, initialise ./data on the first run, serve.
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureBuild, ensureDebianPackages, ensureDependencies, fail, log, SOFTHSM_PACKAGE } from "./setup-lib.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 20 || (major === 20 && minor < 19)) fail(`Node.js 20.19 or newer is needed, this is ${process.version}`);

ensureDebianPackages([SOFTHSM_PACKAGE]);
// A packaged install (the Docker image) ships dist/ without sources: nothing to install or build.
if (existsSync(join(root, "src"))) {
  ensureDependencies(root);
  ensureBuild(root);
}

const dataDir = resolve(process.env.KEYWARD_DATA_DIR ?? join(root, "data"));
const env = { ...process.env, KEYWARD_DATA_DIR: dataDir };
const keyward = (args, options = {}) =>
  execFileSync(process.execPath, [join(root, "bin", "keyward.js"), ...args], { env, stdio: "inherit", ...options });

// The embedded default: a SoftHSM2 token of our own inside the data dir, with a generated PIN.
const conf = join(dataDir, "softhsm2.conf");
const usesOwnToken = !process.env.KEYWARD_HSM_MODULE && !process.env.SOFTHSM2_CONF;
if (usesOwnToken && !existsSync(conf)) {
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
  execFileSync(
    "softhsm2-util",
    ["--init-token", "--free", "--label", process.env.KEYWARD_HSM_TOKEN ?? "keyward", "--pin", pin, "--so-pin", soPin],
    {
      env: { ...process.env, SOFTHSM2_CONF: join(dataDir, "softhsm2.conf.tmp") },
      stdio: ["ignore", "ignore", "inherit"],
    },
  );
  // Written last: its presence means the token is complete.
  execFileSync("mv", [join(dataDir, "softhsm2.conf.tmp"), conf]);
}

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
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => server.kill(signal));
server.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
