import type { Clock } from "../clock/index.js";
import type { KeyType } from "../pki/key-types.js";
import { type CertificateAuthority, ServiceKey, type ServiceKeyStore } from "../signer/index.js";
import type { IssuanceService } from "./service.js";

/** One of Keyward's own key pairs with a certificate: what it is for and how it is certified. */
export interface ServiceKeySpec {
  purpose: string;
  keyType: KeyType;
  /** `unwrap`: it receives keys sealed to it (BYOK import) and never signs. */
  usage?: "sign" | "unwrap";
  profile: string;
  commonName: string;
}

/**
 * Keyward's own key pairs in the token (signing its statements, receiving imported keys), each
 * made through the signer's ServiceKeys port, certified by the default issuer through the
 * registration authority (record-then-sign, audited) and renewed before its certificate expires.
 */
export function certifiedServiceKeys(deps: {
  ca: CertificateAuthority;
  issuance: IssuanceService;
  store: ServiceKeyStore;
  clock: Clock;
}): (spec: ServiceKeySpec) => ServiceKey {
  return (spec) =>
    new ServiceKey({
      purpose: spec.purpose,
      store: deps.store,
      clock: deps.clock,
      generateKeyPair: (label) => deps.ca.serviceKeys.generateKeyPair(spec.keyType, label, spec.usage),
      issue: async (spki) =>
        deps.issuance.issueForKey({
          caId: (await deps.ca.defaultIssuer()).id,
          profile: spec.profile,
          spki,
          commonName: spec.commonName,
          extensions: [],
        }),
      chain: (serial) => deps.issuance.certificateChain(serial),
    });
}
