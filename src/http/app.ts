import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import express from "express";
import type { Logger } from "pino";
import type { UserService } from "../access/index.js";
import { type ApiHandlerDeps, apiHandler } from "./api-handler.js";
import { NotFoundError, TooManyRequestsError } from "../errors/index.js";
import { publicReadiness, type Readiness } from "../health/index.js";
import type { RevokedKeyList } from "../keys/index.js";
import type { Metrics } from "../metrics/index.js";
import { consoleRouter } from "./console.js";
import { accessLog, requestId, requestIdFor, requireJson } from "./middleware.js";
import { PROBLEM_CONTENT_TYPE, problemHandler, toProblem } from "./problem.js";
import { LoginBody } from "./routes/access-api.js";
import { type AcmeRouteDeps, acmeHandler } from "./routes/acme.js";
import { type ApiRouteDeps, apiRoutes, openApiDocument } from "./routes/api.js";
import { type CaRouteDeps, caRoutes } from "./routes/ca.js";
import { sshPublicRoutes } from "./routes/ssh-api.js";
import { type CrlRouteDeps, type OcspRouteDeps, ocspHandler, revocationRoutes } from "./routes/revocation.js";
import { parseInput } from "./validate.js";
import { VERSION } from "../version.js";

/** What the app itself answers: health, readiness, metrics, the key revocation list, login. */
interface AppOwnDeps {
  /** Whether this instance can serve: every capability checked (public: ok/failing per component). */
  readiness(): Promise<Readiness>;
  metrics: Pick<Metrics, "render" | "httpRequestSeconds">;
  revokedKeys: Pick<RevokedKeyList, "current">;
  users: Pick<UserService, "login" | "throttled">;
}

/** Everything the HTTP edge uses: the union of what each route file declares. */
export type AppDeps = AppOwnDeps &
  CaRouteDeps &
  CrlRouteDeps &
  OcspRouteDeps &
  ApiRouteDeps &
  ApiHandlerDeps &
  AcmeRouteDeps;

/** The HTTP edge: thin routes over services; every error leaves as a problem document. */
export function createApp(deps: AppDeps, logger: Logger): RequestListener {
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  app.use(requestId());
  app.use(accessLog(logger, deps.metrics));

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
  app.use(consoleRouter());
  app.use(caRoutes(deps));
  app.use(revocationRoutes(deps));
  app.use(sshPublicRoutes(deps));

  app.use((req, _res, next) => next(new NotFoundError(`no route for ${req.method} ${req.path}`)));
  app.use(problemHandler(logger));
  // The busy paths, OCSP, ACME and the admin API's table, are answered before express (no
  // router, no middleware per request).
  const ocsp = ocspHandler(deps, logger);
  const acme = acmeHandler(deps, logger);
  const api = apiHandler(deps, routes, logger);
  const throttled = throttledLogin(deps, logger);
  return (req, res) => {
    if (!ocsp(req, res) && !acme(req, res) && !throttled(req, res) && !api(req, res)) app(req, res);
  };
}

/**
 * A login the throttle refuses anyway, answered before express: no routing, body parsing or
 * validation, so a flood of them costs a map lookup and one small write each (issue 22). Held a
 * second first (a timer, no CPU), so a connection cannot spin on it. The rest go to the route.
 */
function throttledLogin(deps: Pick<AppOwnDeps, "users">, logger: Logger) {
  return (req: IncomingMessage, res: ServerResponse): boolean => {
    if (req.method !== "POST" || req.url !== "/api/v1/auth/login") return false;
    const refused = deps.users.throttled(req.socket.remoteAddress ?? "unknown");
    if (!refused) return false;
    const header = req.headers["x-request-id"];
    const id = requestIdFor(typeof header === "string" ? header : undefined);
    // Read and drop the body, so the connection stays usable for the client's next request.
    req.resume();
    const timer = setTimeout(() => {
      const problem = toProblem(refused, id);
      const body = JSON.stringify(problem);
      res.writeHead(429, {
        "content-type": PROBLEM_CONTENT_TYPE,
        "content-length": Buffer.byteLength(body),
        "retry-after": String(problem.retryAfter),
        "x-request-id": id,
      });
      res.end(body);
      logger.info({ requestId: id, method: "POST", path: "/api/v1/auth/login", status: 429 }, "request");
    }, 1000);
    res.on("close", () => clearTimeout(timer));
    return true;
  };
}
