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

/** Errors as one line for people, or `{"error": {...}}` for scripts. Never a stack for known errors. */
export function reportError(error: unknown, json: boolean): number {
  const known = error instanceof KeywardError;
  const code = known ? error.code : "internal";
  const message = error instanceof Error ? error.message : String(error);
  if (json) process.stdout.write(`${JSON.stringify({ error: { code, detail: message } })}\n`);
  else process.stderr.write(`keyward: ${message}\n`);
  if (!known && process.env.KEYWARD_DEBUG) console.error(error);
  return known && error.isClientError ? 1 : 2;
}

/** Fixed-width columns for tables in human output. */
export function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows
    .map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  "))
    .join("\n");
}
