import { BadRequestError } from "../errors/index.js";

/** Option parsers shared by the commands; their messages name the flag that was wrong. */

export function positiveInt(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new BadRequestError(`${flag} must be a positive whole number, got "${value}"`);
  return n;
}

export function parseDate(value: string, flag: string): Date {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw new BadRequestError(`${flag} must be an ISO-8601 date, got "${value}"`);
  return date;
}

/** A comma-separated list, without blanks. */
export function list(value: string): string[] {
  return value
    .split(",")
    .map((v) => v.trim())
    .filter(Boolean);
}

/** A JSON object given on the command line (e.g. extra JWS header members). */
export function jsonObject(value: string, flag: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new BadRequestError(`${flag} must be a JSON object, got text that is not JSON`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    throw new BadRequestError(`${flag} must be a JSON object`);
  return parsed as Record<string, unknown>;
}
