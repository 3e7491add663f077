import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { storePreset } from "../../src/cli/preset-file.js";
import { loadConfig } from "../../src/config/load.js";
import { PRESETS } from "../../src/config/schema.js";
import { ConfigError } from "../../src/errors/index.js";

let dataDir: string;
const env = () => ({ KEYWARD_DATA_DIR: dataDir });

beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), "keyward-presets-"));
});
afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

describe("security-needs presets", () => {
  it("each preset is a valid configuration", () => {
    for (const preset of PRESETS) expect(loadConfig({ env: env(), preset }).preset).toBe(preset);
  });

  it("dev: fast keys, short lifetimes, no approvals", () => {
    const c = loadConfig({ env: env(), preset: "dev" });
    expect([c.ca.root.keyType, c.ca.intermediates[0]!.keyType]).toEqual(["p256", "p256"]);
    expect(c.ca.intermediates[0]!.validityDays).toBe(730);
    expect(c.profiles.server!.validityDays).toBe(30);
    expect(c.access.quorum).toEqual({});
    expect(c.ceremony.minWitnesses).toBe(0);
    // Every preset signs audit tree heads every second (issue 22): no preset trades that away.
    expect(c.audit.treeHeadSeconds).toBe(1);
  });

  it("small: the shipped defaults and one witness at root ceremonies", () => {
    const plain = loadConfig({ env: env() });
    const small = loadConfig({ env: env(), preset: "small" });
    expect(small.ca).toEqual(plain.ca);
    expect(small.revocation).toEqual(plain.revocation);
    expect(small.audit).toEqual(plain.audit);
    expect(small.access.quorum).toEqual({});
    expect(small.ceremony.minWitnesses).toBe(1);
  });

  it("regulated: dual control, fresher revocation data, shorter intermediates, no JWE", () => {
    const c = loadConfig({ env: env(), preset: "regulated" });
    expect(c.ca.intermediates[0]).toMatchObject({ keyType: "p384", validityDays: 1095 });
    expect(c.access.quorum["ca.create"]).toEqual({ approvals: 2, role: "admin" });
    expect(c.access.quorum["key.destroy"]).toEqual({ approvals: 2, role: "key-officer" });
    expect(c.revocation).toMatchObject({ crlValidityHours: 12, ocspValidityHours: 24, rootCrlValidityDays: 90 });
    expect(c.audit).toEqual({ treeHeadSeconds: 1, witness: join(dataDir, "audit-witness.log") });
    expect(c.kms.allowJweDistribution).toBe(false);
    expect(c.profiles.server!.keyTypes).not.toContain("rsa2048");
    // Issue 20: the preset keeps the server profile's BR key and revocation policies.
    expect(c.profiles.server!.keyTypes).not.toContain("ed25519");
    expect(c.profiles.server!.revocationReasons).not.toContain("certificateHold");
    expect(c.ceremony.minWitnesses).toBe(2);
    expect(c.acme.externalAccountRequired).toBe(true);
  });

  it("is stored in keyward.yaml by init and read back; the operator's own settings still win", () => {
    writeFileSync(join(dataDir, "keyward.yaml"), "# ours\nrevocation:\n  crlValidityHours: 6\n");
    storePreset(dataDir, "regulated");
    const text = readFileSync(join(dataDir, "keyward.yaml"), "utf8");
    expect(text).toContain("# ours");
    expect(text).toMatch(/^preset: regulated$/m);
    const c = loadConfig({ env: env() });
    expect(c.preset).toBe("regulated");
    expect(c.revocation.crlValidityHours).toBe(6);
    expect(c.revocation.ocspValidityHours).toBe(24);
  });

  it("refuses an unknown preset, naming the choices", () => {
    writeFileSync(join(dataDir, "keyward.yaml"), "preset: paranoid\n");
    expect(() => loadConfig({ env: env() })).toThrow(ConfigError);
    expect(() => loadConfig({ env: env() })).toThrow(/preset: must be one of dev, small, regulated, got "paranoid"/);
  });

  it("defaults key periods after SP 800-57 Table 1 (rotate yearly, encrypt at most 2 years)", () => {
    const c = loadConfig({ env: env() });
    expect(c.kms.defaultRotationDays).toBe(365);
    expect(c.kms.defaultCryptoperiodDays).toBe(730);
  });
});
