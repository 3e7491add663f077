import type { Resolver } from "node:dns/promises";
import { AcmeError } from "./problems.js";

type CaaRecord = { critical: number } & Partial<Record<string, string>>;

/** Names whose record sets are kept at most; the oldest go first. */
const MAX_CACHED_NAMES = 10_000;

/**
 * The CAA record set at a name, as the resolver answers, kept `seconds` (0: asked every time).
 * Validations of names under one domain ask the same parents ("example.com", "com") each time,
 * and each lookup is a DNS round trip and ~80–100 µs of CPU (most answers are "no records", which
 * Node reports as an exception). BR §3.2.2.8 lets a CA rely on a CAA answer for its TTL or
 * 8 hours, whichever is greater; Node's resolveCaa gives no TTL, so the configured time bounds it
 * (at most 8 hours). Failed lookups are never kept: they refuse, and the next validation asks again.
 */
export class CaaLookup {
  private readonly sets = new Map<string, { records: CaaRecord[]; until: number }>();

  constructor(
    private readonly resolver: Pick<Resolver, "resolveCaa">,
    private readonly seconds: number,
    private readonly now: () => number,
  ) {}

  /** The records at `name`; empty when it has none. Throws the resolver's error when the lookup fails. */
  async recordsAt(name: string): Promise<CaaRecord[]> {
    const key = name.toLowerCase();
    const kept = this.sets.get(key);
    if (kept && kept.until > this.now()) return kept.records;
    let records: CaaRecord[];
    try {
      records = (await this.resolver.resolveCaa(key)) as unknown as CaaRecord[];
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== "ENOTFOUND" && code !== "ENODATA") throw error;
      records = [];
    }
    if (this.seconds > 0) {
      this.sets.delete(key);
      if (this.sets.size >= MAX_CACHED_NAMES) this.sets.delete(this.sets.keys().next().value!);
      this.sets.set(key, { records, until: this.now() + this.seconds * 1000 });
    }
    return records;
  }
}

const KNOWN_TAGS = new Set(["issue", "issuewild", "iodef", "contactemail", "contactphone", "issuemail", "issuevmc"]);

/**
 * RFC 8659: find the relevant CAA record set (the name, then each parent) and check that one of
 * our identities may issue for it. No records anywhere means anyone may issue.
 */
export async function checkCaa(
  lookup: CaaLookup,
  domain: string,
  wildcard: boolean,
  identities: readonly string[],
): Promise<void> {
  const labels = domain.split(".");
  for (let i = 0; i < labels.length; i++) {
    const name = labels.slice(i).join(".");
    let records: CaaRecord[];
    try {
      records = await lookup.recordsAt(name);
    } catch (error) {
      // A failed lookup is not "no records": refuse rather than issue past a policy we could not read.
      const code = (error as NodeJS.ErrnoException).code;
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
