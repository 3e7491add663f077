import type { IncomingMessage, ServerResponse } from "node:http";
import { Router } from "express";
import type { Logger } from "pino";
import type { Clock } from "../../clock/index.js";
import type { Config } from "../../config/index.js";
import { type ErrorCode, KeywardError, NotFoundError } from "../../errors/index.js";
import type { Metrics } from "../../metrics/index.js";
import {
  type CrlPublisher,
  errorResponse,
  OCSP_STATUS,
  type OcspAnswer,
  type OcspResponder,
} from "../../revocation/index.js";
import type { CertificateAuthority } from "../../signer/index.js";
import { PROBLEM_CONTENT_TYPE, problem as problemDocument } from "../problem.js";
import { header, readBody } from "../raw-request.js";

const OCSP_RESPONSE = "application/ocsp-response";

/**
 * The OCSP edge's one table from domain error to OCSPResponseStatus (RFC 6960 §2.3), for requests
 * that cannot be answered: a token or database that is away is worth retrying (tryLater), anything
 * else is internalError. malformedRequest and unauthorized are answers the responder itself gives.
 */
const OCSP_FAILURE: Partial<Record<ErrorCode, "tryLater" | "internalError">> = {
  hsm: "tryLater",
  storage: "tryLater",
};

/** The unsigned OCSPResponse for a failure (RFC 6960 §2.3: error responses carry no signature). */
function failureResponse(error: unknown): Buffer {
  const status = (error instanceof KeywardError && OCSP_FAILURE[error.code]) || "internalError";
  return errorResponse(OCSP_STATUS[status]);
}

export interface OcspRouteDeps {
  ocsp: Pick<OcspResponder, "answerRepeated" | "respond">;
  clock: Clock;
  config: { revocation: Pick<Config["revocation"], "ocspMaxRequestBytes"> };
  metrics: Pick<Metrics, "countOcsp">;
}

export interface CrlRouteDeps {
  crl: Pick<CrlPublisher, "current" | "generate">;
  ca: Pick<CertificateAuthority, "get">;
  clock: Clock;
  metrics: Pick<Metrics, "crlRequests">;
}

function httpDate(date: Date): string {
  return date.toUTCString();
}

/**
 * The OCSP responder on the raw HTTP hot path (no express): GET {url}/ocsp/{url-encoded base64}
 * (RFC 6960 Appendix A.1, the RFC 5019 profile) and POST {url}/ocsp. Answers come from the
 * pre-signed cache; RFC 5019 §6 caching headers; 304 when the client already has this answer.
 * Returns false for requests that are not OCSP, which then go to the express app.
 */
export function ocspHandler(
  deps: OcspRouteDeps,
  logger?: Logger,
): (req: IncomingMessage, res: ServerResponse) => boolean {
  const { ocsp, clock, config, metrics } = deps;
  const maxBytes = config.revocation.ocspMaxRequestBytes;
  // A cached answer is one object for all its hits, so its headers are formatted once per second
  // (only max-age changes) as the flat array Node takes. A headers object built per request was
  // pretenured by V8 and filled the old generation: garbage collection was a fifth of the time.
  const wireHeaders = new WeakMap<OcspAnswer, { second: number; headers: Array<string | number> }>();
  const cacheable = (answer: Required<OcspAnswer>): Array<string | number> => {
    const second = Math.floor(clock.now().getTime() / 1000);
    let wire = wireHeaders.get(answer);
    if (wire?.second !== second) {
      // Whole seconds left, rounded down: never longer than the answer stays fresh.
      const maxAge = Math.max(0, Math.floor(answer.nextUpdate.getTime() / 1000) - second - 1);
      wire = {
        second,
        headers: [
          "content-length",
          answer.der.length,
          "content-type",
          OCSP_RESPONSE,
          "last-modified",
          answer.thisUpdate.toUTCString(),
          "expires",
          answer.nextUpdate.toUTCString(),
          "etag",
          answer.etag,
          "cache-control",
          `public, max-age=${maxAge}, no-transform, must-revalidate`,
        ],
      };
      wireHeaders.set(answer, wire);
    }
    return wire.headers;
  };
  const uncacheable = ["content-type", OCSP_RESPONSE, "cache-control", "no-store"];
  const reply = (req: IncomingMessage, res: ServerResponse, answer: OcspAnswer) => {
    metrics.countOcsp(req.method === "POST" ? "POST" : "GET", answer.outcome);
    if (answer.thisUpdate && answer.nextUpdate && answer.etag) {
      const headers = cacheable(answer as Required<OcspAnswer>);
      if (header(req, "if-none-match") === answer.etag) {
        // Everything but content-length, which a 304 does not describe.
        res.writeHead(304, headers.slice(2)).end();
        return;
      }
      res.writeHead(200, headers);
    } else {
      res.writeHead(200, [...uncacheable, "content-length", answer.der.length]);
    }
    res.end(req.method === "HEAD" ? undefined : answer.der);
  };
  /** From memory when these exact bytes were answered before, else parsed and looked up. */
  const answer = (req: IncomingMessage, res: ServerResponse, der: () => Buffer, requestKey: string) => {
    const repeated = ocsp.answerRepeated(requestKey);
    if (repeated) {
      reply(req, res, repeated);
      return;
    }
    ocsp.respond(der(), requestKey).then(
      (result) => reply(req, res, result),
      (error) => fail(res, error),
    );
  };
  // OCSP clients read OCSPResponseStatus, not HTTP statuses: a failure is an unsigned
  // tryLater or internalError response (never cached), and the cause goes to the log.
  const fail = (res: ServerResponse, error: unknown) => {
    logger?.error({ err: error }, "OCSP request failed");
    if (res.headersSent) {
      res.end();
      return;
    }
    const der = failureResponse(error);
    res.writeHead(200, [...uncacheable, "content-length", der.length]).end(der);
  };
  const problem = (res: ServerResponse, status: number, code: string, detail: string) => {
    const body = JSON.stringify(problemDocument(status, code, detail));
    res
      .writeHead(status, { "Content-Type": PROBLEM_CONTENT_TYPE, "Content-Length": Buffer.byteLength(body) })
      .end(body);
  };
  return (req, res) => {
    const url = req.url ?? "";
    if (url.startsWith("/ocsp/") && (req.method === "GET" || req.method === "HEAD")) {
      // The base64 may contain "/", so everything after /ocsp/ is the request; a bad
      // percent-encoding or alphabet is a malformedRequest answer, not an HTTP error.
      const query = url.indexOf("?");
      const raw = url.slice("/ocsp/".length, query < 0 ? undefined : query);
      const decode = () => {
        try {
          const text = decodeURIComponent(raw);
          if (text.length <= maxBytes * 2 && /^[A-Za-z0-9+/_-]*={0,2}$/.test(text)) {
            return Buffer.from(text.replace(/-/g, "+").replace(/_/g, "/"), "base64");
          }
        } catch {
          // answered as malformed
        }
        return Buffer.alloc(0);
      };
      answer(req, res, decode, `G${raw}`);
      return true;
    }
    if ((url === "/ocsp" || url.startsWith("/ocsp?")) && req.method === "POST") {
      const contentType = header(req, "content-type");
      const type = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
      if (type !== "application/ocsp-request") {
        req.resume();
        problem(
          res,
          415,
          "unsupportedMediaType",
          `OCSP requests must be application/ocsp-request, got ${contentType ?? "none"}`,
        );
        return true;
      }
      // A request is ~100 bytes: almost always one chunk, which readBody hands back as it is.
      readBody(req, maxBytes).then(
        (body) => {
          if (body === "too large") {
            problem(res, 413, "payloadTooLarge", `the request body exceeds the limit of ${maxBytes} bytes`);
            return;
          }
          answer(req, res, () => body, `P${body.toString("latin1")}`);
        },
        (error) => fail(res, error),
      );
      return true;
    }
    return false;
  };
}

/** Public revocation endpoints: CRLs and the OCSP responder (RFC 6960 / RFC 5019). */
export function revocationRoutes(deps: CrlRouteDeps): Router {
  const router = Router();
  const { crl, ca, clock } = deps;

  router.get("/crl/:file", async (req, res) => {
    const match = /^([a-z0-9][a-z0-9-]{0,62})\.crl$/.exec(req.params.file);
    if (!match) throw new NotFoundError(`no CRL at ${req.path}`);
    const record = await ca.get(match[1]!);
    let current = await crl.current(record.id);
    if (!current) {
      if (record.kind === "root") throw new NotFoundError(`no CRL has been signed for the root yet (keyward crl root)`);
      current = await crl.generate(record.id);
    }
    const etag = `"${record.id}-${current.number}"`;
    const maxAge = Math.max(
      0,
      Math.min(3600, Math.floor((current.nextUpdate.getTime() - clock.now().getTime()) / 1000)),
    );
    res.setHeader("Cache-Control", `public, max-age=${maxAge}, no-transform`);
    res.setHeader("Last-Modified", httpDate(current.thisUpdate));
    res.setHeader("Expires", httpDate(current.nextUpdate));
    res.setHeader("ETag", etag);
    if (req.get("if-none-match") === etag) {
      res.status(304).end();
      return;
    }
    deps.metrics.crlRequests.inc({ ca: record.id });
    res.type("application/pkix-crl").send(current.der);
  });

  return router;
}
