import type { RequestListener } from "node:http";
import express from "express";
import type { Logger } from "pino";
import type { UserService } from "../access/index.js";
import { NotFoundError, TooManyRequestsError } from "../errors/index.js";
import { publicReadiness, type Readiness } from "../health/index.js";
import type { RevokedKeyList } from "../keys/index.js";
import type { Metrics } from "../metrics/index.js";
import { consoleRouter } from "./console.js";
import { accessLog, requestId, requireJson } from "./middleware.js";
import { problemHandler } from "./problem.js";
import { LoginBody } from "./routes/access-api.js";
import { type AcmeRouteDeps, acmeRoutes } from "./routes/acme.js";
import { type ApiRouteDeps, type ApiRouterDeps, apiRouter, apiRoutes, openApiDocument } from "./routes/api.js";
import { type CaRouteDeps, caRoutes } from "./routes/ca.js";
import { sshPublicRoutes } from "./routes/ssh-api.js";
import { type CrlRouteDeps, type OcspRouteDeps, ocspHandler, revocationRoutes } from "./routes/revocation.js";
import { parseInput } from "./validate.js";
import { VERSION } from "../version.js";

/** What the app itself answers: health, readiness, metrics, the key revocation list, login. */
interface AppOwnDeps {
  /** Whether this instance can serve: every capability checked (public: ok/failing per component). */
  readiness(): Promise<Readiness>;
  metrics: Pick<Metrics, "render">;
  revokedKeys: Pick<RevokedKeyList, "current">;
  users: Pick<UserService, "login">;
}

/** Everything the HTTP edge uses: the union of what each route file declares. */
export type AppDeps = AppOwnDeps &
  CaRouteDeps &
  CrlRouteDeps &
  OcspRouteDeps &
  ApiRouteDeps &
  ApiRouterDeps &
  AcmeRouteDeps;

/** The HTTP edge: thin routes over services; every error leaves as a problem document. */
export function createApp(deps: AppDeps, logger: Logger): RequestListener {
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  app.use(requestId());
  app.use(accessLog(logger));

  app.get("/health", (_req, res) => {
    res.json({ status: "ok", version: VERSION });
  });
  // Ready means able to serve: the database answers, the token signs and no key it needs is
  // missing. Load balancers use this; it says ok or failing per component, the details (key URIs,
  // errors) are for operators at GET /api/v1/health.
  app.get("/ready", async (_req, res) => {
    const readiness = await deps.readiness();
    res.status(readiness.ready ? 200 : 503).json(publicReadiness(readiness));
  });
  app.get("/metrics", async (_req, res) => {
    const { contentType, body } = await deps.metrics.render();
    res.type(contentType).send(body);
  });
  // The signed key revocation list: public, like a CRL, for holders of distributed keys.
  app.get("/kms/revoked", async (_req, res) => {
    const { jws } = await deps.revokedKeys.current();
    res.type("application/jose").setHeader("Cache-Control", "public, max-age=60").send(jws);
  });
  app.use(consoleRouter());
  app.use(caRoutes(deps));
  app.use(revocationRoutes(deps));
  app.use(sshPublicRoutes(deps));
  app.use("/acme", acmeRoutes(deps, logger));

  const routes = apiRoutes(deps);
  // The API's description is public, like any OpenAPI document; using the API needs a token.
  const openApi = openApiDocument(routes, VERSION);
  app.get("/api/v1/openapi.json", (_req, res) => {
    res.json(openApi);
  });
  // The one public API route: people trade password + TOTP for a short-lived session token.
  app.post("/api/v1/auth/login", requireJson(), express.json({ limit: 4096 }), async (req, res, next) => {
    try {
      const body = parseInput(LoginBody, req.body, "request body");
      const session = await deps.users.login(body, {
        requestId: res.locals.requestId as string,
        ...(req.ip ? { address: req.ip } : {}),
      });
      res.json({
        token: session.token,
        expiresAt: session.expiresAt.toISOString(),
        user: { id: session.user.id, name: session.user.name, role: session.user.role },
        // True after a recovery code: the session may only enrol a new authenticator (POST /api/v1/auth/totp/enrol).
        totpEnrolmentRequired: session.user.totpEnrolmentRequired,
      });
    } catch (error) {
      // A throttled client waits a second for its 429: a flooding connection then costs one cheap
      // answer a second (a timer, no CPU) instead of as many as it can send.
      if (error instanceof TooManyRequestsError) await new Promise((r) => setTimeout(r, 1000));
      next(error);
    }
  });
  app.use("/api/v1", apiRouter(deps, routes));

  app.use((req, _res, next) => next(new NotFoundError(`no route for ${req.method} ${req.path}`)));
  app.use(problemHandler(logger));
  // OCSP is the hot path: answered before express (no router, no middleware per request).
  const ocsp = ocspHandler(deps, logger);
  return (req, res) => {
    if (!ocsp(req, res)) app(req, res);
  };
}
