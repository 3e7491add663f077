import { readFileSync } from "node:fs";
import type { Clock } from "../../src/clock/index.js";
import { connect, type TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bytes, enumeration, int, struct, text } from "../../src/kmip/items.js";
import { TAG } from "../../src/kmip/spec.js";
import { decodeTtlv, encodeTtlv, messageLength, type TtlvItem } from "../../src/kmip/ttlv.js";
import { opensslCsr, startKeyward, type TestKeyward, testActor } from "../helpers/keyward.js";

/** A Keyward with its KMIP listener, and a key-officer client of it. */
interface Target {
  kw: TestKeyward;
  port: number;
  root: string;
  officer: Client;
}
type Client = { cert: string; key: string; serial: string };
let main: Target;

async function startTarget(overrides: Record<string, unknown>, clock?: Clock): Promise<Target> {
  const kw = await startKeyward({ overrides, clock });
  const port = (await kw.services.kmip.start())!.port;
  const root = await (await fetch(`${kw.url}/ca/root.pem`)).text();
  const target: Target = { kw, port, root, officer: undefined as never };
  target.officer = await issueClient(target, "kmip-raw", "key-officer");
  return target;
}

async function issueClient({ kw }: Pick<Target, "kw">, name: string, role?: string): Promise<Client> {
  const { csr, keyFile } = opensslCsr(kw.dir, name, { subj: `/CN=${name}`, san: `URI:urn:keyward:kmip:${name}` });
  const res = await kw.api("/api/v1/certificates", { body: { csr, profile: "kmip-client" } });
  if (res.status !== 201) throw new Error(await res.text());
  const body = (await res.json()) as { serial: string; certificate: string; chain: string };
  if (role) await kw.services.tokens.create({ role, name, clientCertSerial: body.serial }, testActor);
  return { cert: body.certificate + body.chain, key: readFileSync(keyFile, "utf8"), serial: body.serial };
}

/** A KMIP connection speaking raw TTLV: what a client library does under its API. */
async function session(
  { port, root, officer }: Target = main,
  client = officer,
): Promise<{ send(message: Buffer): Promise<TtlvItem>; close(): void }> {
  const socket: TLSSocket = await new Promise((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port, ca: root, cert: client.cert, key: client.key }, () => resolve(s));
    s.once("error", reject);
  });
  let pending = Buffer.alloc(0);
  let waiting: ((item: TtlvItem) => void) | undefined;
  socket.on("data", (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    const length = messageLength(pending);
    if (length !== undefined && pending.length >= length) {
      const message = pending.subarray(0, length);
      pending = pending.subarray(length);
      waiting?.(decodeTtlv(message));
    }
  });
  return {
    send(message) {
      return new Promise((resolve) => {
        waiting = resolve;
        socket.write(message);
      });
    },
    close: () => socket.destroy(),
  };
}

const version = (major: number, minor: number) =>
  struct(TAG.ProtocolVersion, [int(TAG.ProtocolVersionMajor, major), int(TAG.ProtocolVersionMinor, minor)]);

function request(items: Array<[operation: number, payload: TtlvItem[]]>, v: [number, number] = [1, 4]): Buffer {
  return encodeTtlv(
    struct(TAG.RequestMessage, [
      struct(TAG.RequestHeader, [version(...v), int(TAG.BatchCount, items.length)]),
      ...items.map(([operation, payload], i) =>
        struct(TAG.BatchItem, [
          enumeration(TAG.Operation, operation),
          bytes(TAG.UniqueBatchItemId, Buffer.from([i])),
          struct(TAG.RequestPayload, payload),
        ]),
      ),
    ]),
  );
}

const field = (item: TtlvItem | undefined, tag: number) =>
  item?.type === "Structure" ? item.value.find((c) => c.tag === tag) : undefined;
const all = (item: TtlvItem | undefined, tag: number) =>
  item?.type === "Structure" ? item.value.filter((c) => c.tag === tag) : [];
const value = (item: TtlvItem | undefined, tag: number) => field(item, tag)?.value;
const batch = (response: TtlvItem) => all(response, TAG.BatchItem);

function aesAttributes(name: string, length = 256, mask = 0x0c): TtlvItem {
  const attribute = (n: string, v: TtlvItem) =>
    struct(TAG.Attribute, [text(TAG.AttributeName, n), { ...v, tag: TAG.AttributeValue } as TtlvItem]);
  return struct(TAG.TemplateAttribute, [
    attribute("Cryptographic Algorithm", enumeration(0, 3)),
    attribute("Cryptographic Length", int(0, length)),
    attribute("Cryptographic Usage Mask", int(0, mask)),
    attribute("Name", struct(0, [text(TAG.NameValue, name), enumeration(TAG.NameType, 1)])),
  ]);
}

beforeAll(async () => {
  main = await startTarget({ kmip: { listen: "127.0.0.1:0", maxMessageBytes: 4096 } });
});

afterAll(async () => {
  await main?.kw.close();
});

describe("KMIP messages over the listener (raw TTLV)", () => {
  it("answers Discover Versions and Query, in the client's version", async () => {
    const s = await session();
    const response = await s.send(
      request(
        [
          [30, [version(2, 0), version(1, 4), version(1, 2)]],
          [24, [enumeration(TAG.QueryFunction, 1), enumeration(TAG.QueryFunction, 3)]],
        ],
        [1, 2],
      ),
    );
    const header = field(response, TAG.ResponseHeader);
    expect(value(field(header, TAG.ProtocolVersion), TAG.ProtocolVersionMinor)).toBe(2);
    const [discover, query] = batch(response);
    expect(value(discover, TAG.ResultStatus)).toBe(0);
    expect(value(discover, TAG.UniqueBatchItemId)).toEqual(Buffer.from([0]));
    const versions = all(field(discover, TAG.ResponsePayload), TAG.ProtocolVersion).map(
      (pv) => `${value(pv, TAG.ProtocolVersionMajor)}.${value(pv, TAG.ProtocolVersionMinor)}`,
    );
    expect(versions).toEqual(["1.4", "1.2"]);
    const operations = all(field(query, TAG.ResponsePayload), TAG.Operation).map((o) => o.value);
    expect(operations).toEqual(expect.arrayContaining([1, 8, 10, 11, 18, 19, 20, 31, 32, 35]));
    expect(operations).toEqual(expect.arrayContaining([2, 3])); // Create Key Pair, Register
    expect(value(field(query, TAG.ResponsePayload), TAG.VendorIdentification)).toBe("Keyward");
    s.close();
  });

  it("runs a batch with the ID Placeholder, returns the GCM tag separately in KMIP 1.4, and MACs with an HMAC key", async () => {
    const s = await session();
    const response = await s.send(
      request([
        [1, [enumeration(TAG.ObjectType, 2), aesAttributes("raw-batch-key", 128)]],
        [18, []],
        [
          31,
          [
            bytes(TAG.Data, Buffer.from("batch data")),
            bytes(TAG.AuthenticatedEncryptionAdditionalData, Buffer.from("aad")),
          ],
        ],
      ]),
    );
    const [create, activate, encrypt] = batch(response);
    const uid = value(field(create, TAG.ResponsePayload), TAG.UniqueIdentifier) as string;
    expect(value(activate, TAG.ResultStatus)).toBe(0);
    expect(value(field(activate, TAG.ResponsePayload), TAG.UniqueIdentifier)).toBe(uid);
    const out = field(encrypt, TAG.ResponsePayload);
    const data = value(out, TAG.Data) as Buffer;
    const tag = value(out, TAG.AuthenticatedEncryptionTag) as Buffer;
    const iv = value(out, TAG.IvCounterNonce) as Buffer;
    expect(data.length).toBe("batch data".length);
    expect(tag.length).toBe(16);

    const decrypt = (aad: string) =>
      s.send(
        request([
          [
            32,
            [
              text(TAG.UniqueIdentifier, uid),
              bytes(TAG.Data, data),
              bytes(TAG.IvCounterNonce, iv),
              bytes(TAG.AuthenticatedEncryptionAdditionalData, Buffer.from(aad)),
              bytes(TAG.AuthenticatedEncryptionTag, tag),
            ],
          ],
        ]),
      );
    const [opened] = batch(await decrypt("aad"));
    expect((value(field(opened, TAG.ResponsePayload), TAG.Data) as Buffer).toString()).toBe("batch data");
    const [wrongAad] = batch(await decrypt("other"));
    expect(value(wrongAad, TAG.ResultReason)).toBe(0x07);

    const hmacTemplate = struct(TAG.TemplateAttribute, [
      struct(TAG.Attribute, [text(TAG.AttributeName, "Cryptographic Algorithm"), enumeration(TAG.AttributeValue, 9)]),
      struct(TAG.Attribute, [text(TAG.AttributeName, "Cryptographic Usage Mask"), int(TAG.AttributeValue, 0x80)]),
    ]);
    const [, mac] = batch(
      await s.send(
        request([
          [1, [enumeration(TAG.ObjectType, 2), hmacTemplate]],
          [35, [bytes(TAG.Data, Buffer.from("mac me"))]],
        ]),
      ),
    );
    expect((value(field(mac, TAG.ResponsePayload), TAG.MacData) as Buffer).length).toBe(32);
    s.close();
  });

  it("maps Revoke with Key Compromise to compromised, and refuses what it cannot do by KMIP reason", async () => {
    const s = await session();
    const [create] = batch(
      await s.send(request([[1, [enumeration(TAG.ObjectType, 2), aesAttributes("raw-compromised")]]])),
    );
    const uid = value(field(create, TAG.ResponsePayload), TAG.UniqueIdentifier) as string;
    const revoke = struct(TAG.RevocationReason, [
      enumeration(TAG.RevocationReasonCode, 2),
      text(TAG.RevocationMessage, "laptop lost"),
    ]);
    const [revoked] = batch(await s.send(request([[19, [text(TAG.UniqueIdentifier, uid), revoke]]])));
    expect(value(revoked, TAG.ResultStatus)).toBe(0);
    expect((await main.kw.services.keys.get(uid)).versions[0]!.state).toBe("compromised");

    const [badAlgorithm, keyPair, unknownOp, badLocate] = batch(
      await s.send(
        request([
          [1, [enumeration(TAG.ObjectType, 2), aesAttributes("raw-bad", 192)]],
          [2, []],
          [40, []],
          [8, [struct(TAG.Attribute, [text(TAG.AttributeName, "Contact Information"), text(TAG.AttributeValue, "x")])]],
        ]),
      ),
    );
    expect(value(badAlgorithm, TAG.ResultReason)).toBe(0x07);
    expect(value(badAlgorithm, TAG.ResultMessage)).toMatch(/AES keys of 128 or 256 bits/);
    // Create Key Pair without an algorithm: Invalid Field naming what it makes.
    expect(value(keyPair, TAG.ResultReason)).toBe(0x07);
    expect(value(keyPair, TAG.ResultMessage)).toMatch(/RSA key pairs of 2048, 3072 or 4096 bits/);
    expect(value(unknownOp, TAG.ResultReason)).toBe(0x05);
    expect(value(badLocate, TAG.ResultMessage)).toMatch(/Locate by "Contact Information" is not supported/);
    s.close();
  });

  it("answers malformed TTLV with Invalid Message, refuses oversized messages, and keeps serving", async () => {
    const s = await session();
    const bad = encodeTtlv(
      struct(TAG.RequestMessage, [
        struct(TAG.RequestHeader, [version(1, 4), int(TAG.BatchCount, 1)]),
        { tag: TAG.BatchItem, type: "ByteString", value: Buffer.alloc(3) },
      ]),
    );
    const [invalid] = batch(await s.send(bad));
    expect(value(invalid, TAG.ResultReason)).toBe(0x04);
    const [count] = batch(
      await s.send(
        encodeTtlv(struct(TAG.RequestMessage, [struct(TAG.RequestHeader, [version(1, 4), int(TAG.BatchCount, 2)])])),
      ),
    );
    expect(value(count, TAG.ResultMessage)).toMatch(/Batch Count says 2 but the message has 0/);
    const [ok] = batch(await s.send(request([[30, []]])));
    expect(value(ok, TAG.ResultStatus)).toBe(0);
    const [tooBig] = batch(await s.send(request([[31, [bytes(TAG.Data, Buffer.alloc(8192))]]])));
    expect(value(tooBig, TAG.ResultReason)).toBe(0x04);
    expect(value(tooBig, TAG.ResultMessage)).toMatch(/takes at most 4096/);
    s.close();
    const events = await main.kw.services.audit.search({ action: "kmip.unknown", limit: 10 });
    expect(events.length).toBeGreaterThanOrEqual(2);
    expect(events.every((e) => e.outcome === "failure")).toBe(true);
  });

  it("refuses a revoked client certificate on an open connection at its next message", async () => {
    const client = await issueClient(main, "kmip-short-lived", "key-officer");
    const s = await session(main, client);
    expect(value(batch(await s.send(request([[30, []]])))[0], TAG.ResultStatus)).toBe(0);
    const revoked = await main.kw.api(`/api/v1/certificates/${client.serial}/revoke`, {
      body: { reason: "keyCompromise" },
    });
    expect(revoked.status).toBe(200);
    const [refused] = batch(await s.send(request([[30, []]])));
    expect(value(refused, TAG.ResultReason)).toBe(0x0c);
    expect(value(refused, TAG.ResultMessage)).toMatch(/revoked/);
    s.close();
  });
});

describe("KMIP with kmip.requireApproval", () => {
  it("files Destroy as a quorum approval request, and the approval schedules the destruction", async () => {
    const approving = await startTarget({
      kmip: { listen: "127.0.0.1:0", requireApproval: ["destroy"] },
      access: { quorum: { "key.destroy": { approvals: 1, role: "admin" } } },
    });
    try {
      const s = await session(approving);
      const [create] = batch(
        await s.send(request([[1, [enumeration(TAG.ObjectType, 2), aesAttributes("raw-quorum")]]])),
      );
      const uid = value(field(create, TAG.ResponsePayload), TAG.UniqueIdentifier) as string;
      const revoke = struct(TAG.RevocationReason, [enumeration(TAG.RevocationReasonCode, 6)]);
      const [, destroy] = batch(
        await s.send(
          request([
            [19, [text(TAG.UniqueIdentifier, uid), revoke]],
            [20, [text(TAG.UniqueIdentifier, uid)]],
          ]),
        ),
      );
      expect(value(destroy, TAG.ResultReason)).toBe(0x0c);
      expect(value(destroy, TAG.ResultMessage)).toMatch(/Destroy needs 1 approval\(s\) from admins .* is pending/);
      const keys = approving.kw.services.keys;
      expect((await keys.get(uid)).versions[0]!.destroyAfter).toBeNull();
      const [pendingRequest] = await approving.kw.services.approvals.list({ status: "pending", limit: 10 });
      expect(pendingRequest).toMatchObject({ operation: "key.destroy", requestedBy: { name: "kmip-raw" } });
      await approving.kw.services.approvals.approve(pendingRequest!.id, { actor: testActor, role: "admin" });
      expect((await keys.get(uid)).versions[0]!.destroyAfter).not.toBeNull();
      s.close();
    } finally {
      await approving.kw.close();
    }
  });
});

describe("the listener's own certificate", () => {
  it("is issued by Keyward for the listen address and reissued once two thirds of its validity have passed", async () => {
    let offsetMs = 0;
    const clock: Clock = { now: () => new Date(Date.now() + offsetMs) };
    const target = await startTarget({ kmip: { listen: "127.0.0.1:0" } }, clock);
    // The client checks only the chain here: after the jump the new certificate starts in its future.
    const served = () =>
      new Promise<{ serial: string; validTo: string; san?: string }>((resolve, reject) => {
        const s = connect(
          {
            host: "127.0.0.1",
            port: target.port,
            cert: target.officer.cert,
            key: target.officer.key,
            rejectUnauthorized: false,
          },
          () => {
            const peer = s.getPeerCertificate();
            resolve({ serial: peer.serialNumber, validTo: peer.valid_to, san: peer.subjectaltname });
            s.destroy();
          },
        );
        s.once("error", reject);
      });
    try {
      const first = await served();
      expect(first.san).toBe("IP Address:127.0.0.1");
      expect(await target.kw.services.findCertificate(first.serial.toLowerCase())).toMatchObject({ profile: "server" });
      expect(await target.kw.services.kmip.renewCertificate()).toBe(false);
      offsetMs = 61 * 86_400_000; // the server profile's 90 days: due after 60
      expect(await target.kw.services.kmip.renewCertificate()).toBe(true);
      const second = await served();
      expect(second.serial).not.toBe(first.serial);
      expect(new Date(second.validTo).getTime()).toBeGreaterThan(new Date(first.validTo).getTime());
    } finally {
      await target.kw.close();
    }
  });
});
