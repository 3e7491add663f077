import type { ErrorCode } from "../errors/index.js";
import { KeywardError } from "../errors/index.js";

export interface Output {
  json: boolean;
  /** The command's result: JSON in --json mode, otherwise the human text. */
  result(value: unknown, human: () => string): void;
  /** Progress and notes for people; silent in --json mode, always on stderr. */
  progress(message: string): void;
}

export function createOutput(json: boolean): Output {
  return {
    json,
    result(value, human) {
      const text = json ? JSON.stringify(value, null, 2) : human();
      if (text) process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
    },
    progress(message) {
      if (!json) process.stderr.write(`${message}\n`);
    },
  };
}

/**
 * The CLI's one error table: the exit code of each domain error. 1: the request was refused (fix it
 * and run again); 2: Keyward failed (its configuration, token or storage, or a lint rule on what it
 * was about to sign). The message is always the error's own: the CLI runs on the operator's machine,
 * so unlike the HTTP edge it hides no detail.
 */
const EXIT_CODES: Record<ErrorCode, 1 | 2> = {
  badRequest: 1,
  badCSR: 1,
  policyViolation: 1,
  badRecipient: 1,
  unauthorized: 1,
  forbidden: 1,
  notFound: 1,
  conflict: 1,
  payloadTooLarge: 1,
  unsupportedMediaType: 1,
  tooManyRequests: 1,
  config: 2,
  hsm: 2,
  hsmKeyMissing: 2,
  hsmUnsupported: 2,
  hsmFailed: 2,
  storage: 2,
  lint: 2,
  internal: 2,
};

/** How the CLI reports an error: anything that is not a domain error is "internal" (exit 2). */
export function cliError(error: unknown): { code: ErrorCode; message: string; exitCode: 1 | 2 } {
  const code = error instanceof KeywardError ? error.code : "internal";
  const message = error instanceof Error ? error.message : String(error);
  return { code, message, exitCode: EXIT_CODES[code] };
}

/** Errors as one line for people, or `{"error": {...}}` for scripts. Never a stack for known errors. */
export function reportError(error: unknown, json: boolean): number {
  const { code, message, exitCode } = cliError(error);
  if (json) process.stdout.write(`${JSON.stringify({ error: { code, detail: message } })}\n`);
  else process.stderr.write(`keyward: ${message}\n`);
  if (!(error instanceof KeywardError) && process.env.KEYWARD_DEBUG) console.error(error);
  return exitCode;
}

/** Fixed-width columns for tables in human output. */
export function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows
    .map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  "))
    .join("\n");
}

/** A date as YYYY-MM-DD, for table columns. */
export const day = (d: Date) => d.toISOString().slice(0, 10);
