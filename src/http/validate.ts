import type { z } from "zod";
import { BadRequestError } from "../errors/index.js";

/** Validates untrusted input; the detail names every offending field. */
export function parseInput<T extends z.ZodType>(schema: T, input: unknown, what: string): z.infer<T> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => (i.path.length ? `${i.path.join(".")}: ${i.message}` : i.message));
  throw new BadRequestError(`invalid ${what}: ${problems.join("; ")}`);
}
