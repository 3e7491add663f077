import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pkcs11js from "pkcs11js";
import { parsePkcs11Uri } from "../../src/hsm/uri.js";

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

/**
 * Asks the token for CKA_VALUE of the private key a pkcs11: URI names, over a session of our own
 * opened with pkcs11js directly (not through Keyward's adapter). Returns the value, or throws the
 * module's refusal as pkcs11js reports it (a Pkcs11Error whose code is the CKR_…).
 */
export function readPrivateValue(token: TestToken, uri: string): Buffer {
  const { object, id } = parsePkcs11Uri(uri);
  const p11 = new pkcs11js.PKCS11();
  p11.load(token.modulePath);
  // The module is per process: if Keyward's adapter initialised it and logged in, this shares that.
  try {
    p11.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
  } catch (error) {
    if ((error as pkcs11js.Pkcs11Error).code !== pkcs11js.CKR_CRYPTOKI_ALREADY_INITIALIZED) throw error;
  }
  const slot = p11.C_GetSlotList(true).find((s) => p11.C_GetTokenInfo(s).label.trim() === token.tokenLabel);
  if (slot === undefined) throw new Error(`no token labelled ${token.tokenLabel}`);
  const session = p11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
  try {
    try {
      p11.C_Login(session, pkcs11js.CKU_USER, token.pin);
    } catch (error) {
      if ((error as pkcs11js.Pkcs11Error).code !== pkcs11js.CKR_USER_ALREADY_LOGGED_IN) throw error;
    }
    p11.C_FindObjectsInit(session, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
      ...(object !== undefined ? [{ type: pkcs11js.CKA_LABEL, value: object }] : []),
      ...(id !== undefined ? [{ type: pkcs11js.CKA_ID, value: id }] : []),
    ]);
    const keys = p11.C_FindObjects(session, 2);
    p11.C_FindObjectsFinal(session);
    // Exactly one key: a refusal below is about its value, not about finding it.
    if (keys.length !== 1) throw new Error(`${keys.length} private keys match ${uri}`);
    const [value] = p11.C_GetAttributeValue(session, keys[0]!, [{ type: pkcs11js.CKA_VALUE }]);
    return value?.value as Buffer;
  } finally {
    // Closing our session leaves the adapter's sessions, and their login, as they were.
    p11.C_CloseSession(session);
  }
}
