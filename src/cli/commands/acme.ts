import type { Command } from "commander";
import { BadRequestError } from "../../errors/index.js";
import { normalizeSerial } from "../../pki/serial.js";
import { cliActor } from "../actor.js";
import type { CliContext } from "../context.js";

/** `keyward acme …`: external account binding keys and early renewal (ARI). */
export function registerAcmeCommands(program: Command, ctx: CliContext): void {
  const acmeCommand = program.command("acme").description("ACME administration");
  acmeCommand
    .command("eab")
    .description("external account binding keys")
    .command("create")
    .description("create a key id and HMAC key for one ACME account (the HMAC key is shown once)")
    .option("--name <name>", "who the binding is for", "acme-account")
    .action(async (opts: { name: string }) => {
      await ctx.withServices(async (s, out) => {
        const created = await s.acme.accounts.createExternalAccountKey(opts.name, cliActor());
        out.progress(`External account key for "${opts.name}"; the HMAC key is shown only once:`);
        out.result(created, () => `kid:      ${created.kid}\nhmac key: ${created.hmacKey}`);
      });
    });

  acmeCommand
    .command("renew-early")
    .description("ask ACME clients to renew now (RFC 9773 ARI), e.g. after a key compromise or before a CA rollover")
    .option("--serial <serial...>", "certificates to renew")
    .option("--ca <id>", "every unexpired certificate of this CA")
    .option("--hours <n>", "length of the renewal window from now", "1")
    .option("--explanation-url <url>", "page that tells subscribers why")
    .action(async (opts: { serial?: string[]; ca?: string; hours: string; explanationUrl?: string }) => {
      await ctx.withServices(async (s, out) => {
        if (!opts.serial === !opts.ca) throw new BadRequestError("give either --serial or --ca");
        const hours = Number(opts.hours);
        if (!(hours > 0 && hours <= 24 * 90)) throw new BadRequestError("--hours must be between 0 and 2160");
        const start = s.clock.now();
        const result = await s.acme.renewals.forceRenewal(
          opts.ca ? { caId: opts.ca } : { serials: opts.serial!.map(normalizeSerial) },
          {
            start,
            end: new Date(start.getTime() + hours * 3_600_000),
            explanationUrl: opts.explanationUrl,
            actor: cliActor(),
          },
        );
        out.result(
          { certificates: result.certificates, window: { start: result.window.start, end: result.window.end } },
          () =>
            `${result.certificates} certificate(s) now ask ACME clients to renew between ${result.window.start.toISOString()} and ${result.window.end.toISOString()}`,
        );
      });
    });
}
