import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXTENDED_KEY_USAGES, type Profile, ProfileSchema } from "../../src/config/schema.js";
import { PolicyError } from "../../src/errors/index.js";
import { type ParsedCsr, parseCsr } from "../../src/issuance/csr.js";
import { applyPolicy, type PolicyDecision } from "../../src/issuance/policy.js";
import { toProblem } from "../../src/http/problem.js";

const EC_P256 = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
const EC_P384 = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"];
const RSA_2048 = ["-newkey", "rsa:2048"];
const RSA_1024 = ["-newkey", "rsa:1024"];
const ED25519 = ["-newkey", "ed25519"];

let dir: string;
let counter = 0;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "keyward-policy-"));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A real CSR from `openssl req`, parsed by Keyward. */
async function csr(options: { key?: string[]; subj?: string; san?: string } = {}): Promise<ParsedCsr> {
  const n = counter++;
  const keyFile = join(dir, `${n}.key`);
  const csrFile = join(dir, `${n}.csr`);
  const args = ["req", "-new", ...(options.key ?? EC_P256), "-nodes", "-keyout", keyFile, "-out", csrFile];
  args.push("-subj", options.subj ?? "/CN=a.example.com");
  if (options.san) args.push("-addext", `subjectAltName=${options.san}`);
  execFileSync("openssl", args, { stdio: "pipe" });
  return parseCsr(readFileSync(csrFile, "utf8"));
}

// Profiles as in config/default.yaml, built through the schema so defaults apply.
const server = ProfileSchema.parse({
  validityDays: 90,
  maxValidityDays: 397,
  keyUsage: { rsa: ["digitalSignature", "keyEncipherment"], ec: ["digitalSignature"], ed25519: ["digitalSignature"] },
  extKeyUsage: ["serverAuth"],
  keyTypes: ["p256", "p384", "rsa2048", "rsa3072", "rsa4096"],
  sanTypes: ["dns", "ip"],
  allowWildcard: true,
});
const client = ProfileSchema.parse({
  validityDays: 90,
  maxValidityDays: 397,
  keyUsage: ["digitalSignature"],
  extKeyUsage: ["clientAuth"],
  sanTypes: ["email", "uri", "dns"],
});
const recipient = ProfileSchema.parse({
  validityDays: 365,
  maxValidityDays: 825,
  keyUsage: { rsa: ["keyEncipherment"], ec: ["keyAgreement"] },
  keyTypes: ["p256", "p384", "rsa2048", "rsa3072", "rsa4096"],
  sanTypes: ["email", "uri", "dns"],
  requireSan: false,
});
const FORBIDDEN = ["localhost", "*.localhost", "*.local"];

function profile(overrides: Record<string, unknown>): Profile {
  return ProfileSchema.parse({ validityDays: 30, maxValidityDays: 30, keyUsage: ["digitalSignature"], ...overrides });
}

/** Expects applyPolicy to refuse with a PolicyError and returns its message. */
function refusal(fn: () => PolicyDecision): string {
  let result: PolicyDecision | undefined;
  try {
    result = fn();
  } catch (error) {
    expect(error).toBeInstanceOf(PolicyError);
    // The admin API answers it as a client error.
    expect(toProblem(error).status).toBe(400);
    return (error as Error).message;
  }
  throw new Error(`expected a PolicyError, got ${JSON.stringify(result)}`);
}

describe("profile defaults", () => {
  it("apply when building a Profile through the schema", () => {
    expect(client.requireSan).toBe(true);
    expect(client.allowWildcard).toBe(false);
    expect(client.namePatterns).toEqual([]);
    expect(client.maxNames).toBe(100);
    expect(client.keyTypes).toEqual(["p256", "p384", "rsa2048", "rsa3072", "rsa4096", "ed25519"]);
  });

  it("allow every revocation reason but removeFromCRL unless a profile narrows them, and always keyCompromise", () => {
    expect(client.revocationReasons).toEqual([
      "unspecified",
      "keyCompromise",
      "cACompromise",
      "affiliationChanged",
      "superseded",
      "cessationOfOperation",
      "certificateHold",
      "privilegeWithdrawn",
      "aACompromise",
    ]);
    expect(profile({ revocationReasons: ["keyCompromise", "superseded"] }).revocationReasons).toEqual([
      "keyCompromise",
      "superseded",
    ]);
    expect(() => profile({ revocationReasons: ["superseded"] })).toThrow(/must include keyCompromise/);
    expect(() => profile({ revocationReasons: ["removeFromCRL", "keyCompromise"] })).toThrow();
  });
});

describe("applyPolicy: keys", () => {
  it("refuses RSA 1024 keys, naming the key and what is accepted", async () => {
    const parsed = await csr({ key: RSA_1024, san: "DNS:a.example.com" });
    expect(parsed.keyType).toBeUndefined();
    const message = refusal(() => applyPolicy(parsed, "server", server, FORBIDDEN));
    expect(message).toContain("RSA 1024");
    expect(message).toMatch(/not accepted/);
    expect(message).toContain("RSA 2048/3072/4096, ECDSA P-256/P-384 or Ed25519");
  });

  it("refuses EC keys on other curves", async () => {
    const parsed = await csr({
      key: ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp256k1"],
      san: "DNS:a.example.com",
    });
    expect(refusal(() => applyPolicy(parsed, "server", server, FORBIDDEN))).toContain("EC secp256k1");
  });

  it("refuses a key type the profile does not list", async () => {
    const parsed = await csr({ key: ED25519, subj: "/CN=Alice", san: "email:alice@example.com" });
    expect(parsed.keyType).toBe("ed25519");
    const message = refusal(() => applyPolicy(parsed, "recipient", recipient, FORBIDDEN));
    expect(message).toBe(
      'profile "recipient" does not accept ed25519 keys; it accepts p256, p384, rsa2048, rsa3072, rsa4096',
    );
  });

  it("refuses a key family the profile has no key usage for", async () => {
    const parsed = await csr({ key: ED25519, subj: "/CN=Alice", san: "email:alice@example.com" });
    const p = profile({ keyUsage: { rsa: ["keyEncipherment"], ec: ["keyAgreement"] }, sanTypes: ["email"] });
    expect(refusal(() => applyPolicy(parsed, "p", p, []))).toBe('profile "p" defines no key usage for ed25519 keys');
  });

  it("checks the key before the names", async () => {
    const parsed = await csr({ key: RSA_1024, subj: "/CN=x", san: "DNS:printer.local" });
    expect(refusal(() => applyPolicy(parsed, "server", server, FORBIDDEN))).toContain("RSA 1024");
  });
});

describe("applyPolicy: key usage and extended key usage", () => {
  it("resolves per-family key usage for RSA and EC", async () => {
    const rsa = await csr({ key: RSA_2048, subj: "/CN=Alice", san: "email:alice@example.com" });
    const ec = await csr({ key: EC_P384, subj: "/CN=Alice", san: "email:alice@example.com" });
    const forRsa = applyPolicy(rsa, "recipient", recipient, FORBIDDEN);
    const forEc = applyPolicy(ec, "recipient", recipient, FORBIDDEN);
    expect(forRsa.keyType).toBe("rsa2048");
    expect(forRsa.keyUsage).toEqual(["keyEncipherment"]);
    expect(forEc.keyType).toBe("p384");
    expect(forEc.keyUsage).toEqual(["keyAgreement"]);
  });

  it("resolves the server profile's usage per family", async () => {
    const rsa = await csr({ key: RSA_2048 });
    const ed = await csr({ key: ED25519 });
    expect(applyPolicy(rsa, "server", server, FORBIDDEN).keyUsage).toEqual(["digitalSignature", "keyEncipherment"]);
    // Ed25519 is off for `server` (issue 20, BR §6.1.5); a custom TLS profile may list it.
    expect(refusal(() => applyPolicy(ed, "server", server, FORBIDDEN))).toBe(
      'profile "server" does not accept ed25519 keys; it accepts p256, p384, rsa2048, rsa3072, rsa4096',
    );
    const custom = ProfileSchema.parse({ ...server, keyTypes: [...server.keyTypes, "ed25519"] });
    expect(applyPolicy(ed, "custom-tls", custom, FORBIDDEN).keyUsage).toEqual(["digitalSignature"]);
  });

  it("uses a flat key usage list for every key", async () => {
    const rsa = await csr({ key: RSA_2048, subj: "/CN=Bob", san: "email:bob@example.com" });
    expect(applyPolicy(rsa, "client", client, FORBIDDEN).keyUsage).toEqual(["digitalSignature"]);
  });

  it("maps extended key usage names to OIDs and keeps dotted OIDs", async () => {
    const parsed = await csr();
    expect(applyPolicy(parsed, "server", server, FORBIDDEN).extKeyUsage).toEqual(["1.3.6.1.5.5.7.3.1"]);
    const p = profile({ extKeyUsage: [...Object.keys(EXTENDED_KEY_USAGES), "1.2.3.4.5"] });
    expect(applyPolicy(parsed, "p", p, []).extKeyUsage).toEqual([
      "1.3.6.1.5.5.7.3.1",
      "1.3.6.1.5.5.7.3.2",
      "1.3.6.1.5.5.7.3.3",
      "1.3.6.1.5.5.7.3.4",
      "1.3.6.1.5.5.7.3.8",
      "1.3.6.1.5.5.7.3.9",
      "1.2.3.4.5",
    ]);
    expect(applyPolicy(parsed, "p", profile({}), []).extKeyUsage).toEqual([]);
  });
});

describe("applyPolicy: names", () => {
  it("accepts a server CSR with DNS and IP names", async () => {
    const parsed = await csr({ subj: "/CN=a.example.com", san: "DNS:a.example.com,IP:10.0.0.1,IP:2001:DB8:0:0::1" });
    expect(applyPolicy(parsed, "server", server, FORBIDDEN)).toEqual({
      keyType: "p256",
      names: [
        { type: "dns", value: "a.example.com" },
        { type: "ip", value: "10.0.0.1" },
        { type: "ip", value: "2001:db8::1" },
      ],
      commonName: "a.example.com",
      keyUsage: ["digitalSignature"],
      extKeyUsage: ["1.3.6.1.5.5.7.3.1"],
    });
  });

  it("lowercases DNS names and the CN that matches one", async () => {
    const parsed = await csr({ subj: "/CN=A.Example.COM", san: "DNS:A.EXAMPLE.com" });
    const decision = applyPolicy(parsed, "server", server, FORBIDDEN);
    expect(decision.names).toEqual([{ type: "dns", value: "a.example.com" }]);
    expect(decision.commonName).toBe("a.example.com");
  });

  it("promotes the CN to a DNS name when there is no subjectAltName", async () => {
    const parsed = await csr({ subj: "/CN=Host.Example.com" });
    expect(parsed.sans).toEqual([]);
    const decision = applyPolicy(parsed, "server", server, FORBIDDEN);
    expect(decision.names).toEqual([{ type: "dns", value: "host.example.com" }]);
    expect(decision.commonName).toBe("host.example.com");
  });

  it("promotes an IP CN to an IP name", async () => {
    const parsed = await csr({ subj: "/CN=10.1.2.3" });
    const decision = applyPolicy(parsed, "server", server, FORBIDDEN);
    expect(decision.names).toEqual([{ type: "ip", value: "10.1.2.3" }]);
    expect(decision.commonName).toBe("10.1.2.3");
  });

  it("promotes an email CN to an email name for a profile with email names", async () => {
    const parsed = await csr({ subj: "/CN=alice@Example.com" });
    const decision = applyPolicy(parsed, "client", client, FORBIDDEN);
    expect(decision.names).toEqual([{ type: "email", value: "alice@example.com" }]);
    expect(decision.commonName).toBe("alice@example.com");
  });

  it("does not promote the CN when there is a subjectAltName", async () => {
    const parsed = await csr({ subj: "/CN=b.example.com", san: "DNS:a.example.com" });
    const message = refusal(() => applyPolicy(parsed, "server", server, FORBIDDEN));
    expect(message).toBe('the CSR\'s CN "b.example.com" is not one of the requested names (a.example.com)');
  });

  it("refuses a free-text CN for a server-style profile", async () => {
    const parsed = await csr({ subj: "/CN=My Web Server", san: "DNS:a.example.com,IP:10.0.0.1" });
    expect(refusal(() => applyPolicy(parsed, "server", server, FORBIDDEN))).toMatch(
      /CN "My Web Server" is not one of the requested names \(a\.example\.com, 10\.0\.0\.1\)/,
    );
  });

  it("refuses a free-text CN without names for a server-style profile that requires names", async () => {
    const parsed = await csr({ subj: "/CN=My Web Server" });
    expect(refusal(() => applyPolicy(parsed, "server", server, FORBIDDEN))).toBe(
      'profile "server" needs at least one subject name (dns, ip) in the CSR\'s subjectAltName or CN',
    );
  });

  it("keeps a free-text CN for a profile with email names", async () => {
    const parsed = await csr({ subj: "/CN=Alice Smith/O=Example", san: "email:alice@example.com" });
    const decision = applyPolicy(parsed, "client", client, FORBIDDEN);
    expect(decision.commonName).toBe("Alice Smith");
    expect(decision.names).toEqual([{ type: "email", value: "alice@example.com" }]);
  });

  it("keeps a free-text CN without names when the profile does not require names", async () => {
    const parsed = await csr({ key: RSA_2048, subj: "/CN=Backup Key 7" });
    const decision = applyPolicy(parsed, "recipient", recipient, FORBIDDEN);
    expect(decision.names).toEqual([]);
    expect(decision.commonName).toBe("Backup Key 7");
  });

  it("gives an empty subject when the CSR has no CN", async () => {
    const parsed = await csr({ subj: "/O=Example", san: "DNS:a.example.com" });
    expect(parsed.commonName).toBeUndefined();
    const decision = applyPolicy(parsed, "server", server, FORBIDDEN);
    expect(decision.commonName).toBeUndefined();
    expect(decision.names).toEqual([{ type: "dns", value: "a.example.com" }]);
  });

  it("refuses a CN longer than 64 characters", async () => {
    const parsed = await csr({ subj: "/CN=Alice", san: "email:alice@example.com" });
    const long = { ...parsed, commonName: "x".repeat(65) };
    expect(refusal(() => applyPolicy(long, "client", client, FORBIDDEN))).toMatch(/CN is longer than 64 characters/);
    const ok = { ...parsed, commonName: "x".repeat(64) };
    expect(applyPolicy(ok, "client", client, FORBIDDEN).commonName).toBe("x".repeat(64));
  });

  it("removes duplicate names after canonicalisation", async () => {
    const parsed = await csr({
      subj: "/CN=a.example.com",
      san: "DNS:a.example.com,DNS:A.EXAMPLE.COM,IP:10.0.0.1,DNS:b.example.com,IP:10.0.0.1,DNS:a.Example.com",
    });
    expect(parsed.sans).toHaveLength(6);
    expect(applyPolicy(parsed, "server", server, FORBIDDEN).names).toEqual([
      { type: "dns", value: "a.example.com" },
      { type: "ip", value: "10.0.0.1" },
      { type: "dns", value: "b.example.com" },
    ]);
  });

  it("refuses name types the profile does not allow", async () => {
    const parsed = await csr({ subj: "/CN=a.example.com", san: "DNS:a.example.com,email:alice@example.com" });
    expect(refusal(() => applyPolicy(parsed, "server", server, FORBIDDEN))).toBe(
      'profile "server" does not allow email names (allowed: dns, ip); got "alice@example.com"',
    );
    const none = profile({ sanTypes: [], requireSan: false });
    expect(refusal(() => applyPolicy(parsed, "internal", none, FORBIDDEN))).toMatch(/\(allowed: none\)/);
  });

  it("refuses subjectAltName types Keyward does not support", async () => {
    const parsed = await csr({ subj: "/CN=a.example.com", san: "DNS:a.example.com,RID:1.2.3.4" });
    expect(refusal(() => applyPolicy(parsed, "server", server, FORBIDDEN))).toMatch(
      /subjectAltName type "registeredID" is not supported/,
    );
  });

  it("checks each name's syntax", async () => {
    const bad = await csr({ subj: "/CN=x", san: "DNS:bad_name.example.com" });
    expect(refusal(() => applyPolicy(bad, "server", server, FORBIDDEN))).toMatch(/label "bad_name"/);
    const ipAsDns = await csr({ subj: "/CN=x", san: "DNS:10.0.0.1" });
    expect(refusal(() => applyPolicy(ipAsDns, "server", server, FORBIDDEN))).toMatch(/request it as an IP SAN/);
  });

  it("allows wildcards only where the profile does", async () => {
    const parsed = await csr({ subj: "/CN=*.example.com", san: "DNS:*.example.com" });
    const decision = applyPolicy(parsed, "server", server, FORBIDDEN);
    expect(decision.names).toEqual([{ type: "dns", value: "*.example.com" }]);
    expect(decision.commonName).toBe("*.example.com");
    expect(refusal(() => applyPolicy(parsed, "client", client, FORBIDDEN))).toMatch(/wildcards are not allowed/);
  });

  it("refuses a wildcard directly under a public suffix", async () => {
    const parsed = await csr({ subj: "/CN=*.co.uk", san: "DNS:*.co.uk" });
    expect(refusal(() => applyPolicy(parsed, "server", server, FORBIDDEN))).toBe(
      'DNS name "*.co.uk": a wildcard must not stand directly under a public suffix (co.uk)',
    );
  });

  it.each([
    ["0.0.0.0", "unspecified"],
    ["::", "unspecified"],
    ["255.255.255.255", "broadcast"],
    ["169.254.169.254", "link-local"],
    ["fe80::1", "link-local"],
    ["224.0.0.251", "multicast"],
  ])("refuses the IP SAN %s (%s)", async (address, kind) => {
    const parsed = await csr({ subj: "/CN=a.example.com", san: `DNS:a.example.com,IP:${address}` });
    expect(refusal(() => applyPolicy(parsed, "server", server, FORBIDDEN))).toBe(
      `IP address ${address} is a ${kind} address and cannot name a certificate's subject`,
    );
  });

  it("accepts URI names for a profile that allows them", async () => {
    const parsed = await csr({ subj: "/CN=web", san: "URI:spiffe://example.org/ns/prod/sa/web" });
    const decision = applyPolicy(parsed, "client", client, FORBIDDEN);
    expect(decision.names).toEqual([{ type: "uri", value: "spiffe://example.org/ns/prod/sa/web" }]);
    expect(decision.commonName).toBe("web");
  });
});

describe("applyPolicy: forbidden names, allow-lists and limits", () => {
  it("refuses forbidden DNS names", async () => {
    for (const [san, name] of [
      ["DNS:printer.local", "printer.local"],
      ["DNS:PRINTER.Local", "printer.local"],
      ["DNS:a.b.local", "a.b.local"],
      ["DNS:*.office.local", "*.office.local"],
      ["DNS:app.localhost", "app.localhost"],
      ["DNS:ok.example.com,DNS:x.local", "x.local"],
    ] as const) {
      const parsed = await csr({ subj: "/O=x", san });
      expect(
        refusal(() => applyPolicy(parsed, "server", server, FORBIDDEN)),
        san,
      ).toBe(`DNS name "${name}" is forbidden by policy`);
    }
  });

  it("refuses a forbidden name promoted from the CN", async () => {
    const parsed = await csr({ subj: "/CN=nas.local" });
    expect(refusal(() => applyPolicy(parsed, "server", server, FORBIDDEN))).toBe(
      'DNS name "nas.local" is forbidden by policy',
    );
  });

  it("does not forbid names that only look similar", async () => {
    const parsed = await csr({ subj: "/O=x", san: "DNS:local.example.com,DNS:mylocal.com,DNS:localhost.example.com" });
    expect(applyPolicy(parsed, "server", server, FORBIDDEN).names).toHaveLength(3);
  });

  it("applies the profile's namePatterns allow-list", async () => {
    const p = profile({ namePatterns: ["*.internal.example.com", "api.example.com", "10.0.0.0/8", "fd00::/8"] });
    const ok = await csr({
      subj: "/O=x",
      san: "DNS:a.internal.example.com,DNS:api.example.com,IP:10.9.8.7,IP:fd00::1",
    });
    expect(applyPolicy(ok, "internal", p, FORBIDDEN).names.map((n) => n.value)).toEqual([
      "a.internal.example.com",
      "api.example.com",
      "10.9.8.7",
      "fd00::1",
    ]);
    for (const [san, text] of [
      ["DNS:internal.example.com", 'dns name "internal.example.com"'],
      ["DNS:www.example.com", 'dns name "www.example.com"'],
      ["IP:192.168.1.1", 'ip name "192.168.1.1"'],
      ["IP:2001:db8::1", 'ip name "2001:db8::1"'],
    ] as const) {
      const parsed = await csr({ subj: "/O=x", san: `DNS:api.example.com,${san}` });
      const message = refusal(() => applyPolicy(parsed, "internal", p, FORBIDDEN));
      expect(message, san).toContain(text);
      expect(message, san).toContain(
        'is outside what profile "internal" allows (*.internal.example.com, api.example.com, 10.0.0.0/8, fd00::/8)',
      );
    }
  });

  it("applies @domain patterns to email names", async () => {
    const p = profile({ sanTypes: ["email"], namePatterns: ["@example.com"] });
    const ok = await csr({ subj: "/CN=Alice", san: "email:alice@Example.com" });
    expect(applyPolicy(ok, "staff", p, []).names).toEqual([{ type: "email", value: "alice@example.com" }]);
    const bad = await csr({ subj: "/CN=Mallory", san: "email:mallory@evil.com" });
    expect(refusal(() => applyPolicy(bad, "staff", p, []))).toMatch(/email name "mallory@evil.com" is outside/);
  });

  it("checks forbidden names even when an allow-list would admit them", async () => {
    const p = profile({ namePatterns: ["*.local"] });
    const parsed = await csr({ subj: "/O=x", san: "DNS:printer.local" });
    expect(refusal(() => applyPolicy(parsed, "p", p, FORBIDDEN))).toMatch(/forbidden by policy/);
  });

  it("enforces maxNames after removing duplicates", async () => {
    const p = profile({ maxNames: 2 });
    const three = await csr({ subj: "/O=x", san: "DNS:a.example.com,DNS:b.example.com,IP:10.0.0.1" });
    expect(refusal(() => applyPolicy(three, "small", p, []))).toBe(
      'the CSR requests 3 names; profile "small" allows at most 2',
    );
    const dupes = await csr({ subj: "/O=x", san: "DNS:a.example.com,DNS:b.example.com,DNS:A.example.com" });
    expect(applyPolicy(dupes, "small", p, []).names).toHaveLength(2);
  });

  it("requires a name when requireSan is set, and not otherwise", async () => {
    const noNames = await csr({ subj: "/O=Example" });
    expect(noNames.sans).toEqual([]);
    expect(noNames.commonName).toBeUndefined();
    expect(refusal(() => applyPolicy(noNames, "client", client, FORBIDDEN))).toBe(
      'profile "client" needs at least one subject name (email, uri, dns) in the CSR\'s subjectAltName or CN',
    );
    const decision = applyPolicy(noNames, "recipient", recipient, FORBIDDEN);
    expect(decision.names).toEqual([]);
    expect(decision.commonName).toBeUndefined();
  });
});

describe("applyPolicy: IP common names", () => {
  it("accepts an uncompressed IPv6 CN promoted to an IP name, in canonical form", async () => {
    const parsed = await csr({ subj: "/CN=2001:db8:0:0::1" });
    const decision = applyPolicy(parsed, "server", server, FORBIDDEN);
    expect(decision.names).toEqual([{ type: "ip", value: "2001:db8::1" }]);
    expect(decision.commonName).toBe("2001:db8::1");
  });
});
