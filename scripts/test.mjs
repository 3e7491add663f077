// `npm test`: make sure the machine has what the tests use, build the CLI they run, run vitest.
// Extra arguments go to vitest (e.g. `npm test -- test/unit`).
import { spawnSync } from "node:child_process";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureBuild, ensureDebianPackages, ensureDependencies, SOFTHSM_PACKAGE } from "./setup-lib.mjs";
import { existsSync } from "node:fs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
ensureDebianPackages([
  SOFTHSM_PACKAGE,
  { name: "opensc", present: () => existsSync("/usr/bin/pkcs11-tool") },
  { name: "openssl", present: () => existsSync("/usr/bin/openssl") },
  // pebble-challtestsrv: a real DNS server for ACME test names and dns-01 records.
  { name: "pebble", present: () => existsSync("/usr/bin/pebble-challtestsrv") },
  // Real ACME clients, unmodified, for the interop tests.
  { name: "lego", present: () => existsSync("/usr/bin/lego") },
  { name: "certbot", present: () => existsSync("/usr/bin/certbot") },
  { name: "curl", present: () => existsSync("/usr/bin/curl") },
  // The executable runbooks (docs/handbook) check JSON and encode ARI identifiers with these.
  { name: "jq", present: () => existsSync("/usr/bin/jq") },
  { name: "xxd", present: () => existsSync("/usr/bin/xxd") },
  // The load balancer of the fleet test (scripts/fleet.mjs).
  { name: "nginx", present: () => existsSync("/usr/sbin/nginx") },
  // The portability suite's tokens (test/interop/tokens.test.ts, docs/hsm.md): tpm2-pkcs11 on a
  // software TPM behind tpm2-abrmd on a private D-Bus bus, and opencryptoki's soft token.
  { name: "swtpm", present: () => existsSync("/usr/bin/swtpm") },
  { name: "swtpm-tools", present: () => existsSync("/usr/bin/swtpm_setup") },
  { name: "tpm2-tools", present: () => existsSync("/usr/bin/tpm2_getrandom") },
  { name: "tpm2-abrmd", present: () => existsSync("/usr/sbin/tpm2-abrmd") },
  {
    name: "libtss2-tcti-tabrmd0",
    present: () => existsSync("/usr/lib/x86_64-linux-gnu/libtss2-tcti-tabrmd.so.0"),
  },
  { name: "libtpm2-pkcs11-1", present: () => existsSync("/usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so") },
  { name: "libtpm2-pkcs11-tools", present: () => existsSync("/usr/bin/tpm2_ptool") },
  { name: "dbus", present: () => existsSync("/usr/bin/dbus-daemon") },
  { name: "opencryptoki", present: () => existsSync("/usr/sbin/pkcsslotd") },
  // The browser the console tests drive (playwright-core, no downloaded browser).
  { name: "chromium", present: () => existsSync("/usr/bin/chromium") },
]);
ensureDependencies(root);
ensureBuild(root);
const vitest = resolve(root, "node_modules", "vitest", "vitest.mjs");
const result = spawnSync(process.execPath, [vitest, "run", ...process.argv.slice(2)], { cwd: root, stdio: "inherit" });
process.exit(result.status ?? 1);
