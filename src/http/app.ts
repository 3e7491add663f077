import type { RequestListener } from "node:http";
import express from "express";
import type { Logger } from "pino";
import type { Services } from "../compose.js";
import { NotFoundError } from "../errors/index.js";
import { consoleRouter } from "./console.js";
import { accessLog, requestId, requireJson } from "./middleware.js";
import { LoginBody } from "./routes/access-api.js";
import { parseInput } from "./validate.js";
import { problemHandler } from "./problem.js";
import { acmeRoutes } from "./routes/acme.js";
import { apiRouter, apiRoutes, openApiDocument } from "./routes/api.js";
import { caRoutes } from "./routes/ca.js";
import { ocspHandler, revocationRoutes } from "./routes/revocation.js";

export const VERSION = "0.1.0";

/** The HTTP edge: thin routes over services; every error leaves as a problem document. */
export function createApp(services: Services, logger: Logger): RequestListener {
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  app.use(requestId());
  app.use(accessLog(logger));

  app.get("/health", (_req, res) => {
    res.json({ status: "ok", version: VERSION });
  });
  // Ready means able to serve: the database answers and the token signs. Load balancers use this.
  app.get("/ready", async (_req, res) => {
    const checks = await services.readiness();
    res.status(checks.ready ? 200 : 503).json(checks);
  });
  app.get("/metrics", async (_req, res) => {
    const { contentType, body } = await services.metrics.render();
    res.type(contentType).send(body);
  });
  // The signed key revocation list: public, like a CRL, for holders of distributed keys.
  app.get("/kms/revoked", async (_req, res) => {
    const { jws } = await services.revokedKeys.current();
    res.type("application/jose").setHeader("Cache-Control", "public, max-age=60").send(jws);
  });
  app.use(consoleRouter());
  app.use(caRoutes(services));
  app.use(revocationRoutes(services));
  app.use("/acme", acmeRoutes(services, logger));

  const routes = apiRoutes(services);
  // The API's description is public, like any OpenAPI document; using the API needs a token.
  const openApi = openApiDocument(routes, VERSION);
  app.get("/api/v1/openapi.json", (_req, res) => {
    res.json(openApi);
  });
  // The one public API route: people trade password + TOTP for a short-lived session token.
  app.post("/api/v1/auth/login", requireJson(), express.json({ limit: 4096 }), async (req, res, next) => {
    try {
      const body = parseInput(LoginBody, req.body, "request body");
      const session = await services.users.login(body, {
        requestId: res.locals.requestId as string,
        ...(req.ip ? { address: req.ip } : {}),
      });
      res.json({
        token: session.token,
        expiresAt: session.expiresAt.toISOString(),
        user: { id: session.user.id, name: session.user.name, role: session.user.role },
      });
    } catch (error) {
      next(error);
    }
  });
  app.use("/api/v1", apiRouter(services, routes));

  app.use((req, _res, next) => next(new NotFoundError(`no route for ${req.method} ${req.path}`)));
  app.use(problemHandler(logger));
  // OCSP is the hot path: answered before express (no router, no middleware per request).
  const ocsp = ocspHandler(services, logger);
  return (req, res) => {
    if (!ocsp(req, res)) app(req, res);
  };
}
