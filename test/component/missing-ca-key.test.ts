import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Clock } from "../../src/clock/index.js";
import { opensslCsr, startKeyward, type TestKeyward, testActor } from "../helpers/keyward.js";

let offsetMs = 0;
const clock: Clock = { now: () => new Date(Date.now() + offsetMs) };

/**
 * After an HSM migration the old intermediate's keys stay in the old token. Its CRL and OCSP
 * answers can no longer be re-signed; that must not stop the new intermediate's from being re-signed.
 */
describe("a CA whose keys are not in the token", () => {
  let k: TestKeyward;
  let oldSerial: string;
  let newSerial: string;
  const issue = async (name: string) => {
    const { csr } = opensslCsr(k.dir, name);
    const response = await k.api("/api/v1/certificates", { body: { csr, profile: "server" } });
    expect(response.status).toBe(201);
    return (await response.json()).serial as string;
  };

  beforeAll(async () => {
    k = await startKeyward({ clock });
    oldSerial = await issue("old");
    await k.services.ca.createIntermediate(
      { id: "issuing-2", keyType: "p256", commonName: "Issuing 2", validityDays: 365 },
      { makeDefault: true },
      testActor,
    );
    newSerial = await issue("new");
    // The old intermediate's CA key and its OCSP responder's key are gone from this token.
    const old = await k.services.ca.get("intermediate");
    const responders = await k.services.database.db
      .selectFrom("ocsp_responders")
      .select("key_uri")
      .where("ca_id", "=", "intermediate")
      .execute();
    expect(responders.length).toBeGreaterThan(0);
    for (const uri of [old.keyUri, ...responders.map((r) => r.key_uri)])
      await k.services.hsm.signingKeys.destroyKeyPair(uri);
  });
  afterAll(() => k?.close());

  it("re-signs the other intermediate's OCSP answers when one CA's cannot be", async () => {
    const before = await k.services.database.db
      .selectFrom("ocsp_responses")
      .select(["serial", "this_update"])
      .execute();
    const thisUpdate = (serial: string, rows: typeof before) => rows.find((r) => r.serial === serial)!.this_update;
    offsetMs = 37 * 3_600_000; // past half of the 72-hour validity
    const refreshed = await k.services.ocsp.refreshStale();
    const after = await k.services.database.db.selectFrom("ocsp_responses").select(["serial", "this_update"]).execute();
    expect(thisUpdate(newSerial, after)).not.toBe(thisUpdate(newSerial, before));
    expect(thisUpdate(oldSerial, after)).toBe(thisUpdate(oldSerial, before));
    expect(refreshed).toBeGreaterThanOrEqual(1);
  });

  it("signs the other intermediate's CRL when one CA's cannot be", async () => {
    expect(await k.services.crl.current("issuing-2")).toBeUndefined();
    k.services.crl.start(
      async () => [
        { id: "intermediate", kind: "intermediate" },
        { id: "issuing-2", kind: "intermediate" },
      ],
      60_000,
    );
    try {
      for (let i = 0; i < 50 && !(await k.services.crl.current("issuing-2")); i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      expect((await k.services.crl.current("issuing-2"))?.number).toBeGreaterThanOrEqual(1);
    } finally {
      k.services.crl.stop();
    }
  });
});
