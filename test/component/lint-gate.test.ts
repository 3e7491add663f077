import { Writable } from "node:stream";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { certificateRows, opensslCsr, startKeyward, type TestKeyward } from "../helpers/keyward.js";

/**
 * The default rules in the running server: a profile configured into a combination RFC 5280
 * forbids (keyCertSign on a leaf) is refused before the HSM signs, the problem names the rule and
 * nothing else, the log has the finding, nothing is issued, and the server keeps serving.
 */
describe("the lint gate with the default rules", () => {
  let k: TestKeyward;
  const logged: string[] = [];
  beforeAll(async () => {
    const sink = new Writable({
      write(chunk, _encoding, done) {
        logged.push(String(chunk));
        done();
      },
    });
    k = await startKeyward({
      logger: pino({ level: "info" }, sink),
      overrides: {
        profiles: {
          signer: {
            description: "misconfigured on purpose: keyCertSign on a leaf",
            validityDays: 30,
            maxValidityDays: 30,
            keyUsage: ["digitalSignature", "keyCertSign"],
            extKeyUsage: ["clientAuth"],
          },
        },
      },
    });
  });
  afterAll(() => k?.close());

  const count = () => certificateRows(k.services);

  it("refuses the issuance with a problem naming the rule, and issues nothing", async () => {
    const before = await count();
    const { csr } = opensslCsr(k.dir, "lint-gate");
    const res = await k.api("/api/v1/certificates", { method: "POST", body: { csr, profile: "signer" } });
    expect(res.status).toBe(500);
    const problem = await res.json();
    expect(problem.type).toBe("urn:keyward:problem:lint");
    expect(problem.detail).toBe(
      "nothing was signed: the certificate Keyward built breaks lint rule rfc5280_4_2_1_3_ca_key_cert_sign",
    );
    expect(JSON.stringify(problem)).not.toContain("lint-gate.example.com");
    expect(await count()).toBe(before);
    expect(logged.join("")).toContain("keyCertSign is asserted but cA is not TRUE");
  });

  it("keeps serving: a good request right after is issued", async () => {
    const { csr } = opensslCsr(k.dir, "after-lint");
    const res = await k.api("/api/v1/certificates", { method: "POST", body: { csr, profile: "server" } });
    expect(res.status).toBe(201);
  });
});
