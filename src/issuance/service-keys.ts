import type * as x509 from "@peculiar/x509";
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

/** A certified service key that signs (ECDSA P-256 with SHA-256, raw r‖s): Keyward's statements. */
export interface SigningServiceKey {
  /** The key and its chain (leaf first, root last), created or renewed as needed. */
  current(): Promise<{ keyUri: string; chain: x509.X509Certificate[] }>;
  sign(keyUri: string, data: Uint8Array): Promise<Buffer>;
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
}): { key(spec: ServiceKeySpec): ServiceKey; signing(spec: ServiceKeySpec & { keyType: "p256" }): SigningServiceKey } {
  const key = (spec: ServiceKeySpec) =>
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
  return {
    key,
    signing(spec) {
      const serviceKey = key(spec);
      return {
        current: () => serviceKey.current(),
        sign: (keyUri, data) => deps.ca.serviceKeys.sign(keyUri, { name: "ECDSA", hash: "SHA-256" }, data),
      };
    },
  };
}
