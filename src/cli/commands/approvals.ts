import { type Command, Option } from "commander";
import { approvalView } from "../../access/index.js";
import type { CliContext } from "../context.js";
import { table } from "../output.js";

/** `keyward approvals`: the approval requests of sensitive operations. */
export function registerApprovals(program: Command, ctx: CliContext): void {
  program
    .command("approvals")
    .description("approval requests for sensitive operations (approve or reject them through the API or console)")
    .addOption(new Option("--status <status>").choices(["pending", "executed", "rejected", "expired", "failed"]))
    .action(async (opts: { status?: "pending" | "executed" | "rejected" | "expired" | "failed" }) => {
      await ctx.withServices(async (s, out) => {
        const items = (await s.approvals.list({ status: opts.status, limit: 100 })).map(approvalView);
        out.result({ items }, () =>
          table([
            ["ID", "STATUS", "OPERATION", "BY", "VOTES", "EXPIRES", "SUMMARY"],
            ...items.map((a) => [
              a.id,
              a.status,
              a.operation,
              a.requestedBy.name,
              `${a.votes.filter((v) => v.decision === "approve").length}/${a.requiredApprovals}`,
              a.expiresAt,
              a.summary,
            ]),
          ]),
        );
      });
    });
}
