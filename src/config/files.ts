import { readFileSync } from "node:fs";
import { BadRequestError } from "../errors/index.js";

/**
 * A file the operator names, on the command line ('-' reads stdin) or in the configuration (TLS
 * certificate and key). A file that cannot be read is a mistake in the request, said with its path.
 */
export function readOperatorFile(path: string, what: string): string {
  try {
    return readFileSync(path === "-" ? 0 : path, "utf8");
  } catch (error) {
    throw new BadRequestError(
      `cannot read the ${what} file ${path}: ${(error as NodeJS.ErrnoException).code ?? "error"}`,
    );
  }
}
