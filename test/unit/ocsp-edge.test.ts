import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { HsmError, StorageError } from "../../src/errors/index.js";
import { ocspHandler } from "../../src/http/routes/revocation.js";
import { OCSP_STATUS } from "../../src/revocation/index.js";

let server: Server | undefined;
afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

/** An OCSP edge whose responder fails with `error`, and the raw answer to one POST. */
async function answerWhenFailing(error: Error) {
  const handler = ocspHandler({
    ocsp: { answerRepeated: () => undefined, respond: () => Promise.reject(error) },
    clock: { now: () => new Date() },
    config: { revocation: { ocspMaxRequestBytes: 4096 } },
    metrics: { countOcsp: () => {} },
  });
  server = createServer((req, res) => {
    if (!handler(req, res)) res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const res = await fetch(`http://127.0.0.1:${port}/ocsp`, {
    method: "POST",
    headers: { "content-type": "application/ocsp-request" },
    body: new Uint8Array([0x30, 0x00]),
  });
  return { res, der: Buffer.from(await res.arrayBuffer()) };
}

/** OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED } with no responseBytes. */
const unsigned = (status: number) => Buffer.from([0x30, 0x03, 0x0a, 0x01, status]);

describe("the OCSP edge when an answer cannot be given", () => {
  it("answers tryLater, uncached, when the token or the database is away", async () => {
    for (const error of [new HsmError("token removed"), new StorageError("database unreachable")]) {
      const { res, der } = await answerWhenFailing(error);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("application/ocsp-response");
      expect(res.headers.get("cache-control")).toBe("no-store");
      expect(der).toEqual(unsigned(OCSP_STATUS.tryLater));
    }
  });

  it("answers internalError for any other failure", async () => {
    const { res, der } = await answerWhenFailing(new Error("bug"));
    expect(res.status).toBe(200);
    expect(der).toEqual(unsigned(OCSP_STATUS.internalError));
  });
});
