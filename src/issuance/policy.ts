import { isIP } from "node:net";
import { EXTENDED_KEY_USAGES, type KeyUsageName, type Profile, type SanType } from "../config/schema.js";
import { PolicyError } from "../errors/index.js";
import { type KeyType, keyFamily } from "../pki/key-types.js";
import type { ParsedCsr } from "./csr.js";
import {
  canonicalDnsName,
  canonicalEmail,
  canonicalIp,
  canonicalUri,
  checkIpName,
  matchesPattern,
  type NameConstraints,
  type SubjectName,
  violatesNameConstraints,
} from "./names.js";

const ACCEPTED_KEYS = "RSA 2048/3072/4096, ECDSA P-256/P-384 or Ed25519";

export interface PolicyDecision {
  keyType: KeyType;
  names: SubjectName[];
  /** CN to place in the subject, or undefined for an empty subject. */
  commonName: string | undefined;
  keyUsage: KeyUsageName[];
  extKeyUsage: string[];
}

/** Applies a profile and the global name policy to a parsed CSR. Every refusal says why. */
export function applyPolicy(
  csr: ParsedCsr,
  profileName: string,
  profile: Profile,
  forbiddenNames: readonly string[],
  nameConstraints?: NameConstraints,
): PolicyDecision {
  const keyType = csr.keyType;
  if (!keyType)
    throw new PolicyError(`the CSR key (${csr.keyDescription}) is not accepted; keys must be ${ACCEPTED_KEYS}`);
  if (!profile.keyTypes.includes(keyType)) {
    throw new PolicyError(
      `profile "${profileName}" does not accept ${keyType} keys; it accepts ${profile.keyTypes.join(", ")}`,
    );
  }
  const keyUsage = keyUsageFor(profile, keyType);
  if (!keyUsage) throw new PolicyError(`profile "${profileName}" defines no key usage for ${keyFamily(keyType)} keys`);

  const requested = csr.sans.length > 0 ? csr.sans : commonNameAsSan(csr.commonName, profile.sanTypes);
  const names: SubjectName[] = [];
  const seen = new Set<string>();
  for (const raw of requested) {
    const name = checkName(raw, profileName, profile);
    const key = `${name.type}:${name.value}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if (name.type === "dns" && forbiddenNames.some((p) => matchesPattern(name, p))) {
      throw new PolicyError(`DNS name "${name.value}" is forbidden by policy`);
    }
    const constrained = nameConstraints && violatesNameConstraints(name, nameConstraints);
    if (constrained) throw new PolicyError(`${name.type} name "${name.value}" ${constrained}`);
    if (profile.namePatterns.length > 0 && !profile.namePatterns.some((p) => matchesPattern(name, p))) {
      throw new PolicyError(
        `${name.type} name "${name.value}" is outside what profile "${profileName}" allows (${profile.namePatterns.join(", ")})`,
      );
    }
    names.push(name);
  }
  if (names.length > profile.maxNames) {
    throw new PolicyError(
      `the CSR requests ${names.length} names; profile "${profileName}" allows at most ${profile.maxNames}`,
    );
  }
  if (profile.requireSan && names.length === 0) {
    throw new PolicyError(
      `profile "${profileName}" needs at least one subject name (${profile.sanTypes.join(", ")}) in the CSR's subjectAltName or CN`,
    );
  }
  return {
    keyType,
    names,
    commonName: checkCommonName(csr.commonName, names, profile),
    keyUsage,
    extKeyUsage: profile.extKeyUsage.map((e) => EXTENDED_KEY_USAGES[e as keyof typeof EXTENDED_KEY_USAGES] ?? e),
  };
}

function keyUsageFor(profile: Profile, keyType: KeyType): KeyUsageName[] | undefined {
  if (Array.isArray(profile.keyUsage)) return profile.keyUsage;
  return profile.keyUsage[keyFamily(keyType)];
}

/** A CSR without subjectAltName (plain `openssl req -subj /CN=host`) asks for its CN. */
function commonNameAsSan(
  commonName: string | undefined,
  allowed: readonly SanType[],
): Array<{ type: string; value: string }> {
  if (!commonName) return [];
  const type: SanType = isIP(commonName) ? "ip" : commonName.includes("@") ? "email" : "dns";
  if (!allowed.includes(type)) return [];
  if (type === "dns" && /\s/.test(commonName)) return [];
  return [{ type, value: commonName }];
}

function checkName(raw: { type: string; value: string }, profileName: string, profile: Profile): SubjectName {
  const known = ["dns", "ip", "email", "uri"];
  if (!known.includes(raw.type)) throw new PolicyError(`subjectAltName type "${raw.type}" is not supported`);
  const type = raw.type as SanType;
  if (!profile.sanTypes.includes(type)) {
    const allowed = profile.sanTypes.length ? profile.sanTypes.join(", ") : "none";
    throw new PolicyError(
      `profile "${profileName}" does not allow ${type} names (allowed: ${allowed}); got "${raw.value}"`,
    );
  }
  switch (type) {
    case "dns":
      return { type, value: canonicalDnsName(raw.value, profile.allowWildcard) };
    case "ip": {
      const value = canonicalIp(raw.value);
      checkIpName(value);
      return { type, value };
    }
    case "email":
      return { type, value: canonicalEmail(raw.value) };
    case "uri":
      return { type, value: canonicalUri(raw.value) };
  }
}

/**
 * The CN is kept only when it is one of the names, or, for profiles naming people and services
 * (email/uri names), as free text. Other subject attributes are not copied: the CA vouches only
 * for what it checked.
 */
function checkCommonName(cn: string | undefined, names: SubjectName[], profile: Profile): string | undefined {
  if (cn === undefined || cn === "") return undefined;
  if (cn.length > 64) throw new PolicyError(`the CSR's CN is longer than 64 characters`);
  const canonical = isIP(cn) ? canonicalIp(cn) : cn.toLowerCase();
  const match = names.find((n) => n.value === canonical || n.value === cn);
  if (match) return match.value;
  if (profile.sanTypes.includes("email") || profile.sanTypes.includes("uri") || names.length === 0) return cn;
  throw new PolicyError(
    `the CSR's CN "${cn}" is not one of the requested names (${names.map((n) => n.value).join(", ")})`,
  );
}
