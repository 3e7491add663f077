import { isIP } from "node:net";
import { domainToASCII } from "node:url";
import { getPublicSuffix } from "tldts";
import type { SanType } from "../config/schema.js";
import { PolicyError } from "../errors/index.js";
import { ipBytes } from "../pki/general-names.js";

export interface SubjectName {
  type: SanType;
  value: string;
}

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Checks a DNS name and returns its canonical (lowercase A-label) form. Throws PolicyError naming
 * what is wrong.
 */
export function canonicalDnsName(input: string, allowWildcard: boolean): string {
  const name = input.toLowerCase();
  const quoted = JSON.stringify(input);
  if (name.length === 0) throw new PolicyError("a DNS name is empty");
  if (name.length > 253) throw new PolicyError(`DNS name ${quoted} is longer than 253 characters`);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the check is exactly for non-ASCII
  if (/[^\x00-\x7f]/.test(name)) {
    throw new PolicyError(
      `DNS name ${quoted} is not ASCII; use its IDNA A-label form (${domainToASCII(name) || "xn--…"})`,
    );
  }
  if (name.endsWith(".")) throw new PolicyError(`DNS name ${quoted} must not end with a dot`);
  if (isIP(name)) throw new PolicyError(`${quoted} is an IP address; request it as an IP SAN, not a DNS name`);
  const labels = name.split(".");
  if (labels.length < 2) throw new PolicyError(`DNS name ${quoted} must have at least two labels`);
  labels.forEach((label, i) => {
    if (label === "*") {
      if (i !== 0) throw new PolicyError(`DNS name ${quoted}: a wildcard is allowed only as the whole leftmost label`);
      if (!allowWildcard) throw new PolicyError(`DNS name ${quoted}: wildcards are not allowed by this profile`);
      if (labels.length < 3) throw new PolicyError(`DNS name ${quoted}: a wildcard needs at least two labels after it`);
      const suffix = publicSuffixUnderWildcard(labels.slice(1).join("."));
      if (suffix) {
        throw new PolicyError(
          `DNS name ${quoted}: a wildcard must not stand directly under a public suffix (${suffix})`,
        );
      }
      return;
    }
    if (!LABEL.test(label)) {
      throw new PolicyError(
        `DNS name ${quoted}: label ${JSON.stringify(label)} must be 1-63 letters, digits or inner hyphens`,
      );
    }
    if (label.startsWith("xn--") && domainToASCII(label) !== label) {
      throw new PolicyError(`DNS name ${quoted}: label ${JSON.stringify(label)} is not a valid IDNA A-label`);
    }
    if (label.length >= 4 && label[2] === "-" && label[3] === "-" && !label.startsWith("xn--")) {
      throw new PolicyError(`DNS name ${quoted}: label ${JSON.stringify(label)} has reserved hyphens in positions 3-4`);
    }
  });
  if (/^\d+$/.test(labels[labels.length - 1]!)) {
    throw new PolicyError(`DNS name ${quoted}: the top-level label must not be all digits`);
  }
  return name;
}

/**
 * The public suffix a wildcard over `base` would cover whole, if any (BR §3.2.2.6): `base` is itself
 * a suffix (`*.co.uk`), or the labels the wildcard stands for would be (`*.kawasaki.jp`, whose PSL
 * rule is itself a wildcard). The private section counts too: `*.github.io` covers every user's site.
 * The list comes from tldts (the PSL, updated with the package), not from our hands.
 */
function publicSuffixUnderWildcard(base: string): string | undefined {
  const options = { allowPrivateDomains: true };
  if (getPublicSuffix(base, options) === base) return base;
  const probe = `x.${base}`;
  return getPublicSuffix(probe, options) === probe ? base : undefined;
}

/** Canonical text of an IP address (IPv6 compressed, lowercase). */
export function canonicalIp(input: string): string {
  const version = isIP(input);
  if (version === 0) throw new PolicyError(`${JSON.stringify(input)} is not a valid IP address`);
  if (version === 4) return input;
  return new URL(`http://[${input}]/`).hostname.slice(1, -1);
}

// Addresses that name no host a certificate could be about (IANA special-purpose registries).
const IPV4_SPECIAL: ReadonlyArray<[string, string]> = [
  ["0.0.0.0/8", "unspecified"], // "this network" (RFC 1122 §3.2.1.3): a source, never a destination
  ["255.255.255.255/32", "broadcast"],
  ["169.254.0.0/16", "link-local"], // also the cloud metadata address 169.254.169.254
  ["224.0.0.0/4", "multicast"],
];
const IPV6_SPECIAL: ReadonlyArray<[string, string]> = [
  ["::/128", "unspecified"],
  ["fe80::/10", "link-local"],
  ["ff00::/8", "multicast"],
];

/**
 * Refuses an IP address (canonical text) that cannot name a certificate's subject: unspecified,
 * broadcast, link-local and multicast addresses, IPv4-mapped ones included.
 */
export function checkIpName(address: string): void {
  const bytes = ipBytes(address);
  if (!bytes) throw new PolicyError(`${JSON.stringify(address)} is not a valid IP address`);
  const mapped = bytes.length === 16 && bytes.slice(0, 12).join(".") === "0.0.0.0.0.0.0.0.0.0.255.255";
  const ranges = bytes.length === 4 || mapped ? IPV4_SPECIAL : IPV6_SPECIAL;
  const v4 = mapped ? bytes.slice(12).join(".") : address;
  const kind = ranges.find(([cidr]) => ipInCidr(v4, cidr))?.[1];
  if (kind) throw new PolicyError(`IP address ${address} is a ${kind} address and cannot name a certificate's subject`);
}

export function canonicalEmail(input: string): string {
  const at = input.lastIndexOf("@");
  const local = input.slice(0, at);
  if (at <= 0 || local.length > 64 || !/^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+$/.test(local) || local.includes("..")) {
    throw new PolicyError(`${JSON.stringify(input)} is not a valid email address`);
  }
  let domain: string;
  try {
    domain = canonicalDnsName(input.slice(at + 1), false);
  } catch (error) {
    throw new PolicyError(`${JSON.stringify(input)} is not a valid email address: ${(error as Error).message}`);
  }
  return `${local}@${domain}`;
}

export function canonicalUri(input: string): string {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw new PolicyError(`${JSON.stringify(input)} is not a valid absolute URI`);
  }
  if (/\s/.test(input)) throw new PolicyError(`URI ${JSON.stringify(input)} contains whitespace`);
  // A URI in a certificate is an IA5String (RFC 5280 §4.2.1.6): ASCII, with other characters percent-encoded.
  if (!/^[\x21-\x7e]+$/.test(input))
    throw new PolicyError(`URI ${JSON.stringify(input)} is not ASCII; use its percent-encoded form (${url.href})`);
  if (!/^[a-z][a-z0-9+.-]*:$/.test(url.protocol)) throw new PolicyError(`URI ${JSON.stringify(input)} has no scheme`);
  return input;
}

/**
 * Name patterns: `example.com` (exactly), `*.example.com` (any name below), `10.0.0.0/8` (IPs in
 * the range), `@example.com` (emails at that domain). A pattern of a different kind never matches.
 */
export function matchesPattern(name: SubjectName, pattern: string): boolean {
  if (pattern.includes("/") && name.type === "ip") return ipInCidr(name.value, pattern);
  if (pattern.startsWith("@")) return name.type === "email" && name.value.endsWith(pattern.toLowerCase());
  if (name.type !== "dns") return name.type === "uri" ? name.value === pattern : false;
  const p = pattern.toLowerCase();
  if (p.startsWith("*.")) return name.value.endsWith(p.slice(1)) && name.value.length > p.length - 1;
  return name.value === p;
}

/** A malformed range (`10.0.0.0/`, `/-1`, `/33`) matches nothing: an allow-list typo fails closed. */
function ipInCidr(ip: string, cidr: string): boolean {
  const [base, bitsText = ""] = cidr.split("/");
  const a = ipBytes(ip);
  const b = base ? ipBytes(base) : undefined;
  if (!a || !b || a.length !== b.length || !/^\d{1,3}$/.test(bitsText)) return false;
  const bits = Number(bitsText);
  if (bits > a.length * 8) return false;
  for (let i = 0; i < bits; i++) {
    const mask = 0x80 >> (i % 8);
    if ((a[i >> 3]! & mask) !== (b[i >> 3]! & mask)) return false;
  }
  return true;
}

export function formatName(name: SubjectName): string {
  return `${name.type}:${name.value}`;
}

export interface NameConstraints {
  permittedDns: string[];
  excludedDns: string[];
  permittedIp: string[];
  excludedIp: string[];
  permittedEmail: string[];
  excludedEmail: string[];
}

/** RFC 5280 §4.2.1.10 dNSName constraint: "example.com" covers it and its subdomains, ".example.com" only subdomains. */
function dnsWithin(name: string, constraint: string): boolean {
  const c = constraint.toLowerCase();
  if (c.startsWith(".")) return name.endsWith(c);
  return name === c || name.endsWith(`.${c}`);
}

function emailWithin(address: string, constraint: string): boolean {
  const c = constraint.toLowerCase();
  if (c.includes("@")) return address.toLowerCase() === c;
  const domain = address.slice(address.lastIndexOf("@") + 1).toLowerCase();
  return c.startsWith(".") ? domain.endsWith(c) : domain === c;
}

/**
 * Whether a name satisfies the issuing CA's name constraints, so we never sign a certificate that
 * relying parties would reject. Returns the reason when it does not.
 */
export function violatesNameConstraints(name: SubjectName, nc: NameConstraints): string | undefined {
  const check = (permitted: string[], excluded: string[], within: (c: string) => boolean) => {
    if (excluded.some(within)) return "is excluded by the issuing CA's name constraints";
    if (permitted.length && !permitted.some(within)) return "is outside the issuing CA's permitted names";
    return undefined;
  };
  switch (name.type) {
    case "dns": {
      const base = name.value.startsWith("*.") ? name.value.slice(2) : name.value;
      return check(nc.permittedDns, nc.excludedDns, (c) => dnsWithin(base, c));
    }
    case "ip":
      return check(nc.permittedIp, nc.excludedIp, (c) => ipInCidr(name.value, c));
    case "email":
      return check(nc.permittedEmail, nc.excludedEmail, (c) => emailWithin(name.value, c));
    default:
      return undefined;
  }
}
