import { existsSync } from "node:fs";
import { readPin } from "./pin.js";
import { Pkcs11Hsm } from "./pkcs11-hsm.js";
import { TokenSet } from "./token-set.js";

/** The token settings (config `hsm`). */
export interface TokenSettings {
  module: string;
  token: string;
  pinSource: string;
  sessions: number;
  signingThreads: number;
  /** The offline root's token, attached only for ceremonies. */
  rootModule?: string;
  rootPinSource: string;
  /** SoftHSM2's configuration in the data dir, used unless the environment names one. */
  softhsmConf?: string;
  disableMechanisms?: string[];
}

/** SoftHSM reads SOFTHSM2_CONF once, at C_Initialize: it must be set before the module loads. */
export function useSoftHsmConf(settings: Pick<TokenSettings, "softhsmConf">): void {
  const conf = settings.softhsmConf;
  if (!process.env.SOFTHSM2_CONF && conf && existsSync(conf)) process.env.SOFTHSM2_CONF = conf;
}

/**
 * Opens the online token and the set of CA tokens around it. CA keys are found by the token their
 * URI names: an offline root's token is opened only when a ceremony needs it, so a server without
 * it attached starts and serves.
 */
export async function openTokens(settings: TokenSettings): Promise<{ hsm: Pkcs11Hsm; caTokens: TokenSet }> {
  useSoftHsmConf(settings);
  const hsm = await Pkcs11Hsm.open({
    modulePath: settings.module,
    tokenLabel: settings.token,
    pin: readPin(settings.pinSource),
    sessions: settings.sessions,
    signingThreads: settings.signingThreads,
    disableMechanisms: settings.disableMechanisms,
  });
  const caTokens = new TokenSet(hsm, {
    modulePath: settings.rootModule ?? settings.module,
    pinSource: settings.rootPinSource,
    help: "docs/handbook/root-ceremony.md",
  });
  return { hsm, caTokens };
}
