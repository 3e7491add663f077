import type { Command } from "commander";
import { runServer } from "../../main.js";
import { positiveInt } from "../arguments.js";
import type { CliContext } from "../context.js";

/** `keyward serve`: the options; the server process itself (workers, signals, shutdown) is src/main.ts. */
export function registerServe(program: Command, ctx: CliContext): void {
  program
    .command("serve")
    .description("serve the CA over HTTP (KEYWARD_LISTEN, default 127.0.0.1:8080)")
    .option("--listen <host:port>", "address to listen on")
    .option("--workers <n>", "processes sharing the port, one core each (KEYWARD_WORKERS, default 1)", (v) =>
      positiveInt(v, "--workers"),
    )
    .action(async (opts: { listen?: string; workers?: number }) => {
      await ctx.run(async (out) => {
        const config = ctx.config({
          ...(opts.listen ? { listen: opts.listen } : {}),
          ...(opts.workers ? { workers: opts.workers } : {}),
        });
        await runServer(config, ({ url, workers }) =>
          workers
            ? out.result({ url, workers }, () => `Keyward listening on ${url} (${workers} workers)`)
            : out.result({ url }, () => `Keyward listening on ${url}`),
        );
      });
    });
}
