import { describe, expect, it } from "vitest";
import { CaaLookup, checkCaa } from "../../src/acme/caa.js";

/**
 * A stand-in for node:dns's Resolver (the component tests run the real one against
 * pebble-challtestsrv): answers from a table, counts questions, fails on demand as c-ares does.
 */
function resolver(records: Record<string, object[]>) {
  const asked: string[] = [];
  let failure: string | undefined;
  return {
    asked,
    failWith: (code: string | undefined) => {
      failure = code;
    },
    async resolveCaa(name: string) {
      asked.push(name);
      if (failure) throw Object.assign(new Error(`queryCaa ${failure} ${name}`), { code: failure });
      const found = records[name];
      if (!found) throw Object.assign(new Error(`queryCaa ENODATA ${name}`), { code: "ENODATA" });
      return found as never;
    },
  };
}

describe("CaaLookup", () => {
  it("relies on an answer, records or none, for the configured time, then asks again", async () => {
    const dns = resolver({ "example.com": [{ critical: 0, issue: "keyward.test" }] });
    let now = 1_000_000;
    const lookup = new CaaLookup(dns, 300, () => now);
    await checkCaa(lookup, "a.example.com", false, ["keyward.test"]);
    await checkCaa(lookup, "b.example.com", false, ["keyward.test"]);
    // The parent's record set was asked once; each name's own absence once.
    expect(dns.asked).toEqual(["a.example.com", "example.com", "b.example.com"]);
    expect(await lookup.recordsAt("A.Example.COM")).toEqual([]);
    expect(dns.asked).toHaveLength(3);
    now += 300_000;
    await lookup.recordsAt("example.com");
    expect(dns.asked).toEqual(["a.example.com", "example.com", "b.example.com", "example.com"]);
  });

  it("refuses from a kept record set as from a fresh one", async () => {
    const dns = resolver({ "example.net": [{ critical: 0, issue: "other-ca.example" }] });
    const lookup = new CaaLookup(dns, 300, () => 0);
    await expect(checkCaa(lookup, "x.example.net", false, ["keyward.test"])).rejects.toThrow(
      "CAA records at example.net do not allow this CA (keyward.test) to issue",
    );
    await expect(checkCaa(lookup, "y.example.net", false, ["keyward.test"])).rejects.toThrow(
      "CAA records at example.net do not allow this CA",
    );
    expect(dns.asked.filter((n) => n === "example.net")).toHaveLength(1);
  });

  it("never keeps a failed lookup: it refuses, and the next validation asks again", async () => {
    const dns = resolver({});
    const lookup = new CaaLookup(dns, 300, () => 0);
    dns.failWith("ESERVFAIL");
    await expect(checkCaa(lookup, "example.org", false, ["keyward.test"])).rejects.toThrow(
      "CAA lookup for example.org failed (ESERVFAIL)",
    );
    dns.failWith(undefined);
    await checkCaa(lookup, "example.org", false, ["keyward.test"]);
    expect(dns.asked).toEqual(["example.org", "example.org", "org"]);
  });

  it("asks at every validation when the time is 0", async () => {
    const dns = resolver({});
    const lookup = new CaaLookup(dns, 0, () => 0);
    await lookup.recordsAt("example.com");
    await lookup.recordsAt("example.com");
    expect(dns.asked).toEqual(["example.com", "example.com"]);
  });
});
