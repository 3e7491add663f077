import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import { type Acme, AcmeError, type AuthenticatedRequest, problemResponse } from "../../acme/index.js";
import type { Metrics, RateWatch } from "../../metrics/index.js";
import { logRequest, requestIdFor } from "../middleware.js";
import { bodyFormat, header, readBody, splitUrl, strictJson } from "../raw-request.js";
import { finalizePayload, newOrderPayload, revokeCertPayload } from "./acme-payloads.js";

const JOSE = "application/jose+json";
const JSON_TYPE = "application/json; charset=utf-8";
const PROBLEM_TYPE = "application/problem+json; charset=utf-8";
const PEM_CHAIN_TYPE = "application/pem-certificate-chain; charset=utf-8";

/** What the ACME routes use: the ACME module, two counters and the request latencies, the burst watch, and two settings. */
export interface AcmeRouteDeps {
  acme: Pick<
    Acme,
    "accounts" | "orders" | "authorizations" | "renewals" | "revocation" | "views" | "urls" | "profiles"
  >;
  config: { baseUrl: string; policy: { maxBodyBytes: number } };
  metrics: Pick<Metrics, "acmeOrders" | "certificatesIssued" | "httpRequestSeconds">;
  bursts: Pick<RateWatch, "record">;
}

/** One answer: status, headers beyond the ones every ACME answer carries, and a body. */
interface Answer {
  status?: number;
  headers?: Record<string, string | string[]>;
  json?: unknown;
  /** A body that is not JSON, with its content type. */
  text?: { type: string; body: string };
}

/** A POST as its route receives it: the URL its JWS must name, the route's `:id`, and the JSON body (the JWS, not yet verified). */
interface Post {
  url: string;
  id: string;
  body: unknown;
}

/** One request as it is answered: its id, its path, and the nonce it hands out, if any. */
interface Exchange {
  requestId: string;
  path: string;
  nonce?: string;
}

interface Found {
  route: Route;
  pattern: string;
  id: string;
}

type Route =
  | { method: "GET"; path: string[]; answer: (id: string) => Answer | Promise<Answer> }
  | { method: "HEAD"; path: string[]; answer: () => Answer }
  | { method: "POST"; path: string[]; answer: (post: Post) => Promise<Answer> };

/**
 * RFC 8555 routes under /acme, answered before express (as OCSP is): ACME is the busy public
 * path, and a request through express's router and body parser cost ~70 µs more than through
 * node:http alone (a minimal express app 100–110 µs, raw node:http 30; a certificate takes
 * seven). Every response to a POST carries a fresh Replay-Nonce (§6.5), and newNonce hands
 * one out; GETs do not: each nonce is held (a database row, or memory in a single process) until
 * it is used or expires, and anonymous GETs (a crawler, a flood of 404s) must not be able to add
 * any. Returns false for a request outside /acme/.
 */
export function acmeHandler(
  deps: AcmeRouteDeps,
  logger: Logger,
): (req: IncomingMessage, res: ServerResponse) => boolean {
  const { acme, config, metrics } = deps;
  const { accounts, orders, authorizations, views, urls } = acme;
  const index = `<${urls.url("directory")}>;rel="index"`;
  const authenticated = async (post: Post, allowJwk = false): Promise<AuthenticatedRequest> =>
    accounts.authenticate(post.body, post.url, { allowJwk });
  const account = (auth: AuthenticatedRequest) => auth.account!;

  const routes: Route[] = [
    { method: "GET", path: ["directory"], answer: () => ({ json: accounts.directory() }) },
    { method: "HEAD", path: ["new-nonce"], answer: () => ({ headers: { "Cache-Control": "no-store" } }) },
    { method: "GET", path: ["new-nonce"], answer: () => ({ status: 204, headers: { "Cache-Control": "no-store" } }) },
    {
      method: "POST",
      path: ["new-account"],
      answer: async (post) => {
        const { account, created } = await accounts.newAccount(await authenticated(post, true));
        return {
          status: created ? 201 : 200,
          headers: { Location: urls.account(account.id) },
          json: views.account(account),
        };
      },
    },
    {
      method: "POST",
      path: ["acct", ":id", "orders"],
      answer: async (post) => {
        const owner = account(await authenticated(post));
        if (owner.id !== post.id) throw new AcmeError("unauthorized", "these are another account's orders");
        return { json: { orders: (await orders.ordersOf(owner)).map((id) => urls.order(id)) } };
      },
    },
    {
      method: "POST",
      path: ["acct", ":id"],
      answer: async (post) => ({
        json: views.account(await accounts.updateAccount(post.id, await authenticated(post))),
      }),
    },
    {
      method: "POST",
      path: ["new-order"],
      answer: async (post) => {
        const auth = await authenticated(post);
        const order = await orders.newOrder(account(auth), newOrderPayload(auth.jws.payload, acme.profiles));
        metrics.acmeOrders.inc({ status: order.status });
        return { status: 201, headers: { Location: urls.order(order.id) }, json: views.order(order) };
      },
    },
    {
      method: "POST",
      path: ["order", ":id"],
      answer: async (post) => ({ json: views.order(await orders.order(account(await authenticated(post)), post.id)) }),
    },
    {
      method: "POST",
      path: ["order", ":id", "finalize"],
      answer: async (post) => {
        const auth = await authenticated(post);
        deps.bursts.record(`acme:${account(auth).id}`, "certificate.issue");
        const order = await orders.finalize(account(auth), post.id, finalizePayload(auth.jws.payload));
        metrics.acmeOrders.inc({ status: order.status });
        if (order.status === "valid") metrics.certificatesIssued.inc({ profile: order.profile, source: "acme" });
        return {
          headers: {
            Location: urls.order(order.id),
            ...(order.status === "processing" ? { "Retry-After": "1" } : {}),
          },
          json: views.order(order),
        };
      },
    },
    {
      method: "POST",
      path: ["authz", ":id"],
      answer: async (post) => {
        const authz = await authorizations.authorization(account(await authenticated(post)), post.id);
        const processing = authz.challenges.some((c) => c.status === "processing");
        return { headers: processing ? { "Retry-After": "1" } : {}, json: views.authorization(authz) };
      },
    },
    {
      method: "POST",
      path: ["chall", ":id"],
      answer: async (post) => {
        const auth = await authenticated(post);
        // An empty JSON object starts validation; POST-as-GET only reads.
        const result =
          auth.jws.payload === undefined
            ? await authorizations.challenge(account(auth), post.id)
            : await authorizations.respondToChallenge(account(auth), post.id);
        return {
          headers: {
            Link: [index, `<${urls.authorization(result.challenge.authorizationId)}>;rel="up"`],
            ...(result.done ? {} : { "Retry-After": "1" }),
          },
          json: views.challenge(result.challenge),
        };
      },
    },
    // RFC 9773: unauthenticated GET; clients poll again after Retry-After.
    {
      method: "GET",
      path: ["renewal-info", ":id"],
      answer: async (id) => ({
        headers: { "Retry-After": String(6 * 3600) },
        json: await acme.renewals.renewalInfo(id),
      }),
    },
    {
      method: "POST",
      path: ["revoke-cert"],
      answer: async (post) => {
        const auth = await authenticated(post, true);
        await acme.revocation.revokeCertificate(auth, revokeCertPayload(auth.jws.payload));
        return {};
      },
    },
    {
      method: "POST",
      path: ["key-change"],
      answer: async (post) => ({ json: views.account(await accounts.changeKey(await authenticated(post), post.url)) }),
    },
    {
      method: "POST",
      path: ["cert", ":id"],
      answer: async (post) => ({
        text: {
          type: PEM_CHAIN_TYPE,
          body: await orders.certificateChain(account(await authenticated(post)), post.id),
        },
      }),
    },
  ];
  const patterns = routes.map((route) => `/acme/${route.path.join("/")}`);

  /** The route of a path's segments, its pattern (the metrics' label) and its `:id` as sent. */
  const match = (method: string, segments: string[]): Found | undefined => {
    for (let r = 0; r < routes.length; r++) {
      const route = routes[r]!;
      // HEAD is answered wherever GET is (without the body: node leaves it out).
      if (route.method !== method && !(method === "HEAD" && route.method === "GET")) continue;
      if (route.path.length !== segments.length) continue;
      let id = "";
      let same = true;
      for (let i = 0; i < segments.length && same; i++) {
        if (route.path[i] === ":id") {
          id = segments[i]!;
          same = id !== "";
        } else {
          same = route.path[i] === segments[i];
        }
      }
      if (same) return { route, pattern: patterns[r]!, id };
    }
    return undefined;
  };

  /** The headers every ACME answer carries: its request id, the directory link and a nonce where due. */
  const common = (exchange: Exchange): Record<string, string | string[] | number> => ({
    "X-Request-Id": exchange.requestId,
    Link: index,
    ...(exchange.nonce === undefined ? {} : { "Replay-Nonce": exchange.nonce }),
  });

  const send = (res: ServerResponse, exchange: Exchange, answer: Answer) => {
    const headers = common(exchange);
    if (answer.headers) Object.assign(headers, answer.headers);
    let body: string | undefined;
    if (answer.json !== undefined) {
      body = JSON.stringify(answer.json);
      headers["Content-Type"] = JSON_TYPE;
    } else if (answer.text) {
      body = answer.text.body;
      headers["Content-Type"] = answer.text.type;
    }
    // Without a body node writes the length itself (none at all on a 204, as RFC 9110 §8.6 asks).
    if (body !== undefined) headers["Content-Length"] = Buffer.byteLength(body);
    res.writeHead(answer.status ?? 200, headers).end(body);
  };

  const fail = (res: ServerResponse, exchange: Exchange, error: unknown) => {
    const { problem, retryAfter } = problemResponse(error);
    if (problem.status >= 500) logger.error({ err: error, path: exchange.path }, "ACME request failed");
    if (res.headersSent) {
      res.end();
      return;
    }
    const body = JSON.stringify(problem);
    const headers = common(exchange);
    headers["Content-Type"] = PROBLEM_TYPE;
    headers["Content-Length"] = Buffer.byteLength(body);
    if (retryAfter !== undefined) headers["Retry-After"] = String(retryAfter);
    res.writeHead(problem.status, headers).end(body);
  };

  const serve = async (req: IncomingMessage, exchange: Exchange, found: Found | undefined): Promise<Answer> => {
    const method = req.method ?? "GET";
    if (method === "POST" || exchange.path === "/acme/new-nonce") exchange.nonce = await accounts.newNonce();
    if (!found) throw new AcmeError("malformed", `no ACME resource at ${method} ${req.url}`, undefined, 404);
    const { route } = found;
    const id = decodeId(found.id);
    if (route.method === "GET") return route.answer(id);
    if (route.method === "HEAD") return route.answer();
    return route.answer({
      url: `${config.baseUrl}${req.url}`,
      id,
      body: await joseBody(req, config.policy.maxBodyBytes),
    });
  };

  return (req, res) => {
    if (!req.url?.startsWith("/acme/")) return false;
    const start = process.hrtime.bigint();
    const method = req.method ?? "GET";
    const { path } = splitUrl(req.url);
    const exchange: Exchange = { requestId: requestIdFor(header(req, "x-request-id")), path };
    const found = match(method, path.slice("/acme/".length).split("/"));
    res.on("finish", () => {
      const route = found ? found.pattern : "(no route)";
      logRequest(logger, metrics, { start, requestId: exchange.requestId, method, path, route }, res.statusCode);
    });
    serve(req, exchange, found).then(
      (answer) => send(res, exchange, answer),
      (error) => fail(res, exchange, error),
    );
    return true;
  };
}

/** A path segment's value: ids are base64url, but a client may percent-encode. */
function decodeId(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new AcmeError("malformed", "the URL's id is not valid percent-encoding", undefined, 400);
  }
}

/**
 * The JSON body of an ACME POST (RFC 8555 §6.2): application/jose+json in UTF-8, unencoded, at
 * most `limit` bytes, an object or array (as JSON's strict mode reads it).
 */
async function joseBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const { media, charset, encoding } = bodyFormat(req);
  const refusal =
    media !== JOSE
      ? `ACME requests must be ${JOSE}, got ${header(req, "content-type") ?? "none"}`
      : charset !== undefined && charset !== "utf-8"
        ? `ACME requests must be UTF-8, not charset ${charset}`
        : encoding !== "identity"
          ? `ACME requests must not be compressed (content-encoding ${encoding})`
          : undefined;
  if (refusal) {
    req.resume();
    throw new AcmeError("malformed", refusal, undefined, 415);
  }
  const body = await readBody(req, limit);
  if (body === "too large") throw new AcmeError("malformed", `the request body exceeds ${limit} bytes`, undefined, 413);
  const json = strictJson(body);
  if (json === undefined) throw new AcmeError("malformed", "the request body is not a JSON object", undefined, 400);
  return json;
}
