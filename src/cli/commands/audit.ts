import { once } from "node:events";
import { createWriteStream } from "node:fs";
import type { Command } from "commander";
import { auditView } from "../../audit/index.js";
import { positiveInt } from "../arguments.js";
import type { CliContext } from "../context.js";
import { table } from "../output.js";

/** `keyward audit …`: verify, checkpoint, export and read the audit log. */
export function registerAuditCommands(program: Command, ctx: CliContext): void {
  const audit = program.command("audit").description("the tamper-evident audit log");
  audit
    .command("verify")
    .description("recompute the hash chain and check every signed checkpoint (exit 1 when broken)")
    .action(async () => {
      await ctx.withServices(async (s, out) => {
        out.progress("Verifying the audit chain…");
        const result = await s.audit.verify();
        out.result(result, () =>
          result.ok
            ? `OK: ${result.events} events, ${result.checkpoints} signed checkpoints, chain intact.`
            : `BROKEN at event ${result.problem!.seq} (${result.problem!.kind}): ${result.problem!.detail}`,
        );
        if (!result.ok) process.exitCode = 1;
      });
    });
  audit
    .command("checkpoint")
    .description("sign a checkpoint of the chain head now with the HSM audit key")
    .action(async () => {
      await ctx.withServices(async (s, out) => {
        const checkpoint = await s.audit.checkpoint();
        out.result(
          checkpoint ? { seq: checkpoint.seq, hash: checkpoint.hash, at: checkpoint.at } : { seq: null },
          () =>
            checkpoint ? `Checkpoint signed at event ${checkpoint.seq}.` : "Nothing new since the last checkpoint.",
        );
      });
    });
  audit
    .command("export")
    .description("write every event and checkpoint as JSON Lines, with the signer chain, for offline verification")
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
