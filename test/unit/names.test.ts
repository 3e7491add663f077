import { describe, expect, it } from "vitest";
import { PolicyError } from "../../src/errors/index.js";
import { toProblem } from "../../src/http/problem.js";
import {
  canonicalDnsName,
  canonicalEmail,
  canonicalIp,
  canonicalUri,
  checkIpName,
  formatName,
  matchesPattern,
  type SubjectName,
} from "../../src/issuance/names.js";

/** Runs fn, expects a PolicyError, and returns its message. */
function policyError(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(PolicyError);
    expect((error as PolicyError).code).toBe("policyViolation");
    // The admin API answers it as a client error.
    expect(toProblem(error).status).toBe(400);
    return (error as Error).message;
  }
  throw new Error("expected a PolicyError, but nothing was thrown");
}

const dns = (value: string): SubjectName => ({ type: "dns", value });
const ip = (value: string): SubjectName => ({ type: "ip", value });
const email = (value: string): SubjectName => ({ type: "email", value });
const uri = (value: string): SubjectName => ({ type: "uri", value });

describe("canonicalDnsName", () => {
  it("returns valid names unchanged", () => {
    expect(canonicalDnsName("a.example.com", false)).toBe("a.example.com");
    expect(canonicalDnsName("a-b.c0.example", false)).toBe("a-b.c0.example");
    expect(canonicalDnsName("0.example.com", false)).toBe("0.example.com");
  });

  it("lowercases", () => {
    expect(canonicalDnsName("WWW.Example.COM", false)).toBe("www.example.com");
  });

  it("accepts a leftmost wildcard when the profile allows it", () => {
    expect(canonicalDnsName("*.example.com", true)).toBe("*.example.com");
    expect(canonicalDnsName("*.A.Example.com", true)).toBe("*.a.example.com");
  });

  it("refuses a wildcard when the profile does not allow it", () => {
    expect(policyError(() => canonicalDnsName("*.example.com", false))).toMatch(
      /wildcards are not allowed by this profile/,
    );
  });

  it("refuses a wildcard that is not the leftmost label", () => {
    expect(policyError(() => canonicalDnsName("a.*.example.com", true))).toMatch(/only as the whole leftmost label/);
    expect(policyError(() => canonicalDnsName("a.example.*", true))).toMatch(/only as the whole leftmost label/);
    // Also when wildcards are off: the position is wrong regardless.
    expect(policyError(() => canonicalDnsName("a.*.example.com", false))).toMatch(/only as the whole leftmost label/);
  });

  it("refuses a partial-label wildcard", () => {
    expect(policyError(() => canonicalDnsName("w*.example.com", true))).toMatch(/label "w\*"/);
    expect(policyError(() => canonicalDnsName("**.example.com", true))).toMatch(/label "\*\*"/);
  });

  it("refuses a wildcard with fewer than two labels after it", () => {
    expect(policyError(() => canonicalDnsName("*.com", true))).toMatch(/wildcard needs at least two labels after it/);
  });

  it("refuses a lone wildcard as a single label", () => {
    expect(policyError(() => canonicalDnsName("*", true))).toMatch(/at least two labels/);
  });

  it("refuses non-ASCII names and suggests the xn-- A-label", () => {
    const message = policyError(() => canonicalDnsName("Bücher.example", false));
    expect(message).toMatch(/is not ASCII/);
    expect(message).toContain("xn--bcher-kva.example");
    expect(message).toContain('"Bücher.example"');
  });

  it("accepts a valid A-label", () => {
    expect(canonicalDnsName("xn--bcher-kva.example", false)).toBe("xn--bcher-kva.example");
    expect(canonicalDnsName("XN--BCHER-KVA.example", false)).toBe("xn--bcher-kva.example");
  });

  it("refuses xn-- labels that are not valid A-labels", () => {
    expect(policyError(() => canonicalDnsName("xn--a.example.com", false))).toMatch(
      /label "xn--a" is not a valid IDNA A-label/,
    );
    expect(policyError(() => canonicalDnsName("xn--zz-0000.example.com", false))).toMatch(/not a valid IDNA A-label/);
    // "xn--" alone ends with a hyphen, which the label syntax already refuses.
    expect(policyError(() => canonicalDnsName("xn--.example.com", false))).toMatch(/letters, digits or inner hyphens/);
  });

  it("refuses reserved hyphens in positions 3-4 (other than xn--)", () => {
    expect(policyError(() => canonicalDnsName("ab--cd.example.com", false))).toMatch(
      /label "ab--cd" has reserved hyphens in positions 3-4/,
    );
    expect(policyError(() => canonicalDnsName("a.zz--x", false))).toMatch(/reserved hyphens/);
    // Hyphens elsewhere are fine.
    expect(canonicalDnsName("a--b.example.com", false)).toBe("a--b.example.com");
    expect(canonicalDnsName("abc--d.example.com", false)).toBe("abc--d.example.com");
  });

  it("refuses leading or trailing hyphens and other characters", () => {
    expect(policyError(() => canonicalDnsName("-a.example.com", false))).toMatch(/label "-a"/);
    expect(policyError(() => canonicalDnsName("a-.example.com", false))).toMatch(/label "a-"/);
    expect(policyError(() => canonicalDnsName("a_b.example.com", false))).toMatch(/label "a_b"/);
    expect(policyError(() => canonicalDnsName("a b.example.com", false))).toMatch(/label "a b"/);
  });

  it("refuses empty labels and empty names", () => {
    expect(policyError(() => canonicalDnsName("a..example.com", false))).toMatch(/label ""/);
    expect(policyError(() => canonicalDnsName(".example.com", false))).toMatch(/label ""/);
    expect(policyError(() => canonicalDnsName("", false))).toMatch(/empty/);
  });

  it("refuses a trailing dot", () => {
    expect(policyError(() => canonicalDnsName("a.example.com.", false))).toMatch(/must not end with a dot/);
  });

  it("refuses IP addresses given as DNS names", () => {
    expect(policyError(() => canonicalDnsName("10.0.0.1", false))).toMatch(/is an IP address; request it as an IP SAN/);
    expect(policyError(() => canonicalDnsName("2001:db8::1", false))).toMatch(/is an IP address/);
  });

  it("accepts a 63-character label and refuses a 64-character one", () => {
    const l63 = "a".repeat(63);
    expect(canonicalDnsName(`${l63}.example.com`, false)).toBe(`${l63}.example.com`);
    const l64 = "a".repeat(64);
    expect(policyError(() => canonicalDnsName(`${l64}.example.com`, false))).toMatch(
      /must be 1-63 letters, digits or inner hyphens/,
    );
  });

  it("accepts 253 characters and refuses 254", () => {
    // 4 labels of 62 + 3 dots = 251; ".a" makes 253, ".ab" makes 254.
    const base = Array.from({ length: 4 }, () => "b".repeat(62)).join(".");
    const n253 = `${base}.a`;
    expect(n253).toHaveLength(253);
    expect(canonicalDnsName(n253.toUpperCase(), false)).toBe(n253);
    const n254 = `${base}.ab`;
    expect(n254).toHaveLength(254);
    expect(policyError(() => canonicalDnsName(n254, false))).toMatch(/longer than 253 characters/);
  });

  it("refuses an all-digit top-level label", () => {
    expect(policyError(() => canonicalDnsName("host.123", false))).toMatch(/top-level label must not be all digits/);
    expect(policyError(() => canonicalDnsName("*.a.123", true))).toMatch(/top-level label must not be all digits/);
    // Digits in other labels, or a TLD with a letter, are fine.
    expect(canonicalDnsName("123.example", false)).toBe("123.example");
    expect(canonicalDnsName("host.1a", false)).toBe("host.1a");
  });

  it("refuses single-label names", () => {
    expect(policyError(() => canonicalDnsName("localhost", false))).toMatch(/must have at least two labels/);
    expect(policyError(() => canonicalDnsName("LOCALHOST", false))).toContain('"LOCALHOST"');
  });
});

describe("canonicalIp", () => {
  it("returns IPv4 addresses as they are", () => {
    expect(canonicalIp("10.0.0.1")).toBe("10.0.0.1");
    expect(canonicalIp("255.255.255.255")).toBe("255.255.255.255");
  });

  it("compresses and lowercases IPv6", () => {
    expect(canonicalIp("2001:DB8:0:0::1")).toBe("2001:db8::1");
    expect(canonicalIp("2001:0db8:0000:0000:0000:0000:0000:0001")).toBe("2001:db8::1");
    expect(canonicalIp("::1")).toBe("::1");
    expect(canonicalIp("FE80:0:0:0:1:0:0:1")).toBe("fe80::1:0:0:1");
  });

  it("writes IPv4-mapped IPv6 in hex form", () => {
    expect(canonicalIp("::ffff:10.0.0.1")).toBe("::ffff:a00:1");
  });

  it("refuses garbage", () => {
    for (const bad of [
      "",
      "nope",
      "10.0.0",
      "10.0.0.256",
      "010.0.0.1",
      "1::2::3",
      "10.0.0.1/8",
      "[::1]",
      "example.com",
    ]) {
      expect(
        policyError(() => canonicalIp(bad)),
        bad,
      ).toMatch(/is not a valid IP address/);
    }
  });
});

describe("wildcards and public suffixes (BR §3.2.2.6)", () => {
  it.each([
    ["*.co.uk", "co.uk"],
    ["*.com.au", "com.au"],
    ["*.github.io", "github.io"],
    ["*.foo.kawasaki.jp", "foo.kawasaki.jp"],
  ])("refuses %s, a wildcard directly under the public suffix %s", (name, suffix) => {
    expect(policyError(() => canonicalDnsName(name, true))).toBe(
      `DNS name "${name}": a wildcard must not stand directly under a public suffix (${suffix})`,
    );
  });

  it("refuses a wildcard whose labels would themselves be public suffixes (*.kawasaki.jp)", () => {
    expect(policyError(() => canonicalDnsName("*.kawasaki.jp", true))).toMatch(
      /a wildcard must not stand directly under a public suffix/,
    );
  });

  it("accepts wildcards below a registrable domain and plain names under a suffix", () => {
    expect(canonicalDnsName("*.example.co.uk", true)).toBe("*.example.co.uk");
    expect(canonicalDnsName("*.me.github.io", true)).toBe("*.me.github.io");
    expect(canonicalDnsName("*.corp.internal", true)).toBe("*.corp.internal");
    expect(canonicalDnsName("example.co.uk", false)).toBe("example.co.uk");
  });
});

describe("checkIpName: addresses that name no host", () => {
  it.each([
    ["0.0.0.0", "unspecified"],
    ["0.1.2.3", "unspecified"],
    ["::", "unspecified"],
    ["255.255.255.255", "broadcast"],
    ["169.254.169.254", "link-local"],
    ["169.254.0.1", "link-local"],
    ["fe80::1", "link-local"],
    ["febf::1", "link-local"],
    ["224.0.0.1", "multicast"],
    ["239.255.255.250", "multicast"],
    ["ff02::1", "multicast"],
    ["::ffff:a9fe:a9fe", "link-local"],
    ["::ffff:0:0", "unspecified"],
  ])("refuses %s (%s)", (address, kind) => {
    expect(policyError(() => checkIpName(address))).toBe(
      `IP address ${address} is a ${kind} address and cannot name a certificate's subject`,
    );
  });

  it.each([
    "10.0.0.1",
    "192.0.2.1",
    "127.0.0.1",
    "223.255.255.255",
    "240.0.0.1",
    "2001:db8::1",
    "::1",
    "fec0::1",
    "fd00::1",
  ])("accepts %s", (address) => {
    expect(() => checkIpName(address)).not.toThrow();
  });
});

describe("canonicalEmail", () => {
  it("lowercases the domain and keeps the local part", () => {
    expect(canonicalEmail("Alice.Smith@Example.COM")).toBe("Alice.Smith@example.com");
    expect(canonicalEmail("a+tag@sub.example.org")).toBe("a+tag@sub.example.org");
  });

  it("refuses addresses without a local part or domain", () => {
    expect(policyError(() => canonicalEmail("example.com"))).toMatch(/not a valid email address/);
    expect(policyError(() => canonicalEmail("@example.com"))).toMatch(/not a valid email address/);
    expect(policyError(() => canonicalEmail("alice@"))).toMatch(/not a valid email address: a DNS name is empty/);
  });

  it("refuses bad local parts", () => {
    expect(policyError(() => canonicalEmail("a..b@example.com"))).toMatch(/not a valid email address/);
    expect(policyError(() => canonicalEmail("a b@example.com"))).toMatch(/not a valid email address/);
    expect(policyError(() => canonicalEmail("a@b@example.com"))).toMatch(/not a valid email address/);
    expect(policyError(() => canonicalEmail(`${"x".repeat(65)}@example.com`))).toMatch(/not a valid email address/);
    expect(canonicalEmail(`${"x".repeat(64)}@example.com`)).toBe(`${"x".repeat(64)}@example.com`);
  });

  it("checks the domain as a DNS name (no wildcards, no IPs, no single labels)", () => {
    expect(policyError(() => canonicalEmail("a@*.example.com"))).toMatch(/wildcards are not allowed/);
    expect(policyError(() => canonicalEmail("a@10.0.0.1"))).toMatch(/is an IP address/);
    expect(policyError(() => canonicalEmail("a@localhost"))).toMatch(/at least two labels/);
    expect(policyError(() => canonicalEmail("a@bücher.example"))).toMatch(/xn--bcher-kva\.example/);
  });
});

describe("canonicalUri", () => {
  it("accepts absolute URIs as given", () => {
    expect(canonicalUri("https://example.com/a")).toBe("https://example.com/a");
    expect(canonicalUri("spiffe://example.org/ns/prod/sa/web")).toBe("spiffe://example.org/ns/prod/sa/web");
    expect(canonicalUri("urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66")).toBe(
      "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66",
    );
  });

  it("refuses relative references and garbage", () => {
    expect(policyError(() => canonicalUri("/just/a/path"))).toMatch(/not a valid absolute URI/);
    expect(policyError(() => canonicalUri("example.com"))).toMatch(/not a valid absolute URI/);
    expect(policyError(() => canonicalUri(""))).toMatch(/not a valid absolute URI/);
  });

  it("refuses whitespace, even where the URL parser would strip it", () => {
    expect(policyError(() => canonicalUri(" https://example.com/"))).toMatch(/contains whitespace/);
    expect(policyError(() => canonicalUri("https://example.com/\n"))).toMatch(/contains whitespace/);
    expect(policyError(() => canonicalUri("https://example.com/a b"))).toMatch(/contains whitespace/);
  });

  it("refuses non-ASCII characters (IA5String) and names the percent-encoded form", () => {
    expect(policyError(() => canonicalUri("https://example.com/bücher"))).toBe(
      'URI "https://example.com/bücher" is not ASCII; use its percent-encoded form (https://example.com/b%C3%BCcher)',
    );
  });
});

describe("matchesPattern", () => {
  it("matches exact DNS names, case-insensitively in the pattern", () => {
    expect(matchesPattern(dns("a.example.com"), "a.example.com")).toBe(true);
    expect(matchesPattern(dns("a.example.com"), "A.Example.COM")).toBe(true);
    expect(matchesPattern(dns("b.example.com"), "a.example.com")).toBe(false);
    expect(matchesPattern(dns("x.a.example.com"), "a.example.com")).toBe(false);
  });

  it("matches names below a *.suffix but not the bare suffix", () => {
    expect(matchesPattern(dns("a.example.com"), "*.example.com")).toBe(true);
    expect(matchesPattern(dns("x.y.example.com"), "*.example.com")).toBe(true);
    expect(matchesPattern(dns("*.example.com"), "*.example.com")).toBe(true);
    expect(matchesPattern(dns("a.example.com"), "*.EXAMPLE.com")).toBe(true);
    expect(matchesPattern(dns("example.com"), "*.example.com")).toBe(false);
    expect(matchesPattern(dns("badexample.com"), "*.example.com")).toBe(false);
    expect(matchesPattern(dns("a.example.com.evil"), "*.example.com")).toBe(false);
  });

  it("matches IPv4 addresses against a CIDR range", () => {
    expect(matchesPattern(ip("10.1.2.3"), "10.0.0.0/8")).toBe(true);
    expect(matchesPattern(ip("11.0.0.1"), "10.0.0.0/8")).toBe(false);
    expect(matchesPattern(ip("192.168.1.77"), "192.168.1.64/26")).toBe(true);
    expect(matchesPattern(ip("192.168.1.128"), "192.168.1.64/26")).toBe(false);
    expect(matchesPattern(ip("192.168.1.63"), "192.168.1.64/26")).toBe(false);
    expect(matchesPattern(ip("10.0.0.1"), "10.0.0.1/32")).toBe(true);
    expect(matchesPattern(ip("10.0.0.2"), "10.0.0.1/32")).toBe(false);
    expect(matchesPattern(ip("203.0.113.9"), "0.0.0.0/0")).toBe(true);
  });

  it("matches IPv6 addresses against a CIDR range", () => {
    expect(matchesPattern(ip("2001:db8::1"), "2001:db8::/32")).toBe(true);
    expect(matchesPattern(ip("2001:db8:ffff:1::1"), "2001:db8::/32")).toBe(true);
    expect(matchesPattern(ip("2001:db9::1"), "2001:db8::/32")).toBe(false);
    expect(matchesPattern(ip("fd00:1:2:3::4"), "fd00::/8")).toBe(true);
    expect(matchesPattern(ip("fe80::1"), "fd00::/8")).toBe(false);
    expect(matchesPattern(ip("::1"), "::1/128")).toBe(true);
    expect(matchesPattern(ip("::2"), "::1/128")).toBe(false);
    expect(matchesPattern(ip("2001:db8:0:0:0:0:0:1"), "2001:DB8::/33")).toBe(true);
  });

  it("never matches across IP versions", () => {
    expect(matchesPattern(ip("10.0.0.1"), "::/0")).toBe(false);
    expect(matchesPattern(ip("::1"), "0.0.0.0/0")).toBe(false);
  });

  it("matches emails at an @domain, but not subdomains or look-alikes", () => {
    expect(matchesPattern(email("alice@example.com"), "@example.com")).toBe(true);
    expect(matchesPattern(email("alice@example.com"), "@Example.COM")).toBe(true);
    expect(matchesPattern(email("alice@sub.example.com"), "@example.com")).toBe(false);
    expect(matchesPattern(email("alice@evilexample.com"), "@example.com")).toBe(false);
    expect(matchesPattern(email("alice@example.org"), "@example.com")).toBe(false);
  });

  it("matches URIs exactly", () => {
    expect(matchesPattern(uri("spiffe://example.org/web"), "spiffe://example.org/web")).toBe(true);
    expect(matchesPattern(uri("spiffe://example.org/db"), "spiffe://example.org/web")).toBe(false);
  });

  it("never matches a pattern of another kind", () => {
    // DNS patterns do not match IPs, emails or URIs.
    expect(matchesPattern(ip("10.0.0.1"), "10.0.0.1")).toBe(false);
    expect(matchesPattern(email("a@example.com"), "example.com")).toBe(false);
    expect(matchesPattern(email("a@x.example.com"), "*.example.com")).toBe(false);
    expect(matchesPattern(uri("https://example.com/"), "example.com")).toBe(false);
    expect(matchesPattern(uri("https://a.example.com/"), "*.example.com")).toBe(false);
    // CIDR patterns do not match DNS names or emails.
    expect(matchesPattern(dns("a.example.com"), "10.0.0.0/8")).toBe(false);
    expect(matchesPattern(email("a@example.com"), "10.0.0.0/8")).toBe(false);
    // @domain patterns do not match DNS names, IPs or URIs.
    expect(matchesPattern(dns("example.com"), "@example.com")).toBe(false);
    expect(matchesPattern(ip("10.0.0.1"), "@example.com")).toBe(false);
    expect(matchesPattern(uri("mailto:a@example.com"), "@example.com")).toBe(false);
    // A *.suffix pattern does not match IPs.
    expect(matchesPattern(ip("10.0.0.1"), "*.0.0.1")).toBe(false);
  });
});

describe("formatName", () => {
  it("prefixes the type", () => {
    expect(formatName(dns("a.example.com"))).toBe("dns:a.example.com");
    expect(formatName(ip("::1"))).toBe("ip:::1");
  });
});

describe("matchesPattern: malformed IP ranges fail closed", () => {
  it.each(["10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/33", "10.0.0.0/8x", "::/129"])("%s matches nothing", (pattern) => {
    const value = pattern.startsWith("::") ? "2001:db8::1" : "10.1.2.3";
    expect(matchesPattern({ type: "ip", value }, pattern)).toBe(false);
  });

  it("matches IPv6 ranges written with a dotted IPv4 tail", () => {
    expect(matchesPattern({ type: "ip", value: "::ffff:a00:1" }, "::ffff:10.0.0.0/104")).toBe(true);
    expect(matchesPattern({ type: "ip", value: "::ffff:b00:1" }, "::ffff:10.0.0.0/104")).toBe(false);
  });
});
