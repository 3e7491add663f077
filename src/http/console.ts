import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import express, { type RequestHandler, Router } from "express";
import { NotFoundError } from "../errors/index.js";

/** Where `npm run build` puts the console: dist/console, from src/http or dist/http alike. */
export const CONSOLE_DIR = resolve(import.meta.dirname, "../../dist/console");

/**
 * Everything the console loads comes from this origin (bundled, no CDN); nothing inline, no eval,
 * no framing. Its only network peer is /api/v1 on the same origin.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  // data: images only: the authenticator QR code the API returns at enrolment is an SVG data URL.
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const securityHeaders: RequestHandler = (_req, res, next) => {
  res.setHeader("Content-Security-Policy", CONSOLE_CSP);
  res.setHeader("X-Content-Type-Options", "nosniff");
  res.setHeader("Referrer-Policy", "no-referrer");
  res.setHeader("X-Frame-Options", "DENY");
  res.setHeader("Cross-Origin-Opener-Policy", "same-origin");
  next();
};

/**
 * The admin console at /console: static files from the build, hashed assets cached for good,
 * every other path under /console answered with index.html (the console routes in the browser).
 */
export function consoleRouter(dir = CONSOLE_DIR): Router {
  const router = Router();
  router.use("/console", securityHeaders);
  const index = join(dir, "index.html");
  if (!existsSync(index)) {
    router.use("/console", (_req, _res, next) =>
      next(new NotFoundError("the console is not built here: run `npm run build` (it builds dist/console)")),
    );
    return router;
  }
  router.use(
    "/console/assets",
    express.static(join(dir, "assets"), { immutable: true, maxAge: "365d", index: false }),
    (req, _res, next) => next(new NotFoundError(`no console asset ${req.path}`)),
  );
  router.use("/console", express.static(dir, { index: false, maxAge: 0 }));
  router.get(["/console", "/console/*rest"], (_req, res) => {
    res.setHeader("Cache-Control", "no-cache");
    res.sendFile(index);
  });
  return router;
}
