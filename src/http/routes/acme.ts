import express, { type NextFunction, type Request, type Response, Router } from "express";
import type { Logger } from "pino";
import { AcmeError, acmeTypeOf } from "../../acme/index.js";
import type { Services } from "../../compose.js";
import { KeywardError } from "../../errors/index.js";

const JOSE = "application/jose+json";

/** RFC 8555 routes under /acme. Every response carries a fresh Replay-Nonce (§6.5). */
export function acmeRoutes(services: Services, logger: Logger): Router {
  const router = Router();
  const { acme, config } = services;
  const index = `<${acme.url("directory")}>;rel="index"`;

  const withNonce = async (_req: Request, res: Response, next: NextFunction) => {
    try {
      res.setHeader("Replay-Nonce", await acme.newNonce());
      res.setHeader("Link", index);
      next();
    } catch (error) {
      next(error);
    }
  };
  router.use(withNonce);

  router.get("/directory", (_req, res) => {
    res.json(acme.directory());
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

  router.post("/new-account", ...jose, async (req, res) => {
    const auth = await acme.authenticate(req.body, requestUrl(req), { allowJwk: true });
    const { account, created } = await acme.newAccount(auth);
    res.setHeader("Location", acme.accountUrl(account.id));
    res.status(created ? 201 : 200).json(acme.accountView(account));
  });

  router.post("/acct/:id/orders", ...jose, async (req, res) => {
    const { account } = await authenticated(req);
    if (account.id !== req.params.id) throw new AcmeError("unauthorized", "these are another account's orders");
    res.json({ orders: await acmeOrders.ordersOf(account) });
  });

  router.post("/acct/:id", ...jose, async (req, res) => {
    const auth = await acme.authenticate(req.body, requestUrl(req), { allowJwk: false });
    const account = await acme.updateAccount(String(req.params.id), auth);
    res.json(acme.accountView(account));
  });

  const { acmeOrders } = services;
  const authenticated = async (req: Request) => {
    const auth = await acme.authenticate(req.body, requestUrl(req), { allowJwk: false });
    return { auth, account: auth.account! };
  };

  router.post("/new-order", ...jose, async (req, res) => {
    const { auth, account } = await authenticated(req);
    const order = await acmeOrders.newOrder(account, auth.jws.payload);
    services.metrics.acmeOrders.inc({ status: order.status });
    res.setHeader("Location", acmeOrders.url(`order/${order.id}`));
    res.status(201).json(acmeOrders.orderView(order));
  });

  router.post("/order/:id", ...jose, async (req, res) => {
    const { account } = await authenticated(req);
    res.json(acmeOrders.orderView(await acmeOrders.order(account, String(req.params.id))));
  });

  router.post("/order/:id/finalize", ...jose, async (req, res) => {
    const { auth, account } = await authenticated(req);
    services.bursts.record(`acme:${account.id}`, "certificate.issue");
    const order = await acmeOrders.finalize(account, String(req.params.id), auth.jws.payload);
    services.metrics.acmeOrders.inc({ status: order.status });
    if (order.status === "valid") services.metrics.certificatesIssued.inc({ profile: order.profile, source: "acme" });
    res.setHeader("Location", acmeOrders.url(`order/${order.id}`));
    if (order.status === "processing") res.setHeader("Retry-After", "1");
    res.json(acmeOrders.orderView(order));
  });

  router.post("/authz/:id", ...jose, async (req, res) => {
    const { account } = await authenticated(req);
    const authz = await acmeOrders.authorization(account, String(req.params.id));
    if (authz.challenges.some((c) => c.status === "processing")) res.setHeader("Retry-After", "1");
    res.json(acmeOrders.authorizationView(authz));
  });

  router.post("/chall/:id", ...jose, async (req, res) => {
    const { auth, account } = await authenticated(req);
    const authz = async (id: string) => acmeOrders.url(`authz/${id}`);
    // An empty JSON object starts validation; POST-as-GET only reads.
    const result =
      auth.jws.payload === undefined
        ? await (async () => {
            const challenge = await acmeOrders.challenge(account, String(req.params.id));
            return { challenge, done: challenge.status !== "processing" };
          })()
        : await acmeOrders.respondToChallenge(account, String(req.params.id));
    res.setHeader("Link", [index, `<${await authz(result.challenge.authorizationId)}>;rel="up"`]);
    if (!result.done) res.setHeader("Retry-After", "1");
    res.json(acmeOrders.challengeView(result.challenge));
  });

  // RFC 9773: unauthenticated GET; clients poll again after Retry-After.
  router.get("/renewal-info/:certId", async (req, res) => {
    res.setHeader("Retry-After", String(6 * 3600));
    res.json(await acmeOrders.renewalInfo(String(req.params.certId)));
  });

  router.post("/revoke-cert", ...jose, async (req, res) => {
    const auth = await acme.authenticate(req.body, requestUrl(req), { allowJwk: true });
    await acmeOrders.revokeCertificate(auth, auth.jws.payload);
    res.status(200).end();
  });

  router.post("/key-change", ...jose, async (req, res) => {
    const { auth } = await authenticated(req);
    const account = await acme.changeKey(auth, requestUrl(req));
    res.json(acme.accountView(account));
  });

  router.post("/cert/:id", ...jose, async (req, res) => {
    const { account } = await authenticated(req);
    res
      .type("application/pem-certificate-chain")
      .send(await acmeOrders.certificateChain(account, String(req.params.id)));
  });

  router.use((req, _res, next) => {
    next(new AcmeError("malformed", `no ACME resource at ${req.method} ${req.originalUrl}`, undefined, 404));
  });

  // ACME clients expect urn:ietf:params:acme:error:* documents, never the admin API's types.
  router.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    const body = error as { type?: string; status?: number; limit?: number };
    let type: string;
    let status: number;
    let detail: string;
    let extensions: Record<string, unknown> = {};
    if (error instanceof KeywardError) {
      ({ type, status } = acmeTypeOf(error));
      detail = status < 500 ? error.message : "the server failed to process the request";
      if (status < 500) {
        const { retryAfter, ...rest } = error.extensions;
        extensions = rest;
        if (typeof retryAfter === "number") res.setHeader("Retry-After", String(retryAfter));
      }
    } else if (body?.type === "entity.too.large") {
      [type, status, detail] = ["malformed", 413, `the request body exceeds ${body.limit} bytes`];
    } else if (body?.type === "entity.parse.failed") {
      [type, status, detail] = ["malformed", 400, "the request body is not valid JSON"];
    } else {
      [type, status, detail] = ["serverInternal", 500, "the server failed to process the request"];
    }
    if (status >= 500) logger.error({ err: error, path: req.path }, "ACME request failed");
    res
      .status(status)
      .type("application/problem+json")
      .send(JSON.stringify({ ...extensions, type: `urn:ietf:params:acme:error:${type}`, status, detail }));
  });

  return router;
}
