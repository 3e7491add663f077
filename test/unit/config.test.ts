import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { deepMerge, listenAddress, loadConfig } from "../../src/config/load.js";
import { ConfigError } from "../../src/errors/index.js";

let dataDir: string;
/** The placeholder config files may use for the data dir (a literal, not a template). */
const PLACEHOLDER = "$" + "{dataDir}";

beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), "keyward-config-"));
});
afterEach(() => {
  rmSync(dataDir, { recursive: true, force: true });
});

function writeOverlay(yaml: string, name = "keyward.yaml"): string {
  const path = join(dataDir, name);
  writeFileSync(path, yaml);
  return path;
}

/** Expects loadConfig to throw a ConfigError and returns its message. */
function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe("config");
    return (error as Error).message;
  }
  throw new Error("expected a ConfigError, but nothing was thrown");
}

const PROFILE_YAML = `
profiles:
  iot:
    description: Devices
    validityDays: 30
    maxValidityDays: 60
    keyUsage: [digitalSignature]
    extKeyUsage: [clientAuth]
    sanTypes: [uri]
`;

describe("loadConfig defaults", () => {
  it("uses config/default.yaml with the data-dir placeholder expanded", () => {
    const config = loadConfig({ env: { KEYWARD_DATA_DIR: dataDir } });
    expect(config.dataDir).toBe(dataDir);
    expect(config.listen).toBe("127.0.0.1:8080");
    expect(config.baseUrl).toBe("http://127.0.0.1:8080");
    expect(config.database.url).toBe(`sqlite:${join(dataDir, "keyward.db")}`);
    expect(config.hsm).toEqual({
      module: "/usr/lib/softhsm/libsofthsm2.so",
      token: "keyward",
      pinSource: `file:${dataDir}/hsm.pin`,
      sessions: 4,
      signingThreads: 2,
      softhsmConf: `${dataDir}/softhsm2.conf`,
      rootPinSource: "env:KEYWARD_HSM_ROOT_PIN",
      disableMechanisms: [],
    });
    expect(JSON.stringify(config)).not.toContain(PLACEHOLDER);
    expect(config.log.level).toBe("info");
    expect(config.policy).toEqual({ forbiddenNames: ["localhost", "*.localhost", "*.local"], maxBodyBytes: 65536 });
  });

  it("has the built-in CAs and profiles, with profile defaults applied", () => {
    const config = loadConfig({ env: { KEYWARD_DATA_DIR: dataDir } });
    expect(config.ca.root).toMatchObject({ id: "root", keyType: "p384", pathLength: 1 });
    expect(config.ca.intermediates.map((i) => i.id)).toEqual(["intermediate"]);
    expect(Object.keys(config.profiles).sort()).toEqual([
      "audit-signer",
      "client",
      "kmip-client",
      "kms-import",
      "kms-signer",
      "ocsp-responder",
      "recipient",
      "server",
    ]);
    const server = config.profiles.server!;
    expect(server.validityDays).toBe(90);
    expect(server.extKeyUsage).toEqual(["serverAuth"]);
    // Issue 20: the BR domain-validated policy; no SKI and no keyEncipherment (Let's Encrypt's tlsserver).
    expect(server.policies).toEqual(["2.23.140.1.2.1"]);
    expect(server.cpsUri).toBeUndefined();
    expect(server.subjectKeyIdentifier).toBe(false);
    expect(server.keyUsage).toEqual({
      rsa: ["digitalSignature"],
      ec: ["digitalSignature"],
      ed25519: ["digitalSignature"],
    });
    expect(config.profiles.client!.policies).toEqual([]);
    expect(config.profiles.client!.subjectKeyIdentifier).toBe(true);
    expect(config.ca.root.country).toBeUndefined();
    expect(config.ca.intermediates[0]!.policies).toBeUndefined();
    expect(server.allowWildcard).toBe(true);
    expect(server.requireSan).toBe(true);
    expect(server.maxNames).toBe(100);
    // Issue 20: no Ed25519 for TLS server certificates (BR §6.1.5); other profiles keep the default.
    expect(server.keyTypes).toEqual(["p256", "p384", "rsa2048", "rsa3072", "rsa4096"]);
    expect(config.profiles.client!.keyTypes).toContain("ed25519");
    // Issue 20: BR §7.2.2 reasons for server certificates; private profiles may still hold.
    expect(server.revocationReasons).toEqual([
      "unspecified",
      "keyCompromise",
      "affiliationChanged",
      "superseded",
      "cessationOfOperation",
      "privilegeWithdrawn",
    ]);
    expect(config.profiles.client!.revocationReasons).toContain("certificateHold");
    expect(config.profiles.recipient!.revocationReasons).toContain("certificateHold");
    expect(config.profiles.recipient!.keyUsage).toEqual({ rsa: ["keyEncipherment"], ec: ["keyAgreement"] });
    expect(config.profiles["ocsp-responder"]!.internal).toBe(true);
    expect(config.profiles["audit-signer"]!.internal).toBe(true);
    expect(config.profiles["kms-import"]!.keyUsage).toEqual(["keyEncipherment"]);
    expect(config.profiles["kms-signer"]!.internal).toBe(true);
  });

  it("ignores an unrelated process environment when given an env object", () => {
    const before = process.env.KEYWARD_LISTEN;
    process.env.KEYWARD_LISTEN = "0.0.0.0:1";
    try {
      expect(loadConfig({ env: { KEYWARD_DATA_DIR: dataDir } }).listen).toBe("127.0.0.1:8080");
    } finally {
      if (before === undefined) delete process.env.KEYWARD_LISTEN;
      else process.env.KEYWARD_LISTEN = before;
    }
  });
});

describe("loadConfig overlay file", () => {
  it("adds a profile from <dataDir>/keyward.yaml and keeps the built-in ones", () => {
    writeOverlay(PROFILE_YAML);
    const config = loadConfig({ env: { KEYWARD_DATA_DIR: dataDir } });
    expect(Object.keys(config.profiles).sort()).toEqual([
      "audit-signer",
      "client",
      "iot",
      "kmip-client",
      "kms-import",
      "kms-signer",
      "ocsp-responder",
      "recipient",
      "server",
    ]);
    expect(config.profiles.iot).toMatchObject({
      description: "Devices",
      validityDays: 30,
      maxValidityDays: 60,
      keyUsage: ["digitalSignature"],
      extKeyUsage: ["clientAuth"],
      sanTypes: ["uri"],
      requireSan: true,
    });
    expect(config.profiles.server!.extKeyUsage).toEqual(["serverAuth"]);
  });

  it("merges mappings key by key and replaces lists", () => {
    writeOverlay(`
listen: 0.0.0.0:9000
hsm:
  token: other-token
policy:
  forbiddenNames: ["*.corp"]
profiles:
  server:
    validityDays: 30
    keyUsage:
      rsa: [keyEncipherment]
`);
    const config = loadConfig({ env: { KEYWARD_DATA_DIR: dataDir } });
    expect(config.listen).toBe("0.0.0.0:9000");
    expect(config.baseUrl).toBe("http://0.0.0.0:9000");
    expect(config.hsm.token).toBe("other-token");
    expect(config.hsm.module).toBe("/usr/lib/softhsm/libsofthsm2.so");
    expect(config.hsm.pinSource).toBe(`file:${dataDir}/hsm.pin`);
    expect(config.policy.forbiddenNames).toEqual(["*.corp"]);
    expect(config.policy.maxBodyBytes).toBe(65536);
    expect(config.profiles.server!.validityDays).toBe(30);
    expect(config.profiles.server!.maxValidityDays).toBe(397);
    expect(config.profiles.server!.keyUsage).toEqual({
      rsa: ["keyEncipherment"],
      ec: ["digitalSignature"],
      ed25519: ["digitalSignature"],
    });
  });

  it("expands the data-dir placeholder in the operator's file too", () => {
    writeOverlay(`hsm:\n  pinSource: file:${PLACEHOLDER}/secrets/pin\n`);
    expect(loadConfig({ env: { KEYWARD_DATA_DIR: dataDir } }).hsm.pinSource).toBe(`file:${dataDir}/secrets/pin`);
  });

  it("accepts an empty file", () => {
    writeOverlay("# nothing here\n");
    expect(loadConfig({ env: { KEYWARD_DATA_DIR: dataDir } }).listen).toBe("127.0.0.1:8080");
  });

  it("uses the file KEYWARD_CONFIG names instead of <dataDir>/keyward.yaml", () => {
    writeOverlay("listen: 127.0.0.1:7000\n");
    const other = writeOverlay("listen: 127.0.0.1:7001\n", "elsewhere.yaml");
    const config = loadConfig({ env: { KEYWARD_DATA_DIR: dataDir, KEYWARD_CONFIG: other } });
    expect(config.listen).toBe("127.0.0.1:7001");
  });

  it("throws when KEYWARD_CONFIG names a missing file", () => {
    const missing = join(dataDir, "missing.yaml");
    expect(configError(() => loadConfig({ env: { KEYWARD_DATA_DIR: dataDir, KEYWARD_CONFIG: missing } }))).toBe(
      `KEYWARD_CONFIG names a missing file: ${missing}`,
    );
  });

  it("reports unparsable YAML and a non-mapping top level, naming the file", () => {
    const path = writeOverlay("listen: [unclosed\n");
    const message = configError(() => loadConfig({ env: { KEYWARD_DATA_DIR: dataDir } }));
    expect(message).toContain(`cannot read config file ${path}`);
    writeOverlay("- a\n- b\n");
    expect(configError(() => loadConfig({ env: { KEYWARD_DATA_DIR: dataDir } }))).toBe(
      `config file ${path} must hold a mapping at the top level`,
    );
  });
});

describe("loadConfig environment", () => {
  it("lets KEYWARD_* variables win over the file", () => {
    writeOverlay(`
listen: 0.0.0.0:9000
baseUrl: https://file.example.com
database:
  url: postgres://file@db/keyward
hsm:
  module: /opt/hsm/lib.so
  token: file-token
  pinSource: env:FILE_PIN
log:
  level: warn
`);
    const config = loadConfig({
      env: {
        KEYWARD_DATA_DIR: dataDir,
        KEYWARD_LISTEN: "127.0.0.1:9999",
        KEYWARD_BASE_URL: "https://ca.example.com/",
        KEYWARD_DATABASE_URL: "postgres://env@db/keyward",
        KEYWARD_HSM_TOKEN: "env-token",
        KEYWARD_HSM_PIN_SOURCE: "env:KEYWARD_PIN",
        KEYWARD_HSM_SIGNING_THREADS: "0",
        KEYWARD_LOG_LEVEL: "debug",
      },
    });
    expect(config.hsm.signingThreads).toBe(0);
    expect(config.listen).toBe("127.0.0.1:9999");
    expect(config.baseUrl).toBe("https://ca.example.com");
    expect(config.database.url).toBe("postgres://env@db/keyward");
    expect(config.hsm.token).toBe("env-token");
    expect(config.hsm.pinSource).toBe("env:KEYWARD_PIN");
    // Not set in the environment: the file's value stays.
    expect(config.hsm.module).toBe("/opt/hsm/lib.so");
    expect(config.log.level).toBe("debug");
  });

  it("derives baseUrl from KEYWARD_LISTEN when no baseUrl is set", () => {
    const config = loadConfig({ env: { KEYWARD_DATA_DIR: dataDir, KEYWARD_LISTEN: "[::1]:8443" } });
    expect(config.baseUrl).toBe("http://[::1]:8443");
    expect(listenAddress(config.listen)).toEqual({ host: "::1", port: 8443 });
  });

  it("sets the HSM module from KEYWARD_HSM_MODULE", () => {
    const config = loadConfig({ env: { KEYWARD_DATA_DIR: dataDir, KEYWARD_HSM_MODULE: "/x/libhsm.so" } });
    expect(config.hsm.module).toBe("/x/libhsm.so");
    expect(config.hsm.token).toBe("keyward");
  });

  it("makes a relative sqlite path absolute and keeps :memory:", () => {
    const rel = loadConfig({ env: { KEYWARD_DATA_DIR: dataDir, KEYWARD_DATABASE_URL: "sqlite:rel/k.db" } });
    expect(rel.database.url).toBe(`sqlite:${join(process.cwd(), "rel/k.db")}`);
    const mem = loadConfig({ env: { KEYWARD_DATA_DIR: dataDir, KEYWARD_DATABASE_URL: "sqlite::memory:" } });
    expect(mem.database.url).toBe("sqlite::memory:");
  });

  it("applies overrides last", () => {
    writeOverlay("listen: 0.0.0.0:9000\n");
    const config = loadConfig({
      env: { KEYWARD_DATA_DIR: dataDir, KEYWARD_LISTEN: "127.0.0.1:9999" },
      overrides: { listen: "127.0.0.1:1234", log: { level: "silent" } },
    });
    expect(config.listen).toBe("127.0.0.1:1234");
    expect(config.log.level).toBe("silent");
  });

  it("takes the data dir from overrides before KEYWARD_DATA_DIR", () => {
    const other = mkdtempSync(join(tmpdir(), "keyward-config-other-"));
    try {
      const config = loadConfig({ env: { KEYWARD_DATA_DIR: dataDir }, overrides: { dataDir: other } });
      expect(config.dataDir).toBe(other);
      expect(config.hsm.pinSource).toBe(`file:${other}/hsm.pin`);
      expect(config.database.url).toBe(`sqlite:${join(other, "keyward.db")}`);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});

describe("loadConfig validation", () => {
  const env = () => ({ KEYWARD_DATA_DIR: dataDir });

  it("refuses a listen value that is not host:port", () => {
    const message = configError(() => loadConfig({ env: { ...env(), KEYWARD_LISTEN: "nope" } }));
    expect(message).toMatch(/^invalid configuration: /);
    expect(message).toContain("listen: listen is host:port");
    writeOverlay("listen: nope\n");
    expect(configError(() => loadConfig({ env: env() }))).toContain("listen: listen is host:port");
  });

  it("refuses a profile whose validityDays exceeds maxValidityDays", () => {
    writeOverlay(`
profiles:
  long:
    validityDays: 400
    maxValidityDays: 397
    keyUsage: [digitalSignature]
`);
    expect(configError(() => loadConfig({ env: env() }))).toContain(
      "profiles.long: validityDays must not exceed maxValidityDays",
    );
  });

  it("refuses the same problem when a file raises a built-in profile's validity", () => {
    writeOverlay("profiles:\n  server:\n    validityDays: 398\n");
    expect(configError(() => loadConfig({ env: env() }))).toContain(
      "profiles.server: validityDays must not exceed maxValidityDays",
    );
  });

  it("refuses unknown top-level keys, naming them", () => {
    writeOverlay("bogus: 1\n");
    const message = configError(() => loadConfig({ env: env() }));
    expect(message).toContain('(top): Unrecognized key: "bogus"');
  });

  it("refuses unknown keys inside sections, naming the path", () => {
    writeOverlay('hsm:\n  pin: "1234"\n');
    const message = configError(() => loadConfig({ env: env() }));
    expect(message).toContain('hsm: Unrecognized key: "pin"');
  });

  it("refuses a profile issuer that names no configured CA", () => {
    writeOverlay(`
profiles:
  orphan:
    issuer: nope
    validityDays: 1
    maxValidityDays: 1
    keyUsage: [digitalSignature]
`);
    expect(configError(() => loadConfig({ env: env() }))).toBe(
      'invalid configuration: profiles.orphan.issuer: no CA "nope" is configured',
    );
  });

  it("accepts a profile issuer naming the root or an intermediate", () => {
    writeOverlay(`
profiles:
  by-root:
    issuer: root
    validityDays: 1
    maxValidityDays: 1
    keyUsage: [digitalSignature]
  by-intermediate:
    issuer: intermediate
    validityDays: 1
    maxValidityDays: 1
    keyUsage: [digitalSignature]
`);
    const config = loadConfig({ env: env() });
    expect(config.profiles["by-root"]!.issuer).toBe("root");
    expect(config.profiles["by-intermediate"]!.issuer).toBe("intermediate");
  });

  it("refuses a malformed certificate policy OID, naming the path and the form", () => {
    writeOverlay("profiles:\n  server:\n    policies: [2.23.140.1.2.1, 2.23.140.01.2]\n");
    expect(configError(() => loadConfig({ env: env() }))).toBe(
      'invalid configuration: profiles.server.policies.1: "2.23.140.01.2" is not a policy OID: dotted decimal arcs without leading zeros, the first 0, 1 or 2 (e.g. 2.23.140.1.2.1)',
    );
    writeOverlay(
      "ca:\n  intermediates:\n    - id: intermediate\n      keyType: p256\n      commonName: I\n      validityDays: 1\n      policies: [domain-validated]\n",
    );
    expect(configError(() => loadConfig({ env: env() }))).toContain(
      'ca.intermediates.0.policies.0: "domain-validated" is not a policy OID',
    );
    writeOverlay("profiles:\n  server:\n    policies: [3.1.2]\n");
    expect(configError(() => loadConfig({ env: env() }))).toContain('"3.1.2" is not a policy OID');
    writeOverlay("profiles:\n  server:\n    policies: [1.40.1]\n");
    expect(configError(() => loadConfig({ env: env() }))).toContain('"1.40.1" is not a policy OID');
  });

  it("refuses anyPolicy in a profile (BR 7.1.2.7.9) and a CPS URI that is not http(s)", () => {
    writeOverlay("profiles:\n  server:\n    policies: [2.5.29.32.0]\n");
    expect(configError(() => loadConfig({ env: env() }))).toBe(
      "invalid configuration: profiles.server.policies: anyPolicy (2.5.29.32.0) is for CA certificates; a leaf asserts the policies it was issued under",
    );
    writeOverlay("profiles:\n  server:\n    cpsUri: ftp://example.com/cps\n");
    expect(configError(() => loadConfig({ env: env() }))).toContain("profiles.server.cpsUri:");
  });

  it("refuses what the lint gate would refuse at issuance: a TLS server profile without policies, an intermediate without EKU", () => {
    writeOverlay("profiles:\n  server:\n    policies: []\n");
    expect(configError(() => loadConfig({ env: env() }))).toContain(
      "profiles.server.policies: a profile issuing TLS server certificates asserts a policy (BR §7.1.2.7.9)",
    );
    writeOverlay(
      "ca:\n  intermediates:\n    - id: intermediate\n      keyType: p256\n      commonName: I\n      validityDays: 1\n    - id: bare\n      keyType: p256\n      commonName: B\n      validityDays: 1\nprofiles:\n  server:\n    issuer: intermediate\n  client:\n    issuer: intermediate\n  kmip-client:\n    issuer: intermediate\n",
    );
    expect(configError(() => loadConfig({ env: env() }))).toContain(
      "ca.intermediates[1] (bare): none of the profiles it may issue has an extKeyUsage",
    );
  });

  it("refuses kmip.requireApproval for an operation access.quorum does not say who approves; KEYWARD_KMIP_LISTEN turns KMIP on", () => {
    writeOverlay("kmip:\n  requireApproval: [destroy]\n");
    expect(configError(() => loadConfig({ env: env() }))).toContain(
      'kmip.requireApproval names destroy, but access.quorum has no "key.destroy" rule',
    );
    writeOverlay(
      "kmip:\n  requireApproval: [destroy]\naccess:\n  quorum:\n    key.destroy: { approvals: 2, role: admin }\n",
    );
    const kmip = loadConfig({ env: env() }).kmip;
    expect(kmip.listen).toBeUndefined();
    expect(kmip.requireApproval).toEqual(["destroy"]);
    expect(loadConfig({ env: { ...env(), KEYWARD_KMIP_LISTEN: "127.0.0.1:5696" } }).kmip.listen).toBe("127.0.0.1:5696");
  });

  it("takes policies, a CPS URI and a country per intermediate, and a country for the root", () => {
    writeOverlay(`
ca:
  root:
    country: DE
  intermediates:
    - id: intermediate
      keyType: p256
      commonName: Issuing CA
      country: DE
      validityDays: 365
      policies: [2.5.29.32.0]
      cpsUri: https://ca.example.com/cps
`);
    const config = loadConfig({ env: env() });
    expect(config.ca.root.country).toBe("DE");
    expect(config.ca.intermediates[0]).toMatchObject({
      country: "DE",
      policies: ["2.5.29.32.0"],
      cpsUri: "https://ca.example.com/cps",
    });
  });

  it("refuses a country that is not an ISO 3166 alpha-2 code in capitals", () => {
    writeOverlay("ca:\n  root:\n    country: de\n");
    expect(configError(() => loadConfig({ env: env() }))).toBe(
      'invalid configuration: ca.root.country: a country is an ISO 3166-1 alpha-2 code in capitals, e.g. "DE"',
    );
  });

  it("refuses policies on the root (BR 7.1.2.1: not recommended; its intermediates carry them)", () => {
    writeOverlay("ca:\n  root:\n    policies: [2.23.140.1.2.1]\n");
    expect(configError(() => loadConfig({ env: env() }))).toContain('ca.root: Unrecognized key: "policies"');
  });

  it("refuses a pinSource that is not file: or env:", () => {
    const message = configError(() => loadConfig({ env: { ...env(), KEYWARD_HSM_PIN_SOURCE: "plain-pin" } }));
    expect(message).toContain('hsm.pinSource: pinSource is "file:<path>" or "env:<NAME>"');
    expect(message).not.toContain("plain-pin");
  });

  it("refuses a bad log level and bad profile ids, naming the path", () => {
    expect(configError(() => loadConfig({ env: { ...env(), KEYWARD_LOG_LEVEL: "loud" } }))).toContain("log.level");
    writeOverlay(`
profiles:
  Bad_Name:
    validityDays: 1
    maxValidityDays: 1
    keyUsage: [digitalSignature]
`);
    expect(configError(() => loadConfig({ env: env() }))).toContain("profiles.Bad_Name:");
  });

  it("reports every problem at once", () => {
    writeOverlay("listen: nope\nhsm:\n  sessions: 0\n");
    const message = configError(() => loadConfig({ env: env() }));
    expect(message).toContain("listen:");
    expect(message).toContain("hsm.sessions:");
    expect(message).toContain("; ");
  });
});

describe("deepMerge", () => {
  it("merges objects recursively and replaces arrays and scalars", () => {
    const base = { a: { b: 1, c: [1, 2] }, d: "x", e: { f: 1 } };
    const merged = deepMerge(base, { a: { c: [3], g: true }, d: "y", e: null });
    expect(merged).toEqual({ a: { b: 1, c: [3], g: true }, d: "y", e: null });
    // The inputs are not modified.
    expect(base).toEqual({ a: { b: 1, c: [1, 2] }, d: "x", e: { f: 1 } });
  });

  it("replaces an array with an object and an object with an array", () => {
    expect(deepMerge({ k: [1] }, { k: { rsa: [2] } })).toEqual({ k: { rsa: [2] } });
    expect(deepMerge({ k: { rsa: [2] } }, { k: [1] })).toEqual({ k: [1] });
  });
});

describe("dataDir comes only from the environment or the command line", () => {
  it("refuses dataDir in the operator's config file instead of ignoring it", () => {
    const file = writeOverlay("dataDir: /tmp/elsewhere\n", "other.yaml");
    const message = configError(() => loadConfig({ env: { KEYWARD_DATA_DIR: dataDir, KEYWARD_CONFIG: file } }));
    expect(message).toContain("dataDir cannot be set in a config file; use KEYWARD_DATA_DIR or --data-dir");
  });
});
