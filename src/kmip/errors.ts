import {
  BadRequestError,
  ConflictError,
  ForbiddenError,
  NotFoundError,
  PolicyError,
  UnauthorizedError,
} from "../errors/index.js";
import type { ResultReasonName } from "./spec.js";

/** A refusal in KMIP's own terms: the result reason and a message for the client. */
export class KmipError extends Error {
  override name = "KmipError";
  constructor(
    readonly reason: ResultReasonName,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The one mapping from Keyward's errors to KMIP result reasons (the edge's, as http/problem.ts is
 * HTTP's). Anything unexpected is a General Failure whose message says nothing of the cause: the
 * caller logs it.
 */
export function kmipErrorOf(error: unknown): { error: KmipError; expected: boolean } {
  if (error instanceof KmipError) return { error, expected: true };
  const as = (reason: ResultReasonName) => ({ error: new KmipError(reason, (error as Error).message), expected: true });
  if (error instanceof NotFoundError) return as("ItemNotFound");
  if (error instanceof ForbiddenError) return as("PermissionDenied");
  if (error instanceof UnauthorizedError) return as("AuthenticationNotSuccessful");
  // Wrong lifecycle state: KMIP 1.x has no Wrong Key Lifecycle State (2.0's), Illegal Operation is its word.
  if (error instanceof ConflictError) return as("IllegalOperation");
  if (error instanceof BadRequestError || error instanceof PolicyError) return as("InvalidField");
  return {
    error: new KmipError("GeneralFailure", "the server could not complete the operation; see its log"),
    expected: false,
  };
}
