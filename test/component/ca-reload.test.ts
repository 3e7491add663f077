import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Clock } from "../../src/clock/index.js";
import { CertificateAuthority } from "../../src/signer/index.js";
import { SqlCaStore } from "../../src/storage/index.js";
import { createLinter } from "../../src/lint/index.js";
import { openssl, startKeyward, type TestKeyward, testActor } from "../helpers/keyward.js";

let offsetMs = 0;
const clock: Clock = { now: () => new Date(Date.now() + offsetMs) };

/**
 * A rollover's switch made by another instance (or `keyward ca set-default` in another process)
 * reaches a serving instance without a restart: the hierarchy is re-read from storage every 30 s.
 */
describe("CA hierarchy changed elsewhere", () => {
  let k: TestKeyward;
  beforeAll(async () => {
    k = await startKeyward({ clock });
  });
  afterAll(() => k?.close());

  it("a new default issuer set by another instance is used within 30 seconds", async () => {
    expect((await k.services.ca.defaultIssuer()).id).toBe("intermediate");
    const elsewhere = new CertificateAuthority({
      keys: k.services.caTokens,
      store: new SqlCaStore(k.services.database.db),
      clock,
      baseUrl: k.config.baseUrl,
      profiles: k.config.profiles,
      lint: createLinter(),
    });
    await elsewhere.createIntermediate(
      { id: "issuing-2", keyType: "p256", commonName: "Issuing 2", validityDays: 365 },
      { makeDefault: true },
      testActor,
    );
    // Still the hierarchy it read: no database round trip per issuance.
    expect((await k.services.ca.defaultIssuer()).id).toBe("intermediate");
    offsetMs = 31_000;
    expect((await k.services.ca.defaultIssuer()).id).toBe("issuing-2");
    // The HTTP side follows: the issuing chain now starts with the new intermediate.
    const chain = await (await k.api("/ca/chain.pem")).text();
    expect(openssl(["x509", "-noout", "-subject"], chain)).toContain("CN = Issuing 2");
  });
});
