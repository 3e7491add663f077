import { type ErrorCode, KeywardError } from "../errors/index.js";
import type { Identifier } from "./ports.js";

/** RFC 8555 §6.7 error types Keyward uses, with their HTTP status. */
export const ACME_PROBLEMS = {
  accountDoesNotExist: 400,
  alreadyReplaced: 409,
  alreadyRevoked: 400,
  badCSR: 400,
  caa: 403,
  connection: 400,
  dns: 400,
  incorrectResponse: 400,
  invalidProfile: 400,
  tls: 400,
  badPublicKey: 400,
  badNonce: 400,
  badRevocationReason: 400,
  badSignatureAlgorithm: 400,
  malformed: 400,
  orderNotReady: 403,
  rateLimited: 429,
  rejectedIdentifier: 400,
  serverInternal: 500,
  unauthorized: 403,
  unsupportedContact: 400,
  unsupportedIdentifier: 400,
  externalAccountRequired: 400,
} as const;
export type AcmeProblemType = keyof typeof ACME_PROBLEMS;

/** The general error code an AcmeError of this HTTP status carries, for the edges that are not ACME. */
const CODE_OF_STATUS: Record<number, ErrorCode> = {
  400: "badRequest",
  403: "forbidden",
  404: "notFound",
  409: "conflict",
  413: "payloadTooLarge",
  415: "unsupportedMediaType",
  429: "tooManyRequests",
  500: "internal",
};

/** An error that leaves the ACME edge as `urn:ietf:params:acme:error:<type>`. */
export class AcmeError extends KeywardError {
  static withSubproblems(type: AcmeProblemType, message: string, subproblems: AcmeError[], identifiers: Identifier[]) {
    // RFC 8555 §6.7.1: one problem per identifier, each naming the identifier it is about.
    return new AcmeError(type, message, {
      subproblems: subproblems.map((p, i) => ({
        type: problemTypeUrn(p.acmeType),
        detail: p.message,
        identifier: identifiers[i],
      })),
    });
  }

  readonly acmeType: AcmeProblemType;
  /** The HTTP status the ACME client sees. */
  readonly status: number;

  /** `status` defaults to the type's (ACME_PROBLEMS); a few answers need another (404, 409, 415). */
  constructor(type: AcmeProblemType, message: string, extensions?: Record<string, unknown>, status?: number) {
    const httpStatus = status ?? ACME_PROBLEMS[type];
    const code = CODE_OF_STATUS[httpStatus];
    if (!code) throw new TypeError(`no error code has HTTP status ${httpStatus}`);
    super(code, message, { extensions });
    this.acmeType = type;
    this.status = httpStatus;
  }
}

/**
 * The one table from Keyward's general errors to ACME problem types (RFC 8555 §6.7), with the HTTP
 * status of the answer. AcmeErrors carry their own type and status.
 */
const ACME_TYPE_OF_CODE: Record<ErrorCode, { type: AcmeProblemType; status: number }> = {
  badCSR: { type: "badCSR", status: 400 },
  policyViolation: { type: "rejectedIdentifier", status: 400 },
  badRequest: { type: "malformed", status: 400 },
  unauthorized: { type: "unauthorized", status: 403 },
  forbidden: { type: "unauthorized", status: 403 },
  notFound: { type: "malformed", status: 404 },
  conflict: { type: "malformed", status: 409 },
  payloadTooLarge: { type: "malformed", status: 413 },
  unsupportedMediaType: { type: "malformed", status: 415 },
  // Not an ACME client's doing on these routes: a recipient check or the admin API's rate limit.
  badRecipient: { type: "serverInternal", status: 500 },
  tooManyRequests: { type: "serverInternal", status: 500 },
  config: { type: "serverInternal", status: 500 },
  lint: { type: "serverInternal", status: 500 },
  internal: { type: "serverInternal", status: 500 },
  hsm: { type: "serverInternal", status: 503 },
  hsmKeyMissing: { type: "serverInternal", status: 500 },
  hsmUnsupported: { type: "serverInternal", status: 500 },
  hsmFailed: { type: "serverInternal", status: 500 },
  storage: { type: "serverInternal", status: 503 },
};

/** Keyward's general errors as ACME problem types (RFC 8555 §6.7). */
export function acmeTypeOf(error: KeywardError): { type: AcmeProblemType; status: number } {
  if (error instanceof AcmeError) return { type: error.acmeType, status: error.status };
  return ACME_TYPE_OF_CODE[error.code];
}

export interface AcmeProblem {
  type: string;
  status: number;
  detail: string;
  [extension: string]: unknown;
}

function problemTypeUrn(type: AcmeProblemType): string {
  return `urn:ietf:params:acme:error:${type}`;
}

/**
 * An error as an ACME problem, for a response (with the client error's extensions, and the
 * Retry-After it asks for) or as recorded on an order or challenge (type, status and detail only).
 * Problem documents for ACME are built here and nowhere else; server-side failures get a generic
 * detail, never their message.
 */
function problemOf(
  error: unknown,
  serverDetail: string,
  withExtensions: boolean,
): { problem: AcmeProblem; retryAfter?: number } {
  let type: AcmeProblemType;
  let status: number;
  let detail: string;
  let extensions: Record<string, unknown> = {};
  let retryAfter: number | undefined;
  if (error instanceof KeywardError) {
    ({ type, status } = acmeTypeOf(error));
    detail = status < 500 ? error.message : (error.publicDetail ?? serverDetail);
    if (status < 500 && withExtensions) {
      const { retryAfter: seconds, ...rest } = error.extensions;
      extensions = rest;
      if (typeof seconds === "number") retryAfter = seconds;
    }
  } else {
    [type, status, detail] = ["serverInternal", 500, serverDetail];
  }
  return {
    problem: { ...extensions, type: problemTypeUrn(type), status, detail },
    ...(retryAfter === undefined ? {} : { retryAfter }),
  };
}

/** The problem document an ACME request is answered with, and the Retry-After it asks for. */
export function problemResponse(error: unknown): { problem: AcmeProblem; retryAfter?: number } {
  return problemOf(error, "the server failed to process the request", true);
}

/** The problem an order or challenge records (RFC 8555 §7.1.3, §7.1.5): type, status and detail. */
export function recordedProblem(error: unknown): AcmeProblem {
  return problemOf(error, "the server failed", false).problem;
}
