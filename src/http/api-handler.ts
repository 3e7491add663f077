import type { IncomingMessage, ServerResponse } from "node:http";
import { parse as parseQuery } from "node:querystring";
import type { Logger } from "pino";
import { BadRequestError, KeywardError } from "../errors/index.js";
import type { Metrics } from "../metrics/index.js";
import {
  type AuthorizeDeps,
  auditRefusal,
  authorize,
  logRequest,
  requestIdFor,
  requireStepUp,
  type StepUpDeps,
} from "./middleware.js";
import { sendProblem } from "./problem.js";
import { bodyFormat, header, readBody, splitUrl, strictJson } from "./raw-request.js";
import type { ApiRequest, ApiResponse } from "./api-request.js";
import type { ApiRoute } from "./routes/api-route.js";

const PREFIX = "/api/v1";

/** What answering the admin API's table needs beyond its routes: the checks before each, a limit, the latencies. */
export type ApiHandlerDeps = AuthorizeDeps &
  StepUpDeps & {
    config: { policy: { maxBodyBytes: number } };
    metrics: Pick<Metrics, "httpRequestSeconds">;
  };

interface Compiled {
  route: ApiRoute;
  method: "GET" | "POST";
  /** The pattern's segments after /api/v1, split at "/"; a `:name` segment matches any one. */
  segments: string[];
}

/**
 * The admin API's route table (routes/api.ts), answered before express as ACME and OCSP are:
 * through express's router (a layer per route, tried in turn), middleware and body parser, an
 * authenticated read cost the server ~195 µs of CPU, here ~50, and an issuance ~250 µs more (two
 * builds side by side, six interleaved pairs, 2026-12-06). Each request is checked in the order
 * express checked it: the token and the route's permission first (so an anonymous caller learns
 * nothing about a route's inputs), then step-up, then the body. Returns false for a request no
 * route of the table takes: express answers it (login, the OpenAPI document, a 404).
 */
export function apiHandler(
  deps: ApiHandlerDeps,
  routes: ApiRoute[],
  logger: Logger,
): (req: IncomingMessage, res: ServerResponse) => boolean {
  const table: Compiled[] = routes.map((route) => ({
    route,
    method: route.method === "get" ? "GET" : "POST",
    segments: route.path.split("/"),
  }));
  return (req, res) => {
    if (!req.url?.startsWith(`${PREFIX}/`)) return false;
    const { path, search } = splitUrl(req.url);
    const segments = path.slice(PREFIX.length).split("/");
    // One trailing slash is the same route, as express had it (/certificates/ is /certificates).
    if (segments.length > 2 && segments.at(-1) === "") segments.pop();
    // HEAD is answered as GET (node:http leaves the body out), as express did.
    const method = req.method === "HEAD" ? "GET" : req.method;
    // First match wins, in the table's order: /keys/distributions before /keys/:id.
    const found = table.find((c) => c.method === method && matches(c.segments, segments));
    if (!found) return false;
    void answer(deps, logger, found, req, res, { path, segments, search });
    return true;
  };
}

function matches(pattern: string[], segments: string[]): boolean {
  if (pattern.length !== segments.length) return false;
  for (let i = 0; i < pattern.length; i++) {
    const want = pattern[i]!;
    if (want.startsWith(":") ? segments[i] === "" : want !== segments[i]) return false;
  }
  return true;
}

async function answer(
  deps: ApiHandlerDeps,
  logger: Logger,
  { route, segments: pattern }: Compiled,
  req: IncomingMessage,
  res: ServerResponse,
  url: { path: string; segments: string[]; search: string },
): Promise<void> {
  const start = process.hrtime.bigint();
  const requestId = requestIdFor(header(req, "x-request-id"));
  const routePattern = `${PREFIX}${route.path}`;
  res.on("finish", () =>
    logRequest(
      logger,
      deps.metrics,
      { start, requestId, method: req.method!, path: url.path, route: routePattern },
      res.statusCode,
    ),
  );
  const response = new RawApiResponse(res, requestId);
  const request: ApiRequest = {
    method: req.method!,
    path: url.path,
    route: routePattern,
    params: {},
    query: parseQuery(url.search),
    body: undefined,
    ip: req.socket.remoteAddress,
    socket: req.socket,
    header: (name) => header(req, name),
    acceptsJson: () => acceptsJson(header(req, "accept")),
  };
  let handling = false;
  try {
    await authorize(deps, route.permission, request, response);
    if (route.stepUp) await requireStepUp(deps, route.permission, request, response);
    request.params = params(pattern, url.segments);
    if (route.method === "post") request.body = await jsonBody(req, deps.config.policy.maxBodyBytes);
    handling = true;
    await route.handler(request, response);
  } catch (error) {
    let failure = error;
    // A change the route refused is an event (a denied request was audited as it was denied); a
    // refused read (a bad filter, an unknown id) or an unreadable body is not.
    if (handling && route.method === "post" && error instanceof KeywardError && error.isClientError) {
      try {
        await auditRefusal(deps, request, response, error);
      } catch (auditError) {
        failure = auditError;
      }
    }
    sendProblem(logger, response, failure, { requestId, path: url.path });
  }
}

/** The pattern's `:name` segments of the path, percent-decoded. */
function params(pattern: string[], segments: string[]): Record<string, string> {
  const values: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    if (!pattern[i]!.startsWith(":")) continue;
    try {
      values[pattern[i]!.slice(1)] = decodeURIComponent(segments[i]!);
    } catch {
      throw new BadRequestError(`the path segment ${JSON.stringify(segments[i])} is not valid percent-encoding`);
    }
  }
  return values;
}

/**
 * The body as JSON, with the checks express's JSON parser made: none is `undefined`, an empty one
 * `{}`; a body must be application/json in UTF-8, uncompressed, within the limit, and an object or
 * an array (JSON's strict reading).
 */
async function jsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const length = header(req, "content-length");
  if (length === undefined && header(req, "transfer-encoding") === undefined) return undefined;
  const { media, charset, encoding } = bodyFormat(req);
  if (media !== "application/json") {
    // A bare POST (…/release) may say Content-Length: 0 without a type.
    if (length === "0") return undefined;
    throw new KeywardError(
      "unsupportedMediaType",
      `the request body must be application/json, got ${header(req, "content-type") ?? "none"}`,
    );
  }
  if ((charset !== undefined && charset !== "utf-8") || encoding !== "identity") {
    throw new KeywardError("unsupportedMediaType", "the request body's encoding or charset is not supported");
  }
  const raw = await readBody(req, limit);
  if (raw === "too large") {
    throw new KeywardError("payloadTooLarge", `the request body exceeds the limit of ${limit} bytes`);
  }
  if (raw.length === 0) return {};
  const json = strictJson(raw);
  if (json === undefined) throw new BadRequestError("the request body is not valid JSON");
  return json;
}

/** Whether an Accept header admits application/json; none admits everything. */
function acceptsJson(accept: string | undefined): boolean {
  if (accept === undefined) return true;
  return accept.split(",").some((part) => {
    const [media, ...parameters] = part.split(";").map((p) => p.trim().toLowerCase());
    const q = parameters.find((p) => p.startsWith("q="));
    if (q !== undefined && Number(q.slice(2)) === 0) return false;
    return media === "application/json" || media === "application/*" || media === "*/*";
  });
}

/** A route's answer: status and headers are held until the one body is sent. */
class RawApiResponse implements ApiResponse {
  readonly locals: ApiResponse["locals"];
  private code = 200;
  private contentType: string | undefined;

  constructor(
    private readonly res: ServerResponse,
    requestId: string,
  ) {
    this.locals = { requestId };
    res.setHeader("X-Request-Id", requestId);
  }

  get headersSent(): boolean {
    return this.res.headersSent;
  }

  status(code: number): this {
    this.code = code;
    return this;
  }

  setHeader(name: string, value: string): this {
    this.res.setHeader(name, value);
    return this;
  }

  type(contentType: string): this {
    this.contentType = contentType;
    return this;
  }

  json(body: unknown): void {
    this.answer("application/json; charset=utf-8", JSON.stringify(body));
  }

  send(body: string | Buffer): void {
    const type = this.contentType ?? (typeof body === "string" ? "text/plain" : "application/octet-stream");
    this.answer(typeof body === "string" && !/;\s*charset=/i.test(type) ? `${type}; charset=utf-8` : type, body);
  }

  end(): void {
    this.res.statusCode = this.code;
    this.res.end();
  }

  private answer(contentType: string, body: string | Buffer): void {
    this.res.statusCode = this.code;
    this.res.setHeader("Content-Type", contentType);
    this.res.setHeader("Content-Length", Buffer.byteLength(body));
    this.res.end(body);
  }
}
