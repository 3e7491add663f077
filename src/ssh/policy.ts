/**
 * Who may get which SSH certificate: the SSH profiles of the config (allowed principals per role,
 * `${user}` being the requester's own name, narrowed by a token's name scopes), validity caps, key
 * types and critical options. Pure: the service applies it before anything is recorded or signed.
 */
import type { SshProfile } from "../config/schema.js";
import { BadRequestError, ForbiddenError, NotFoundError, PolicyError } from "../errors/index.js";
import { matchesPattern, type SubjectName } from "../issuance/names.js";
import { CRITICAL_OPTIONS, type SshCertType } from "./certificate.js";
import type { SshPublicKey } from "./keys.js";

export interface SshRequester {
  /** `${user}`: a person's login name, a token's name. */
  name: string;
  role: "admin" | "ca-operator" | "key-officer" | "auditor" | "requester";
  /** A token's limits: profiles it may use, name patterns its principals must match. */
  scopes: { profiles?: string[]; names?: string[] };
}

export interface SshSignRequest {
  type: SshCertType;
  profile?: string;
  principals: string[];
  validityHours?: number;
  criticalOptions?: Record<string, string>;
  extensions?: string[];
}

export interface SshDecision {
  profile: string;
  principals: string[];
  validityHours: number;
  criticalOptions: Record<string, string>;
  extensions: string[];
}

/** The placeholder in principal patterns for the requester's own name (a literal, not a template). */
const USER = "$" + "{user}";

const PRINCIPAL = /^[^\s,\p{Cc}]{1,255}$/u;

function hostName(value: string): SubjectName {
  return /^[0-9.]+$/.test(value) || value.includes(":")
    ? { type: "ip", value }
    : { type: "dns", value: value.toLowerCase() };
}

/** `*` is any principal; otherwise user principals compare exactly (after `${user}`), host ones as X.509 name patterns. */
function principalMatches(type: SshCertType, principal: string, pattern: string): boolean {
  if (pattern === "*") return true;
  return type === "user" ? principal === pattern : matchesPattern(hostName(principal), pattern);
}

function checkSourceAddress(value: string): void {
  for (const entry of value.split(",")) {
    const [address = "", bits] = entry.trim().split("/");
    const v4 = /^(\d{1,3})(\.\d{1,3}){3}$/.test(address) && address.split(".").every((o) => Number(o) <= 255);
    const v6 = /^[0-9a-fA-F:]+$/.test(address) && address.includes(":");
    const maxBits = v4 ? 32 : 128;
    if ((!v4 && !v6) || (bits !== undefined && !(/^\d{1,3}$/.test(bits) && Number(bits) <= maxBits)))
      throw new BadRequestError(`criticalOptions.source-address: "${entry}" is not an address or CIDR range`);
  }
}

export function decideSsh(
  request: SshSignRequest,
  key: SshPublicKey,
  requester: SshRequester,
  profiles: Readonly<Record<string, SshProfile>>,
): SshDecision {
  const name = request.profile ?? request.type;
  const profile = profiles[name];
  if (!profile)
    throw new NotFoundError(`no SSH profile "${name}" (configured: ${Object.keys(profiles).join(", ") || "none"})`);
  if (profile.certType !== request.type)
    throw new BadRequestError(`SSH profile "${name}" signs ${profile.certType} certificates, not ${request.type}`);
  const scopedProfiles = requester.scopes.profiles ?? [];
  if (scopedProfiles.length && !scopedProfiles.includes(name))
    throw new ForbiddenError(
      `this token may not use SSH profile "${name}" (its profiles: ${scopedProfiles.join(", ")})`,
    );

  if (!profile.keyTypes.includes(key.family))
    throw new PolicyError(
      `publicKey: ${key.algorithm} keys are not allowed by SSH profile "${name}" (${profile.keyTypes.join(", ")})`,
    );
  if (key.family === "rsa" && key.bits < profile.minRsaBits)
    throw new PolicyError(`publicKey: RSA keys of ${key.bits} bits are refused (at least ${profile.minRsaBits})`);

  const principals = [...new Set(request.principals)];
  if (principals.length === 0) throw new BadRequestError("principals: name at least one");
  if (principals.length > profile.maxPrincipals)
    throw new PolicyError(`principals: at most ${profile.maxPrincipals} per certificate under SSH profile "${name}"`);
  const bad = principals.find((p) => !PRINCIPAL.test(p));
  if (bad !== undefined)
    throw new BadRequestError(
      `principals: ${JSON.stringify(bad)} is not a principal (no spaces, commas or control characters)`,
    );
  const grants = profile.allow.filter((a) => (a.roles as string[]).includes(requester.role));
  const patterns = grants.flatMap((a) => a.principals.map((p) => p.replaceAll(USER, requester.name)));
  if (patterns.length === 0) throw new ForbiddenError(`role ${requester.role} may not use SSH profile "${name}"`);
  const scopeNames = requester.scopes.names ?? [];
  for (const principal of principals) {
    if (!patterns.some((p) => principalMatches(request.type, principal, p)))
      throw new PolicyError(
        `principals: "${principal}" is not allowed for ${requester.name} (role ${requester.role}) under SSH profile "${name}"; allowed: ${patterns.join(", ")}`,
      );
    if (scopeNames.length && !scopeNames.some((p) => principalMatches(request.type, principal, p)))
      throw new PolicyError(`principals: "${principal}" is outside this token's names (${scopeNames.join(", ")})`);
  }

  // A role's cap is the most generous of its grants' caps (a grant without one: the profile's).
  const cap = Math.max(...grants.map((a) => a.maxValidityHours ?? profile.maxValidityHours));
  const validityHours = request.validityHours ?? Math.min(profile.defaultValidityHours, cap);
  if (validityHours > cap)
    throw new PolicyError(
      cap < profile.maxValidityHours
        ? `validityHours: ${validityHours} is over the cap for role ${requester.role} under SSH profile "${name}" (${cap})`
        : `validityHours: ${validityHours} is over the cap of SSH profile "${name}" (${cap})`,
    );

  const criticalOptions = request.criticalOptions ?? {};
  for (const [option, value] of Object.entries(criticalOptions)) {
    if (!(CRITICAL_OPTIONS as readonly string[]).includes(option))
      throw new BadRequestError(
        `criticalOptions: unknown critical option "${option}" (OpenSSH knows ${CRITICAL_OPTIONS.join(", ")})`,
      );
    if (!(profile.criticalOptions as string[]).includes(option))
      throw new PolicyError(`criticalOptions: "${option}" is not allowed by SSH profile "${name}"`);
    if (option === "verify-required" && value !== "")
      throw new BadRequestError('criticalOptions: "verify-required" is a flag; give ""');
    if (option === "force-command" && !value)
      throw new BadRequestError('criticalOptions: "force-command" needs a command');
    if (option === "source-address") checkSourceAddress(value);
  }

  const allowedExtensions = profile.allowedExtensions ?? profile.extensions;
  const extensions = [...new Set(request.extensions ?? profile.extensions)];
  const refused = extensions.find((e) => !allowedExtensions.includes(e));
  if (refused !== undefined)
    throw new PolicyError(
      `extensions: "${refused}" is not allowed by SSH profile "${name}" (${allowedExtensions.join(", ") || "none"})`,
    );
  if (request.type === "host" && extensions.length)
    throw new BadRequestError("extensions: host certificates carry none");

  return { profile: name, principals, validityHours, criticalOptions, extensions };
}
