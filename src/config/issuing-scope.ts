import { EXTENDED_KEY_USAGES, type Profile } from "./schema.js";

/** What an intermediate asserts about what it issues: its certificatePolicies and extendedKeyUsage. */
export interface IssuingScope {
  policies: string[];
  extKeyUsage: string[];
}

/**
 * EKUs a CA certificate never carries, whatever it issues: id-kp-OCSPSigning would make the
 * intermediate a delegated OCSP responder for its own issuer (BR §7.1.2.10.6, the 2020 incident),
 * and anyExtendedKeyUsage is prohibited there too. The responder certificates it issues verify
 * without it (openssl's OCSP check reads the EKU of the responder certificate only).
 */
const NEVER_ON_A_CA = new Set([EXTENDED_KEY_USAGES.ocspSigning, "2.5.29.37.0"]);

/**
 * The scope of intermediate `caId`, derived from the profiles it may issue: those naming it as
 * issuer and every profile naming none (any intermediate may become the default issuer, at a
 * rollover). Policies and EKUs in the profiles' order, each once.
 */
export function issuingScope(caId: string, profiles: Readonly<Record<string, Profile>>): IssuingScope {
  const policies = new Set<string>();
  const extKeyUsage = new Set<string>();
  for (const profile of Object.values(profiles)) {
    if (profile.issuer !== undefined && profile.issuer !== caId) continue;
    for (const policy of profile.policies) policies.add(policy);
    for (const eku of profile.extKeyUsage) {
      const id = EXTENDED_KEY_USAGES[eku as keyof typeof EXTENDED_KEY_USAGES] ?? eku;
      if (!NEVER_ON_A_CA.has(id)) extKeyUsage.add(id);
    }
  }
  return { policies: [...policies], extKeyUsage: [...extKeyUsage] };
}
