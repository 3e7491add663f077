import type * as x509 from "@peculiar/x509";
import type { Clock } from "../clock/index.js";
import type { KeyType } from "../pki/key-types.js";
import { statementAlgorithm, statementKeyType } from "../pki/statement-signature.js";
import { type CertificateAuthority, ServiceKey, type ServiceKeyStore } from "../signer/index.js";
import type { IssuanceService } from "./service.js";

/** One of Keyward's own key pairs with a certificate: what it is for and how it is certified. */
export interface ServiceKeySpec {
  purpose: string;
  /** A fixed type (the RSA import key); without it the token's choice for service keys (the default issuer's where it can). */
  keyType?: KeyType;
  /** `unwrap`: it receives keys sealed to it (BYOK import) and never signs. */
  usage?: "sign" | "unwrap";
  profile: string;
  commonName: string;
}

/** The signing key as it is now: its URI, its type (read from its certificate) and its chain. */
export interface CurrentSigningKey {
  keyUri: string;
  keyType: KeyType;
  /** Leaf first, root last. */
  chain: x509.X509Certificate[];
}

/**
 * A certified service key that signs Keyward's statements with its own type's algorithm
 * (statementAlgorithm: ECDSA raw r‖s, RSA PKCS#1 v1.5, Ed25519): whatever the token can make.
 */
export interface SigningServiceKey {
  /** The key and its chain, created or renewed as needed. */
  current(): Promise<CurrentSigningKey>;
  sign(key: { keyUri: string; keyType: KeyType }, data: Uint8Array): Promise<Buffer>;
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
}): {
  key(spec: ServiceKeySpec): ServiceKey;
  signing(spec: Omit<ServiceKeySpec, "keyType" | "usage">): SigningServiceKey;
} {
  const key = (spec: ServiceKeySpec) =>
    new ServiceKey({
      purpose: spec.purpose,
      store: deps.store,
      clock: deps.clock,
      generateKeyPair: async (label) =>
        deps.ca.serviceKeys.generateKeyPair(spec.keyType ?? (await deps.ca.serviceKeys.keyType()), label, spec.usage),
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
        async current() {
          const { keyUri, chain } = await serviceKey.current();
          return { keyUri, chain, keyType: statementKeyType(Buffer.from(chain[0]!.publicKey.rawData)) };
        },
        sign: (key, data) => deps.ca.serviceKeys.sign(key.keyUri, statementAlgorithm(key.keyType), data),
      };
    },
  };
}
