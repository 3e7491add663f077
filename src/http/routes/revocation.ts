import type { Metrics } from "../../metrics/index.js";
import express, { type Request, type Response, Router } from "express";
import type { Services } from "../../compose.js";
import { KeywardError, NotFoundError } from "../../errors/index.js";
import type { OcspAnswer } from "../../revocation/index.js";

const OCSP_RESPONSE = "application/ocsp-response";

function httpDate(date: Date): string {
  return date.toUTCString();
}

/** RFC 5019 §6: caching headers from the answer's validity; 304 when the client has this answer. */
function sendOcsp(req: Request, res: Response, answer: OcspAnswer, now: Date, metrics: Metrics): void {
  metrics.ocspRequests.inc({ method: req.method === "POST" ? "POST" : "GET", result: answer.outcome });
  res.setHeader("Content-Type", OCSP_RESPONSE);
  if (answer.thisUpdate && answer.nextUpdate && answer.etag) {
    const maxAge = Math.max(0, Math.floor((answer.nextUpdate.getTime() - now.getTime()) / 1000));
    res.setHeader("Cache-Control", `public, max-age=${maxAge}, no-transform, must-revalidate`);
    res.setHeader("Last-Modified", httpDate(answer.thisUpdate));
    res.setHeader("Expires", httpDate(answer.nextUpdate));
    res.setHeader("ETag", answer.etag);
    if (req.get("if-none-match") === answer.etag) {
      res.status(304).end();
      return;
    }
  } else {
    res.setHeader("Cache-Control", "no-store");
  }
  res.status(200).send(answer.der);
}

/** Public revocation endpoints: CRLs and the OCSP responder (RFC 6960 / RFC 5019). */
export function revocationRoutes(services: Services): Router {
  const router = Router();
  const { ocsp, crl, ca, clock, config } = services;

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
    services.metrics.crlRequests.inc({ ca: record.id });
    res.type("application/pkix-crl").send(current.der);
  });

  router.post(
    "/ocsp",
    (req, _res, next) => {
      if (!req.is("application/ocsp-request")) {
        next(
          new KeywardError(
            "unsupportedMediaType",
            `OCSP requests must be application/ocsp-request, got ${req.get("content-type") ?? "none"}`,
          ),
        );
        return;
      }
      next();
    },
    express.raw({ type: "application/ocsp-request", limit: config.revocation.ocspMaxRequestBytes }),
    async (req, res) => {
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      sendOcsp(req, res, await ocsp.respond(body), clock.now(), services.metrics);
    },
  );

  // RFC 6960 Appendix A.1: GET {url}/{url-encoding of base-64 encoding of the DER OCSPRequest}.
  // The base64 may contain "/", so everything after /ocsp/ is the request. Mounted with use()
  // rather than a route parameter so a bad percent-encoding is ours to answer (malformedRequest).
  router.use("/ocsp/", async (req, res, next) => {
    if (req.method !== "GET" && req.method !== "HEAD") return next();
    const raw = req.originalUrl.slice(req.originalUrl.indexOf("/ocsp/") + "/ocsp/".length).split("?")[0] ?? "";
    let der = Buffer.alloc(0);
    try {
      const text = decodeURIComponent(raw);
      if (text.length <= config.revocation.ocspMaxRequestBytes * 2 && /^[A-Za-z0-9+/_-]*={0,2}$/.test(text)) {
        der = Buffer.from(text.replace(/-/g, "+").replace(/_/g, "/"), "base64");
      }
    } catch {
      // Bad percent-encoding: answered below as a malformed request.
    }
    sendOcsp(req, res, await ocsp.respond(der), clock.now(), services.metrics);
  });

  return router;
}
