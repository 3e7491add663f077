import { type Command, Option } from "commander";
import { REASONS, REVOCATION_REASONS, reasonName } from "../../revocation/index.js";
import { positiveInt } from "../arguments.js";
import type { CliContext } from "../context.js";
import { table } from "../output.js";

/** `keyward revocations`: list revocations. */
export function registerRevocations(program: Command, ctx: CliContext): void {
  program
    .command("revocations")
    .description("list revocations")
    .option("--issuer <ca-id>")
    .addOption(new Option("--reason <reason>").choices(REVOCATION_REASONS))
    .option("--limit <n>", "at most this many", (v) => positiveInt(v, "--limit"), 100)
    .action(async (opts: { issuer?: string; reason?: keyof typeof REASONS; limit: number }) => {
      await ctx.withServices(async (s, out) => {
        const items = (
          await s.revocation.list({
            caId: opts.issuer,
            reason: opts.reason ? REASONS[opts.reason] : undefined,
            limit: opts.limit,
          })
        ).map((r) => ({
          serial: r.serial,
          issuer: r.caId,
          reason: reasonName(r.reason),
          revokedAt: r.revokedAt.toISOString(),
        }));
        out.result({ items }, () =>
          items.length === 0
            ? "No revocations."
            : table([
                ["SERIAL", "ISSUER", "REASON", "REVOKED AT"],
                ...items.map((r) => [r.serial, r.issuer, r.reason ?? "", r.revokedAt]),
              ]),
        );
      });
    });
}
