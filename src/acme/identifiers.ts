import { isIP } from "node:net";
import { KeywardError } from "../errors/index.js";
import { canonicalDnsName, canonicalIp, checkIpName, matchesPattern } from "../issuance/names.js";
import type { Identifier } from "./ports.js";
import { AcmeError } from "./problems.js";

/** An identifier as a client asked for it: the value is a string (the edge checked), the type anything. */
export interface RequestedIdentifier {
  type?: unknown;
  value: string;
}

/**
 * The identifiers of a new order in canonical form, duplicates merged. Every identifier is checked;
 * when more than one is refused, the problem lists each (RFC 8555 §6.7.1 subproblems).
 */
export function orderIdentifiers(
  requested: readonly RequestedIdentifier[],
  policy: { maxIdentifiers: number; forbiddenNames: readonly string[] },
): Identifier[] {
  if (requested.length > policy.maxIdentifiers) {
    throw new AcmeError("rejectedIdentifier", `at most ${policy.maxIdentifiers} identifiers per order`);
  }
  const seen = new Map<string, Identifier>();
  const rejected: AcmeError[] = [];
  const rejectedIdentifiers: Identifier[] = [];
  for (const { type, value } of requested) {
    try {
      const identifier = canonicalIdentifier(type, value, policy.forbiddenNames);
      seen.set(`${identifier.type}:${identifier.value}`, identifier);
    } catch (error) {
      if (!(error instanceof AcmeError)) throw error;
      rejected.push(error);
      rejectedIdentifiers.push({ type: type as Identifier["type"], value });
    }
  }
  if (rejected.length === 1) throw rejected[0]!;
  if (rejected.length > 1) {
    const type = rejected.every((e) => e.acmeType === rejected[0]!.acmeType) ? rejected[0]!.acmeType : "malformed";
    throw AcmeError.withSubproblems(
      type,
      `${rejected.length} identifiers were refused; see subproblems`,
      rejected,
      rejectedIdentifiers,
    );
  }
  return [...seen.values()];
}

function canonicalIdentifier(type: unknown, value: string, forbiddenNames: readonly string[]): Identifier {
  let identifier: Identifier;
  try {
    if (type === "dns") identifier = { type, value: canonicalDnsName(value, true) };
    else if (type === "ip") {
      identifier = { type, value: canonicalIp(value) };
      checkIpName(identifier.value);
    } else
      throw new AcmeError(
        "unsupportedIdentifier",
        `identifier type ${JSON.stringify(type)} is not supported (dns, ip)`,
      );
  } catch (error) {
    if (error instanceof AcmeError) throw error;
    // The name rules (names.ts) refuse with a policy error whose message says why.
    if (error instanceof KeywardError && error.isClientError) throw new AcmeError("rejectedIdentifier", error.message);
    throw error;
  }
  if (identifier.type === "dns" && forbiddenNames.some((p) => matchesPattern(identifier, p))) {
    throw new AcmeError("rejectedIdentifier", `DNS name "${identifier.value}" is forbidden by policy`);
  }
  return identifier;
}

/** Names a CSR asks for, as `type:value`, with the same CN promotion issuance applies. */
export function csrNames(sans: Array<{ type: string; value: string }>, commonName: string | undefined): string[] {
  const names = sans.length ? sans : commonName ? [{ type: isIP(commonName) ? "ip" : "dns", value: commonName }] : [];
  return names.map((n) => {
    try {
      return n.type === "ip"
        ? `ip:${canonicalIp(n.value)}`
        : `${n.type}:${n.type === "dns" ? canonicalDnsName(n.value, true) : n.value}`;
    } catch (error) {
      // A name without a canonical form matches no identifier of the order; the refusal shows it as sent.
      if (error instanceof KeywardError && error.isClientError) return `${n.type}:${n.value}`;
      throw error;
    }
  });
}
