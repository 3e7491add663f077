import { existsSync } from "node:fs";
import type { Logger } from "pino";
import { TokenService } from "./access/index.js";
import { type Clock, systemClock } from "./clock/index.js";
import type { Config } from "./config/index.js";
import { Pkcs11Hsm, readPin } from "./hsm/index.js";
import { IssuanceService } from "./issuance/index.js";
import { CertificateAuthority } from "./signer/index.js";
import { type OpenDatabase, openDatabase, SqlCaStore, SqlCertificateStore, SqlTokenStore } from "./storage/index.js";

export interface Services {
  config: Config;
  clock: Clock;
  database: OpenDatabase;
  hsm: Pkcs11Hsm;
  ca: CertificateAuthority;
  issuance: IssuanceService;
  tokens: TokenService;
  close(): Promise<void>;
}

/**
 * Points the SoftHSM2 module at the data dir's token store, unless the environment chose one.
 * It must happen before the module is loaded: SoftHSM reads SOFTHSM2_CONF once, at C_Initialize.
 */
function selectSoftHsmConf(config: Config): void {
  const conf = config.hsm.softhsmConf;
  if (!process.env.SOFTHSM2_CONF && conf && existsSync(conf)) process.env.SOFTHSM2_CONF = conf;
}

/** The composition root: config → storage → HSM → services. `close()` runs in reverse order. */
export async function compose(config: Config, options: { clock?: Clock; logger?: Logger } = {}): Promise<Services> {
  const clock = options.clock ?? systemClock;
  const database = await openDatabase(config.database.url);
  let hsm: Pkcs11Hsm;
  try {
    selectSoftHsmConf(config);
    hsm = await Pkcs11Hsm.open({
      modulePath: config.hsm.module,
      tokenLabel: config.hsm.token,
      pin: readPin(config.hsm.pinSource),
      sessions: config.hsm.sessions,
    });
  } catch (error) {
    await database.close();
    throw error;
  }
  const ca = new CertificateAuthority({
    keys: hsm,
    store: new SqlCaStore(database.db),
    clock,
    baseUrl: config.baseUrl,
  });
  const issuance = new IssuanceService({
    ca,
    store: new SqlCertificateStore(database.db),
    clock,
    profiles: config.profiles,
    forbiddenNames: config.policy.forbiddenNames,
  });
  const tokens = new TokenService({ store: new SqlTokenStore(database.db), clock });
  return {
    config,
    clock,
    database,
    hsm,
    ca,
    issuance,
    tokens,
    async close() {
      await hsm.close();
      await database.close();
    },
  };
}
