import { readFileSync } from "node:fs";
import { ConfigError } from "../errors/index.js";

/**
 * Reads the token PIN from its configured source: `file:/path` (first line of the file) or
 * `env:NAME`. Errors name the source, never the PIN.
 */
export function readPin(source: string, env: NodeJS.ProcessEnv = process.env): string {
  if (source.startsWith("env:")) {
    const name = source.slice(4);
    const value = env[name];
    if (!value) throw new ConfigError(`HSM PIN source ${source}: environment variable ${name} is not set`);
    return value;
  }
  if (source.startsWith("file:")) {
    const path = source.slice(5);
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (error) {
      throw new ConfigError(
        `HSM PIN source ${source}: cannot read the file (${(error as NodeJS.ErrnoException).code})`,
      );
    }
    const pin = text.split(/\r?\n/)[0]?.trim() ?? "";
    if (!pin) throw new ConfigError(`HSM PIN source ${source}: the file is empty`);
    return pin;
  }
  throw new ConfigError(`HSM PIN source must be "file:<path>" or "env:<NAME>", got "${source.split(":")[0]}:…"`);
}
