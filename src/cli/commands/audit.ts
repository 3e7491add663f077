import { once } from "node:events";
import { createWriteStream } from "node:fs";
import type { Command } from "commander";
import { auditView, treeHeadJson } from "../../audit/index.js";
import { positiveInt } from "../arguments.js";
import type { CliContext } from "../context.js";
import { table } from "../output.js";

/** `keyward audit …`: verify, checkpoint, export and read the audit log. */
export function registerAuditCommands(program: Command, ctx: CliContext): void {
  const audit = program.command("audit").description("the tamper-evident audit log");
  audit
    .command("verify")
    .description(
      "rebuild the Merkle tree from the events and check every signed tree head in the database and the witness (exit 1 when broken)",
    )
    .option("--witness <file>", "the witness file to hold the database against (default: audit.witness when it exists)")
    .option("--since-sth <file>", "a signed tree head kept earlier: the log must have only grown since")
    .action(async (opts: { witness?: string; sinceSth?: string }) => {
      await ctx.withServices(async (s, out) => {
        out.progress("Verifying the audit log…");
        const result = await s.audit.verify({ witness: opts.witness, sinceTreeHead: opts.sinceSth });
        out.result(result, () =>
          result.ok
            ? `OK: ${result.events} events, ${result.treeHeads} signed tree heads${
                result.witnessed === undefined ? "" : `, ${result.witnessed} in the witness`
              }, covering ${result.coveredSize} events.`
            : [
                `BROKEN at event ${result.problem!.seq} (${result.problem!.kind}): ${result.problem!.detail}`,
                ...result.problems.slice(1).map((p) => `  also: ${p.detail}`),
              ].join("\n"),
        );
        if (!result.ok) process.exitCode = 1;
      });
    });
  for (const name of ["tree-head", "checkpoint"]) {
    audit
      .command(name)
      .description(
        name === "checkpoint"
          ? "the same as tree-head"
          : "sign a tree head over the stored events now with the HSM audit key",
      )
      .action(async () => {
        await ctx.withServices(async (s, out) => {
          const head = await s.audit.treeHead();
          out.result(head ? treeHeadJson(head) : { size: null }, () =>
            head ? `Tree head signed over ${head.size} events.` : "Nothing new since the last tree head.",
          );
        });
      });
  }
  audit
    .command("export")
    .description(
      "write every event and signed tree head as JSON Lines, with the signer chain, for offline verification",
    )
    .requiredOption("--out <file>", "JSON Lines file to write")
    .action(async (opts: { out: string }) => {
      await ctx.withServices(async (s, out) => {
        const file = createWriteStream(opts.out, { mode: 0o600 });
        let lines = 0;
        for await (const line of s.audit.export()) {
          if (!file.write(line)) await once(file, "drain");
          if (++lines % 10_000 === 0) out.progress(`${lines} lines…`);
        }
        file.end();
        await once(file, "finish");
        out.result({ file: opts.out, lines }, () => `Wrote ${lines} lines to ${opts.out}.`);
      });
    });
  audit
    .command("list")
    .description("show audit events, oldest first")
    .option("--action <action>", "only this action, e.g. certificate.revoke")
    .option("--after <seq>", "events after this sequence number", (v) => positiveInt(v, "--after"))
    .option("--limit <n>", "at most this many", (v) => positiveInt(v, "--limit"), 100)
    .action(async (opts: { action?: string; after?: number; limit: number }) => {
      await ctx.withServices(async (s, out) => {
        const items = await s.audit.search({ action: opts.action, afterSeq: opts.after, limit: opts.limit });
        out.result({ items: items.map(auditView) }, () =>
          table([
            ["SEQ", "AT", "ACTION", "ACTOR", "TARGET", "OUTCOME"],
            ...items.map((e) => [
              String(e.seq),
              e.at.toISOString(),
              e.action,
              e.actor.name,
              e.target ? `${e.target.type}:${e.target.id}` : "",
              e.outcome,
            ]),
          ]),
        );
      });
    });
}
