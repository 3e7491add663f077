import type { Command } from "commander";
import { compose, type Services } from "../compose.js";
import { type Config, loadConfig } from "../config/index.js";
import { checkCsrsWithoutThreads } from "../issuance/index.js";
import { createLogger } from "../log.js";
import { createOutput, type Output, reportError } from "./output.js";

/** The program's global options, read when a command runs. */
interface GlobalOptions {
  json?: boolean;
  dataDir?: string;
}

/** What every command group's registration gets: how to run a command the CLI way. */
export interface CliContext {
  /** The configuration, with --data-dir and these overrides applied. */
  config(overrides?: Record<string, unknown>): Config;
  /** Runs a command that opens nothing (offline work, or `serve`), reporting its errors the CLI way. */
  run(work: (out: Output) => void | Promise<void>): Promise<void>;
  /** Runs a command with the service graph open, reporting errors the CLI way, closing everything after. */
  withServices(
    work: (services: Services, out: Output) => Promise<void>,
    overrides?: Record<string, unknown>,
  ): Promise<void>;
}

export function createContext(program: Command): CliContext {
  const config = (overrides: Record<string, unknown> = {}): Config => {
    const opts = program.opts<GlobalOptions>();
    return loadConfig({ overrides: { ...(opts.dataDir ? { dataDir: opts.dataDir } : {}), ...overrides } });
  };
  const output = () => createOutput(program.opts<GlobalOptions>().json ?? false);
  return {
    config,
    async run(work) {
      const out = output();
      try {
        await work(out);
      } catch (error) {
        process.exitCode = reportError(error, out.json);
      }
    },
    async withServices(work, overrides) {
      const out = output();
      let services: Services | undefined;
      try {
        const settings = config(overrides);
        // A command signs and checks a handful of objects: starting threads would take longer.
        await checkCsrsWithoutThreads();
        services = await compose(
          { ...settings, hsm: { ...settings.hsm, signingThreads: 0 } },
          { logger: createLogger("warn") },
        );
        const before = await services.audit.lastSeq();
        await work(services, out);
        // What this command recorded is covered by a signed tree head before it exits (no server may run).
        // The command's work is committed: a tree head the token cannot sign (e.g. no EC on an
        // RSA-only token) is a warning here, not a failed command; `audit verify` and /ready say it.
        if ((await services.audit.lastSeq()) > before) {
          await services.audit.treeHead().catch((error: unknown) => {
            process.stderr.write(
              `warning: the audit tree head covering this command could not be signed: ${(error as Error).message}\n`,
            );
          });
        }
      } catch (error) {
        process.exitCode = reportError(error, out.json);
      } finally {
        await services?.close();
      }
    },
  };
}
