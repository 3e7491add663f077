import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const SOFTHSM_MODULE = process.env.KEYWARD_TEST_PKCS11_MODULE ?? "/usr/lib/softhsm/libsofthsm2.so";

export interface TestToken {
  dir: string;
  conf: string;
  modulePath: string;
  tokenLabel: string;
  pin: string;
  pinFile: string;
  cleanup(): void;
}

/**
 * A fresh SoftHSM2 token in its own temp directory with its own SOFTHSM2_CONF, set in this
 * process's environment (the module reads it at C_Initialize, once per process).
 */
export function createTestToken(label = "keyward-test"): TestToken {
  if (!existsSync(SOFTHSM_MODULE)) {
    throw new Error(`SoftHSM2 is not installed (${SOFTHSM_MODULE} missing): apt-get install -y softhsm2`);
  }
  const dir = mkdtempSync(join(tmpdir(), "keyward-hsm-"));
  const tokens = join(dir, "tokens");
  mkdirSync(tokens);
  const conf = join(dir, "softhsm2.conf");
  writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  const pin = "test-pin-4821";
  const pinFile = join(dir, "hsm.pin");
  writeFileSync(pinFile, `${pin}\n`, { mode: 0o600 });
  execFileSync(
    "softhsm2-util",
    ["--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", "test-so-pin-9"],
    { env: { ...process.env, SOFTHSM2_CONF: conf }, stdio: "pipe" },
  );
  process.env.SOFTHSM2_CONF = conf;
  return {
    dir,
    conf,
    modulePath: SOFTHSM_MODULE,
    tokenLabel: label,
    pin,
    pinFile,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * The token's objects of one type as pkcs11-tool (OpenSC, a tool we did not write) lists them:
 * one text block per object, with its label, usage and access flags.
 */
export function listTokenObjects(token: TestToken, type: "privkey" | "secrkey"): string[] {
  const out = execFileSync(
    "pkcs11-tool",
    [
      "--module",
      token.modulePath,
      "--token-label",
      token.tokenLabel,
      "--login",
      "--pin",
      token.pin,
      "--list-objects",
      "--type",
      type,
    ],
    { env: { ...process.env, SOFTHSM2_CONF: token.conf }, encoding: "utf8" },
  );
  return out.split(/\n(?=(?:Private|Secret) Key Object)/).filter((b) => /^(Private|Secret) Key Object/.test(b));
}
