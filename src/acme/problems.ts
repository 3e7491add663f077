import { KeywardError } from "../errors/index.js";
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

/** An error that leaves the ACME edge as `urn:ietf:params:acme:error:<type>`. */
export class AcmeError extends KeywardError {
  static withSubproblems(type: AcmeProblemType, message: string, subproblems: AcmeError[], identifiers: Identifier[]) {
    // RFC 8555 §6.7.1: one problem per identifier, each naming the identifier it is about.
    return new AcmeError(type, message, {
      subproblems: subproblems.map((p, i) => ({
        type: `urn:ietf:params:acme:error:${p.acmeType}`,
        detail: p.message,
        identifier: identifiers[i],
      })),
    });
  }

  readonly acmeType: AcmeProblemType;
  readonly httpStatus: number;

  constructor(type: AcmeProblemType, message: string, extensions?: Record<string, unknown>, status?: number) {
    super(type === "serverInternal" ? "internal" : "badRequest", message, { extensions });
    this.acmeType = type;
    this.httpStatus = status ?? ACME_PROBLEMS[type];
  }
}

/** Keyward's general errors as ACME problem types (RFC 8555 §6.7). */
export function acmeTypeOf(error: KeywardError): { type: AcmeProblemType; status: number } {
  if (error instanceof AcmeError) return { type: error.acmeType, status: error.httpStatus };
  switch (error.code) {
    case "badCSR":
      return { type: "badCSR", status: 400 };
    case "policyViolation":
      return { type: "rejectedIdentifier", status: 400 };
    case "unauthorized":
    case "forbidden":
      return { type: "unauthorized", status: 403 };
    case "notFound":
      return { type: "malformed", status: 404 };
    case "payloadTooLarge":
      return { type: "malformed", status: 413 };
    case "unsupportedMediaType":
      return { type: "malformed", status: 415 };
    case "conflict":
    case "badRequest":
      return { type: "malformed", status: error.status };
    default:
      return { type: "serverInternal", status: Math.max(error.status, 500) };
  }
}
