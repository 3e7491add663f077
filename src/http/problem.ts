import type { NextFunction, Request, Response } from "express";
import type { Logger } from "pino";
import { KeywardError } from "../errors/index.js";

export const PROBLEM_CONTENT_TYPE = "application/problem+json";

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

export function problemType(code: string): string {
  return `urn:keyward:problem:${code}`;
}

/** RFC 7807 document for any throwable. Server-side failures get a generic detail, never a stack. */
export function toProblem(error: unknown, requestId?: string): Problem {
  const instance = requestId ? `urn:keyward:request:${requestId}` : undefined;
  if (error instanceof KeywardError) {
    const detail = error.isClientError
      ? error.message
      : error.code === "hsm"
        ? "the HSM is not available; the operation was not performed"
        : error.code === "storage"
          ? "the database is not available; the operation was not performed"
          : "the server failed to process the request";
    return {
      ...(error.isClientError ? error.extensions : {}),
      type: problemType(error.code),
      title: TITLES[error.status] ?? "Error",
      status: error.status,
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

function problem(status: number, code: string, detail: string, instance?: string): Problem {
  return {
    type: problemType(code),
    title: TITLES[status] ?? "Error",
    status,
    detail,
    ...(instance ? { instance } : {}),
  };
}

export function sendProblem(res: Response, p: Problem): void {
  res.status(p.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(p));
}

/** The one error handler: logs the cause (with stack) server-side, sends a problem document. */
export function problemHandler(logger: Logger) {
  return (error: unknown, req: Request, res: Response, _next: NextFunction) => {
    const p = toProblem(error, res.locals.requestId as string | undefined);
    if (p.status >= 500)
      logger.error({ err: error, requestId: res.locals.requestId, path: req.path }, "request failed");
    else logger.debug({ requestId: res.locals.requestId, status: p.status, detail: p.detail }, "request refused");
    if (res.headersSent) return;
    if (typeof p.retryAfter === "number") res.setHeader("Retry-After", String(p.retryAfter));
    sendProblem(res, p);
  };
}
