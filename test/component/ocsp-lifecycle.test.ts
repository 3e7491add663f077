import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as pkijs from "pkijs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Clock } from "../../src/clock/index.js";
import { SqlRevocationStore } from "../../src/storage/index.js";
import { opensslCsr, openssl, startKeyward, type TestKeyward, writeFile } from "../helpers/keyward.js";

/** A clock the test moves forward, shared by every service of this Keyward. */
let offsetMs = 0;
const clock: Clock = { now: () => new Date(Date.now() + offsetMs) };
let kw: TestKeyward;

beforeAll(async () => {
  kw = await startKeyward({ clock });
  writeFile(kw.dir, "chain.pem", await (await fetch(`${kw.url}/ca/chain.pem`)).text());
});

afterAll(async () => {
  await kw?.close();
});

function parse(der: Buffer) {
  const response = pkijs.OCSPResponse.fromBER(new Uint8Array(der));
  const basic = pkijs.BasicOCSPResponse.fromBER(
    new Uint8Array(response.responseBytes!.response.valueBlock.valueHexView),
  );
  const single = basic.tbsResponseData.responses[0]!;
  return {
    thisUpdate: single.thisUpdate,
    nextUpdate: single.nextUpdate!,
    responderSerial: Buffer.from(basic.certs![0]!.serialNumber.valueBlock.valueHexView).toString("hex"),
    responderNotAfter: basic.certs![0]!.notAfter.value,
  };
}

async function issueAndRequest(name: string): Promise<Buffer> {
  const { csr } = opensslCsr(kw.dir, name);
  const body = (await (await kw.api("/api/v1/certificates", { body: { csr, profile: "server" } })).json()) as {
    certificate: string;
  };
  const cert = writeFile(kw.dir, `${name}.pem`, body.certificate);
  const out = join(kw.dir, `${name}.req`);
  openssl(["ocsp", "-issuer", join(kw.dir, "chain.pem"), "-cert", cert, "-reqout", out, "-no_nonce"]);
  return readFileSync(out);
}

const ask = async (req: Buffer) =>
  parse(
    Buffer.from(
      await (
        await fetch(`${kw.url}/ocsp`, {
          method: "POST",
          headers: { "content-type": "application/ocsp-request" },
          body: new Uint8Array(req),
        })
      ).arrayBuffer(),
    ),
  );

describe("OCSP answers and responder certificates over time", () => {
  it("stores the answer with the certificate, equal to one signed afresh but for the time and signature", async () => {
    const { csr } = opensslCsr(kw.dir, "presigned");
    const issued = (await (await kw.api("/api/v1/certificates", { body: { csr, profile: "server" } })).json()) as {
      serial: string;
      certificate: string;
    };
    // Committed with the certificate: there before anyone asked.
    const store = new SqlRevocationStore(kw.services.database.db);
    const stored = await store.ocspResponse(issued.serial, "sha1");
    expect(stored).toBeDefined();
    offsetMs = 5_000;
    await kw.services.ocsp.presign(issued.serial);
    const fresh = await store.ocspResponse(issued.serial, "sha1");
    offsetMs = 0;
    const body = (der: Buffer) => {
      const response = pkijs.OCSPResponse.fromBER(new Uint8Array(der));
      const basic = pkijs.BasicOCSPResponse.fromBER(
        new Uint8Array(response.responseBytes!.response.valueBlock.valueHexView),
      );
      const single = basic.tbsResponseData.responses[0]!;
      return {
        certId: Buffer.from(single.certID.toSchema().toBER()).toString("hex"),
        status: Buffer.from(single.certStatus.toBER()).toString("hex"),
        responder: Buffer.from(basic.tbsResponseData.responderID.toBER()).toString("hex"),
        validity: single.nextUpdate!.getTime() - single.thisUpdate.getTime(),
        thisUpdate: single.thisUpdate.getTime(),
      };
    };
    const a = body(stored!.der);
    const b = body(fresh!.der);
    expect(b.thisUpdate - a.thisUpdate).toBeGreaterThanOrEqual(4_000);
    expect({ ...a, thisUpdate: 0 }).toEqual({ ...b, thisUpdate: 0 });
    // Both verify against the issuer chain and say good for this certificate (openssl).
    const cert = writeFile(kw.dir, "presigned.pem", issued.certificate);
    for (const [name, der] of [
      ["stored", stored!.der],
      ["fresh", fresh!.der],
    ] as const) {
      const respin = writeFile(kw.dir, `presigned-${name}.der`, der);
      const out = openssl([
        "ocsp",
        "-respin",
        respin,
        "-issuer",
        join(kw.dir, "chain.pem"),
        "-cert",
        cert,
        "-CAfile",
        join(kw.dir, "chain.pem"),
        "-partial_chain",
      ]);
      expect(out).toMatch(/: good/);
    }
  });

  it("pre-signs at issuance, answers from cache, and re-signs answers past half their validity", async () => {
    const req = await issueAndRequest("aging");
    const first = await ask(req);
    expect(first.nextUpdate.getTime() - first.thisUpdate.getTime()).toBe(72 * 3_600_000);
    expect((await ask(req)).thisUpdate).toEqual(first.thisUpdate);

    offsetMs = 37 * 3_600_000; // past half of the 72 h validity
    const refreshed = await kw.services.ocsp.refreshStale();
    expect(refreshed).toBeGreaterThanOrEqual(1);
    const later = await ask(req);
    expect(later.thisUpdate.getTime()).toBeGreaterThan(first.thisUpdate.getTime() + 36 * 3_600_000);
  });

  it("re-signs answers held only in storage without pulling them into memory", async () => {
    offsetMs = 0;
    const hot = await issueAndRequest("hot");
    const cold = await issueAndRequest("cold");
    const coldSerial = openssl(["x509", "-noout", "-serial", "-in", join(kw.dir, "cold.pem")])
      .trim()
      .replace(/^serial=/, "")
      .toLowerCase();
    const hotBefore = await ask(hot);
    const coldBefore = await ask(cold);
    kw.services.ocsp.dropFromMemory(coldSerial);
    expect(kw.services.ocsp.inMemory(coldSerial)).toBe(false);

    offsetMs = 37 * 3_600_000;
    expect(await kw.services.ocsp.refreshStale()).toBeGreaterThanOrEqual(2);
    // A refresh of every stored answer must not push the answers being asked for out of memory.
    expect(kw.services.ocsp.inMemory(coldSerial)).toBe(false);
    // Both were re-signed: the cold one is read from storage when asked.
    expect((await ask(cold)).thisUpdate.getTime()).toBeGreaterThan(coldBefore.thisUpdate.getTime() + 36 * 3_600_000);
    expect((await ask(hot)).thisUpdate.getTime()).toBeGreaterThan(hotBefore.thisUpdate.getTime() + 36 * 3_600_000);
  });

  it("renews the delegated responder certificate once half its validity is gone, and never signs past it", async () => {
    offsetMs = 0;
    const req = await issueAndRequest("renewal");
    const before = await ask(req);
    expect(before.nextUpdate.getTime()).toBeLessThanOrEqual(before.responderNotAfter.getTime());

    offsetMs = 4 * 86_400_000; // the responder certificate lives 7 days; renewal is due after 3.5
    await kw.services.ocsp.refreshStale();
    const after = await ask(req);
    expect(after.responderSerial).not.toBe(before.responderSerial);
    expect(after.responderNotAfter.getTime()).toBeGreaterThan(before.responderNotAfter.getTime());
    expect(after.nextUpdate.getTime()).toBeLessThanOrEqual(after.responderNotAfter.getTime());
  });

  it("ends a refresh between batches when the server stops, so the token is not closed under it", async () => {
    offsetMs = 0;
    for (const name of ["stop-a", "stop-b", "stop-c"]) await issueAndRequest(name);
    offsetMs = 9 * 86_400_000; // every answer is due
    const running = kw.services.ocsp.refreshStale(1);
    await kw.services.ocsp.stop();
    // The batch under way finished; none started after the stop.
    expect(await running).toBe(1);
  });
});
