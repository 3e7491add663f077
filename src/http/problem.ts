import type { NextFunction, Request, Response } from "express";
import type { Logger } from "pino";
import { type ErrorCode, KeywardError } from "../errors/index.js";

export const PROBLEM_CONTENT_TYPE = "application/problem+json";

/**
 * The admin API's one table from domain error to HTTP status. Below 500 the error is the client's:
 * its message and extensions go into the problem; at 500 and above the client gets a generic detail.
 */
const STATUS: Record<ErrorCode, number> = {
  badRequest: 400,
  badCSR: 400,
  policyViolation: 400,
  badRecipient: 422,
  unauthorized: 401,
  forbidden: 403,
  notFound: 404,
  conflict: 409,
  payloadTooLarge: 413,
  unsupportedMediaType: 415,
  tooManyRequests: 429,
  config: 500,
  // The token is down or unreachable (and /ready fails): worth retrying elsewhere or later.
  hsm: 503,
  // The token answers, but the key object is gone, or it lacks what the operation needs, or it
  // refused the operation: retrying changes nothing, and the detail says which key or mechanism.
  hsmKeyMissing: 500,
  hsmUnsupported: 501,
  hsmFailed: 500,
  storage: 503,
  lint: 500,
  internal: 500,
};

/** What the client is told when the failure is the server's, by error code. */
const SERVER_DETAIL: Partial<Record<ErrorCode, string>> = {
  hsm: "the HSM is not available; the operation was not performed",
  storage: "the database is not available; the operation was not performed",
};

const TITLES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  413: "Payload Too Large",
  415: "Unsupported Media Type",
  429: "Too Many Requests",
  500: "Internal Server Error",
  501: "Not Implemented",
  503: "Service Unavailable",
};

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  [extension: string]: unknown;
}

function problemType(code: string): string {
  return `urn:keyward:problem:${code}`;
}

/** RFC 7807 document for any throwable. Server-side failures get a generic detail, never a stack. */
export function toProblem(error: unknown, requestId?: string): Problem {
  const instance = requestId ? `urn:keyward:request:${requestId}` : undefined;
  if (error instanceof KeywardError) {
    const status = STATUS[error.code];
    const clientError = status < 500;
    const detail = clientError
      ? error.message
      : (error.publicDetail ?? SERVER_DETAIL[error.code] ?? "the server failed to process the request");
    return {
      ...(clientError ? error.extensions : (error.publicExtensions ?? {})),
      type: problemType(error.code),
      title: TITLES[status] ?? "Error",
      status,
      detail,
      ...(instance ? { instance } : {}),
    };
  }
  // body-parser errors carry a status and a type we can describe precisely.
  const bodyError = error as { status?: number; type?: string; limit?: number } | null;
  if (bodyError?.type === "entity.too.large") {
    return problem(413, "payloadTooLarge", `the request body exceeds the limit of ${bodyError.limit} bytes`, instance);
  }
  if (bodyError?.type === "entity.parse.failed") {
    return problem(400, "badRequest", "the request body is not valid JSON", instance);
  }
  if (bodyError?.type === "encoding.unsupported" || bodyError?.type === "charset.unsupported") {
    return problem(415, "unsupportedMediaType", "the request body's encoding or charset is not supported", instance);
  }
  if (typeof bodyError?.status === "number" && bodyError.status >= 400 && bodyError.status < 500) {
    return problem(bodyError.status, "badRequest", "the request could not be read", instance);
  }
  return problem(500, "internal", "the server failed to process the request", instance);
}

/** A problem document from its parts, for failures that are not a KeywardError. */
export function problem(status: number, code: string, detail: string, instance?: string): Problem {
  return {
    type: problemType(code),
    title: TITLES[status] ?? "Error",
    status,
    detail,
    ...(instance ? { instance } : {}),
  };
}

/** What a problem is sent through: express's response and the admin API's alike. */
interface ProblemSink {
  headersSent: boolean;
  setHeader(name: string, value: string): unknown;
  status(code: number): { type(contentType: string): { send(body: string): unknown } };
}

/**
 * Sends the problem document for `error`, after logging it: a server failure with its cause (and
 * stack) for the operator, a refusal at debug. Nothing is sent once the answer has begun.
 */
export function sendProblem(
  logger: Logger,
  res: ProblemSink,
  error: unknown,
  request: { requestId?: string; path: string },
): void {
  const p = toProblem(error, request.requestId);
  if (p.status >= 500) logger.error({ err: error, requestId: request.requestId, path: request.path }, "request failed");
  else logger.debug({ requestId: request.requestId, status: p.status, detail: p.detail }, "request refused");
  if (res.headersSent) return;
  if (typeof p.retryAfter === "number") res.setHeader("Retry-After", String(p.retryAfter));
  res.status(p.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(p));
}

/** The one error handler of the routes express serves. */
export function problemHandler(logger: Logger) {
  return (error: unknown, req: Request, res: Response, _next: NextFunction) => {
    sendProblem(logger, res, error, { requestId: res.locals.requestId as string | undefined, path: req.path });
  };
}
