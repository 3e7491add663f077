import { randomUUID } from "node:crypto";
import type { TLSSocket } from "node:tls";
import type { Actor, AuditSummaries } from "../audit/index.js";
import type { Clock } from "../clock/index.js";
import type { CertificateRecord } from "../issuance/index.js";
import type { Metrics } from "../metrics/index.js";
import type { RequestHandler } from "express";
import type { Logger } from "pino";
import { type Permission, type Principal, roleAllows, type TokenService, type UserService } from "../access/index.js";
import { ForbiddenError, KeywardError, UnauthorizedError } from "../errors/index.js";
import type { ApiRequest, ApiResponse } from "./api-request.js";

/** Request id for logs and problem `instance`; a well-formed incoming X-Request-Id is kept. */
export function requestId(): RequestHandler {
  return (req, res, next) => {
    const id = requestIdFor(req.get("x-request-id"));
    res.locals.requestId = id;
    res.setHeader("X-Request-Id", id);
    next();
  };
}

/** The incoming X-Request-Id when well formed, else a new one. */
export function requestIdFor(incoming: string | undefined): string {
  return incoming && /^[A-Za-z0-9._-]{1,64}$/.test(incoming) ? incoming : randomUUID();
}

/**
 * One log line per request, and its latency by route pattern in /metrics: the pattern, never the
 * path (serials and ids would make every request a new series); "(no route)" when none matched
 * (404s, and requests refused before their route, e.g. without a token).
 */
export function accessLog(logger: Logger, metrics?: Pick<Metrics, "httpRequestSeconds">): RequestHandler {
  return (req, res, next) => {
    const start = process.hrtime.bigint();
    res.on("finish", () => {
      const route = req.route ? `${req.baseUrl}${String(req.route.path)}` : "(no route)";
      logRequest(
        logger,
        metrics,
        { start, requestId: res.locals.requestId as string, method: req.method, path: req.path, route },
        res.statusCode,
      );
    });
    next();
  };
}

/** What one answered request is logged and measured by (express's and the routes served before it alike). */
export interface RequestRecord {
  start: bigint;
  requestId: string;
  method: string;
  /** The path only: query strings and bodies may carry data that does not belong in logs. */
  path: string;
  route: string;
}

export function logRequest(
  logger: Logger,
  metrics: Pick<Metrics, "httpRequestSeconds"> | undefined,
  request: RequestRecord,
  status: number,
): void {
  const ms = Number(process.hrtime.bigint() - request.start) / 1e6;
  metrics?.httpRequestSeconds.observe(
    { route: request.route, method: request.method, status: String(status) },
    ms / 1000,
  );
  logger.info(
    { requestId: request.requestId, method: request.method, path: request.path, status, ms: Math.round(ms * 10) / 10 },
    "request",
  );
}

/** Where refusals are counted and audited (bounded: a flood of them gets a summary). */
interface DenialDeps {
  refusals: Pick<AuditSummaries, "note">;
  metrics?: Pick<Metrics, "deniedRequests">;
}

/**
 * Counts and audits a refused request, then throws the refusal. Fail closed: when the event cannot
 * be written the caller gets that server error, never a silent refusal.
 */
async function deny(
  deps: DenialDeps,
  req: ApiRequest,
  res: ApiResponse,
  refusal: {
    permission: Permission;
    reason: "unauthenticated" | "forbidden" | "mfa";
    error: Error;
    principal?: Principal;
  },
): Promise<never> {
  deps.metrics?.deniedRequests.inc({ permission: refusal.permission, reason: refusal.reason });
  const who = refusal.principal
    ? { id: refusal.principal.id, name: refusal.principal.name, kind: refusal.principal.kind }
    : { id: "anonymous", name: "anonymous", kind: "anonymous" as const };
  await deps.refusals.note(`request.denied:${refusal.reason}:${who.id}:${req.ip}`, {
    action: "request.denied",
    actor: { ...who, requestId: res.locals.requestId, ...(req.ip ? { address: req.ip } : {}) },
    target: { type: "route", id: `${req.method} ${req.route}` },
    outcome: "denied",
    details: { permission: refusal.permission, reason: refusal.error.message },
  });
  throw refusal.error;
}

/**
 * A state-changing request the caller was refused (a policy-refused issuance, a decrypt with the
 * wrong context, a compromised key without override…) is an audit event, like a denied one.
 */
export async function auditRefusal(
  deps: DenialDeps,
  req: ApiRequest,
  res: ApiResponse,
  error: KeywardError,
): Promise<void> {
  const actor = actorOf(req, res);
  await deps.refusals.note(`request.refused:${actor.id}:${req.method} ${req.route}`, {
    action: "request.refused",
    actor,
    target: { type: "route", id: `${req.method} ${req.path}`.slice(0, 200) },
    outcome: "denied",
    details: { code: error.code, reason: error.message.slice(0, 500) },
  });
}

const isRefusal = (error: unknown): error is UnauthorizedError | ForbiddenError =>
  error instanceof UnauthorizedError || error instanceof ForbiddenError;

/**
 * Bearer token (or client certificate) → principal, then the route's permission. Every /api/v1
 * route goes through this, and every refusal is an audit event.
 */
export type AuthorizeDeps = Authenticators & DenialDeps;

export async function authorize(
  deps: AuthorizeDeps,
  permission: Permission,
  req: ApiRequest,
  res: ApiResponse,
): Promise<void> {
  let principal: Principal | undefined;
  try {
    const header = req.header("authorization");
    const match = /^Bearer\s+(\S+)$/i.exec(header ?? "");
    const serial = header ? undefined : clientCertificateSerial(req.socket);
    if (serial) principal = await authenticateCertificate(deps, serial);
    else if (match) principal = await authenticate(deps, match[1]!);
    else
      throw new UnauthorizedError("this route needs an Authorization: Bearer <token> header or a client certificate");
    if (!roleAllows(principal.role, permission)) {
      throw new ForbiddenError(`role "${principal.role}" lacks the permission "${permission}"`);
    }
    if (principal.totpEnrolmentRequired && permission !== "self") {
      throw new ForbiddenError(
        "enrol a new authenticator first (POST /api/v1/auth/totp/enrol, then /api/v1/auth/totp/confirm with its first code)",
      );
    }
    res.locals.principal = principal;
  } catch (error) {
    if (!isRefusal(error)) throw error;
    if (error instanceof UnauthorizedError) res.setHeader("WWW-Authenticate", 'Bearer realm="keyward"');
    const reason = error instanceof UnauthorizedError ? "unauthenticated" : "forbidden";
    await deny(deps, req, res, { permission, reason, error, principal });
  }
}

/**
 * Sensitive operations need a person who proves presence now: a session (not an API token) and a
 * fresh TOTP code in X-Keyward-OTP, used once.
 */
export type StepUpDeps = { users: Pick<UserService, "stepUp"> } & DenialDeps;

export async function requireStepUp(
  deps: StepUpDeps,
  permission: Permission,
  req: ApiRequest,
  res: ApiResponse,
): Promise<void> {
  const principal = principalOf(res);
  try {
    if (principal.kind !== "user") {
      throw new ForbiddenError(
        "this operation needs a person: log in with password and TOTP (API tokens cannot perform sensitive operations)",
      );
    }
    await deps.users.stepUp(principal.id, req.header("x-keyward-otp"));
  } catch (error) {
    if (!isRefusal(error)) throw error;
    await deny(deps, req, res, { permission, reason: "mfa", error, principal });
  }
}

interface Authenticators {
  tokens: Pick<TokenService, "authenticate" | "authenticateCertificate">;
  users: Pick<UserService, "isSessionToken" | "authenticate">;
  /** The certificate with this serial, undefined when there is none; a storage failure throws. */
  findCertificate(serial: string): Promise<CertificateRecord | undefined>;
  clock: Clock;
}

/** The serial of a client certificate the TLS layer verified against our CAs, if any. */
function clientCertificateSerial(socket: ApiRequest["socket"]): string | undefined {
  const tls = socket as TLSSocket;
  if (!tls.encrypted || !tls.authorized) return undefined;
  const serial = tls.getPeerCertificate()?.serialNumber;
  return serial ? serial.toLowerCase().replace(/^(00)+/, "") : undefined;
}

/** The chain was checked by TLS; whether we still consider the certificate good is checked here. */
async function authenticateCertificate(deps: Authenticators, serial: string): Promise<Principal> {
  // Not found is a refusal; a database that cannot answer is a server error, not a 401.
  const record = await deps.findCertificate(serial);
  if (record?.status !== "valid" || record.notAfter <= deps.clock.now()) {
    throw new UnauthorizedError(`client certificate ${serial} is not valid here (unknown, revoked or expired)`);
  }
  return deps.tokens.authenticateCertificate(serial);
}

/** API tokens (`kw_…`) for services, session tokens (`kws_…`) for people after login. */
function authenticate(deps: Pick<Authenticators, "tokens" | "users">, bearer: string): Promise<Principal> {
  return deps.users.isSessionToken(bearer) ? deps.users.authenticate(bearer) : deps.tokens.authenticate(bearer);
}

export function principalOf(res: Pick<ApiResponse, "locals">): Principal {
  return res.locals.principal!;
}

/** The authenticated caller as the audit log records it. */
export function actorOf(req: Pick<ApiRequest, "ip">, res: Pick<ApiResponse, "locals">): Actor {
  const principal = principalOf(res);
  return {
    id: principal.id,
    name: principal.name,
    kind: principal.kind,
    requestId: res.locals.requestId,
    ...(req.ip ? { address: req.ip } : {}),
  };
}

/** JSON bodies only: anything else is refused before it is read. */
export function requireJson(): RequestHandler {
  return (req, _res, next) => {
    // req.is() is null when there is no body at all (e.g. a bare POST …/release), false on a mismatch.
    const empty = req.get("content-length") === "0";
    if (!empty && req.is("application/json") === false) {
      return next(
        new KeywardError(
          "unsupportedMediaType",
          `the request body must be application/json, got ${req.get("content-type") ?? "none"}`,
        ),
      );
    }
    next();
  };
}
