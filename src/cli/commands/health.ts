import type { Command } from "commander";
import type { CliContext } from "../context.js";
import { table } from "../output.js";

/** `keyward health`: what /ready checks, with every detail, from the operator's shell. */
export function registerHealth(program: Command, ctx: CliContext): void {
  program
    .command("health")
    .description(
      "each capability: database, token, CA keys, OCSP responder keys, CRLs, audit signer, KMS signer (exit 1 when one fails)",
    )
    .action(async () => {
      await ctx.withServices(async (s, out) => {
        const readiness = await s.readiness();
        out.result(readiness, () =>
          [
            readiness.ready ? "READY" : "NOT READY",
            table(readiness.components.map((c) => [`  ${c.component}`, c.status, c.detail])),
          ].join("\n"),
        );
        if (!readiness.ready) process.exitCode = 1;
      });
    });
}
