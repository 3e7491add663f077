import { HsmKeyNotFoundError, KeyMissingError } from "../errors/index.js";
import { parsePkcs11Uri } from "../hsm/uri.js";
import type { KeyStore } from "./ports.js";

/**
 * The key store with signatures that say which key is gone when its object is missing from the
 * token (deleted, or not brought back by a restore): "cannot sign: …", never "HSM not available".
 */
export function namingMissingKeys(keys: KeyStore, describe: (uri: string) => Promise<string>): KeyStore {
  return {
    generateKeyPair: (keyType, label, usage) => keys.generateKeyPair(keyType, label, usage),
    checkKeyType: (keyType) => keys.checkKeyType(keyType),
    publicKey: (uri) => keys.publicKey(uri),
    destroyKeyPair: (uri) => keys.destroyKeyPair(uri),
    async sign(uri, algorithm, data) {
      try {
        return await keys.sign(uri, algorithm, data);
      } catch (error) {
        if (error instanceof HsmKeyNotFoundError && !(error instanceof KeyMissingError)) {
          throw new KeyMissingError(`cannot sign: ${await describe(uri)}`, error);
        }
        throw error;
      }
    },
  };
}

/** "CA key <id> missing from token <label> (<uri>)": what /ready, the overview and issuance say. */
export function caKeyMissing(caId: string, uri: string): string {
  return `CA key ${caId} missing from token ${parsePkcs11Uri(uri).token ?? "(unnamed)"} (${uri})`;
}
