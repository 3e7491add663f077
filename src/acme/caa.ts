import type { Resolver } from "node:dns/promises";
import { AcmeError } from "./problems.js";

type CaaRecord = { critical: number } & Partial<Record<string, string>>;

const KNOWN_TAGS = new Set(["issue", "issuewild", "iodef", "contactemail", "contactphone", "issuemail", "issuevmc"]);

/**
 * RFC 8659: find the relevant CAA record set (the name, then each parent) and check that one of
 * our identities may issue for it. No records anywhere means anyone may issue.
 */
export async function checkCaa(
  resolver: Resolver,
  domain: string,
  wildcard: boolean,
  identities: readonly string[],
): Promise<void> {
  const labels = domain.split(".");
  for (let i = 0; i < labels.length; i++) {
    const name = labels.slice(i).join(".");
    let records: CaaRecord[];
    try {
      records = (await resolver.resolveCaa(name)) as unknown as CaaRecord[];
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOTFOUND" || code === "ENODATA") continue;
      // A failed lookup is not "no records": refuse rather than issue past a policy we could not read.
      throw new AcmeError("dns", `CAA lookup for ${name} failed (${code ?? "error"})`);
    }
    if (records.length === 0) continue;
    for (const record of records) {
      const tag = Object.keys(record).find((k) => k !== "critical");
      if (record.critical && tag && !KNOWN_TAGS.has(tag.toLowerCase())) {
        throw new AcmeError("caa", `CAA record at ${name} has an unknown critical tag "${tag}"`);
      }
    }
    const wild = records.filter((r) => r.issuewild !== undefined);
    const relevant =
      wildcard && wild.length
        ? wild.map((r) => r.issuewild!)
        : records.filter((r) => r.issue !== undefined).map((r) => r.issue!);
    if (relevant.length === 0) return;
    const allowed = relevant.some((value) => identities.includes(value.split(";")[0]!.trim().toLowerCase()));
    if (!allowed) {
      throw new AcmeError(
        "caa",
        `CAA records at ${name} do not allow this CA (${identities.join(", ") || "no CAA identity configured"}) to issue`,
      );
    }
    return;
  }
}
