import express, { type NextFunction, type Request, type Response, Router } from "express";
import type { Logger } from "pino";
import { type Acme, AcmeError, problemResponse } from "../../acme/index.js";
import type { Metrics, RateWatch } from "../../metrics/index.js";
import { finalizePayload, newOrderPayload, revokeCertPayload } from "./acme-payloads.js";

const JOSE = "application/jose+json";

/** What the ACME routes use: the ACME module, two counters, the burst watch, and two settings. */
export interface AcmeRouteDeps {
  acme: Pick<
    Acme,
    "accounts" | "orders" | "authorizations" | "renewals" | "revocation" | "views" | "urls" | "profiles"
  >;
  config: { baseUrl: string; policy: { maxBodyBytes: number } };
  metrics: Pick<Metrics, "acmeOrders" | "certificatesIssued">;
  bursts: Pick<RateWatch, "record">;
}

/**
 * RFC 8555 routes under /acme. Every response to a POST carries a fresh Replay-Nonce (§6.5), and
 * newNonce hands one out; GETs do not: each nonce is held (a database row, or memory in a single
 * process) until it is used or expires, and anonymous GETs (a crawler, a flood of 404s) must not
 * be able to add any.
 */
export function acmeRoutes(deps: AcmeRouteDeps, logger: Logger): Router {
  const router = Router();
  const { acme, config, metrics } = deps;
  const { accounts, orders, authorizations, views, urls } = acme;
  const index = `<${urls.url("directory")}>;rel="index"`;

  const withNonce = async (req: Request, res: Response, next: NextFunction) => {
    try {
      if (req.method === "POST" || req.path === "/new-nonce") res.setHeader("Replay-Nonce", await accounts.newNonce());
      res.setHeader("Link", index);
      next();
    } catch (error) {
      next(error);
    }
  };
  router.use(withNonce);

  router.get("/directory", (_req, res) => {
    res.json(accounts.directory());
  });

  router.head("/new-nonce", (_req, res) => {
    res.setHeader("Cache-Control", "no-store");
    res.status(200).end();
  });
  router.get("/new-nonce", (_req, res) => {
    res.setHeader("Cache-Control", "no-store");
    res.status(204).end();
  });

  const jose = [
    (req: Request, _res: Response, next: NextFunction) => {
      if (!req.is(JOSE)) {
        next(
          new AcmeError(
            "malformed",
            `ACME requests must be ${JOSE}, got ${req.get("content-type") ?? "none"}`,
            undefined,
            415,
          ),
        );
        return;
      }
      next();
    },
    express.json({ type: JOSE, limit: config.policy.maxBodyBytes }),
  ];
  const requestUrl = (req: Request) => `${config.baseUrl}${req.originalUrl}`;
  const authenticated = async (req: Request) => {
    const auth = await accounts.authenticate(req.body, requestUrl(req), { allowJwk: false });
    return { auth, account: auth.account! };
  };

  router.post("/new-account", ...jose, async (req, res) => {
    const auth = await accounts.authenticate(req.body, requestUrl(req), { allowJwk: true });
    const { account, created } = await accounts.newAccount(auth);
    res.setHeader("Location", urls.account(account.id));
    res.status(created ? 201 : 200).json(views.account(account));
  });

  router.post("/acct/:id/orders", ...jose, async (req, res) => {
    const { account } = await authenticated(req);
    if (account.id !== req.params.id) throw new AcmeError("unauthorized", "these are another account's orders");
    res.json({ orders: (await orders.ordersOf(account)).map((id) => urls.order(id)) });
  });

  router.post("/acct/:id", ...jose, async (req, res) => {
    const auth = await accounts.authenticate(req.body, requestUrl(req), { allowJwk: false });
    const account = await accounts.updateAccount(String(req.params.id), auth);
    res.json(views.account(account));
  });

  router.post("/new-order", ...jose, async (req, res) => {
    const { auth, account } = await authenticated(req);
    const order = await orders.newOrder(account, newOrderPayload(auth.jws.payload, acme.profiles));
    metrics.acmeOrders.inc({ status: order.status });
    res.setHeader("Location", urls.order(order.id));
    res.status(201).json(views.order(order));
  });

  router.post("/order/:id", ...jose, async (req, res) => {
    const { account } = await authenticated(req);
    res.json(views.order(await orders.order(account, String(req.params.id))));
  });

  router.post("/order/:id/finalize", ...jose, async (req, res) => {
    const { auth, account } = await authenticated(req);
    deps.bursts.record(`acme:${account.id}`, "certificate.issue");
    const order = await orders.finalize(account, String(req.params.id), finalizePayload(auth.jws.payload));
    metrics.acmeOrders.inc({ status: order.status });
    if (order.status === "valid") metrics.certificatesIssued.inc({ profile: order.profile, source: "acme" });
    res.setHeader("Location", urls.order(order.id));
    if (order.status === "processing") res.setHeader("Retry-After", "1");
    res.json(views.order(order));
  });

  router.post("/authz/:id", ...jose, async (req, res) => {
    const { account } = await authenticated(req);
    const authz = await authorizations.authorization(account, String(req.params.id));
    if (authz.challenges.some((c) => c.status === "processing")) res.setHeader("Retry-After", "1");
    res.json(views.authorization(authz));
  });

  router.post("/chall/:id", ...jose, async (req, res) => {
    const { auth, account } = await authenticated(req);
    // An empty JSON object starts validation; POST-as-GET only reads.
    const result =
      auth.jws.payload === undefined
        ? await authorizations.challenge(account, String(req.params.id))
        : await authorizations.respondToChallenge(account, String(req.params.id));
    res.setHeader("Link", [index, `<${urls.authorization(result.challenge.authorizationId)}>;rel="up"`]);
    if (!result.done) res.setHeader("Retry-After", "1");
    res.json(views.challenge(result.challenge));
  });

  // RFC 9773: unauthenticated GET; clients poll again after Retry-After.
  router.get("/renewal-info/:certId", async (req, res) => {
    res.setHeader("Retry-After", String(6 * 3600));
    res.json(await acme.renewals.renewalInfo(String(req.params.certId)));
  });

  router.post("/revoke-cert", ...jose, async (req, res) => {
    const auth = await accounts.authenticate(req.body, requestUrl(req), { allowJwk: true });
    await acme.revocation.revokeCertificate(auth, revokeCertPayload(auth.jws.payload));
    res.status(200).end();
  });

  router.post("/key-change", ...jose, async (req, res) => {
    const { auth } = await authenticated(req);
    const account = await accounts.changeKey(auth, requestUrl(req));
    res.json(views.account(account));
  });

  router.post("/cert/:id", ...jose, async (req, res) => {
    const { account } = await authenticated(req);
    res.type("application/pem-certificate-chain").send(await orders.certificateChain(account, String(req.params.id)));
  });

  router.use((req, _res, next) => {
    next(new AcmeError("malformed", `no ACME resource at ${req.method} ${req.originalUrl}`, undefined, 404));
  });

  // ACME clients expect urn:ietf:params:acme:error:* documents, never the admin API's types.
  router.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    const { problem, retryAfter } = problemResponse(error);
    if (problem.status >= 500) logger.error({ err: error, path: req.path }, "ACME request failed");
    if (retryAfter !== undefined) res.setHeader("Retry-After", String(retryAfter));
    res.status(problem.status).type("application/problem+json").send(JSON.stringify(problem));
  });

  return router;
}
