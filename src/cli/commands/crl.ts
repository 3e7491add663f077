import { writeFileSync } from "node:fs";
import type { Command } from "commander";
import { cliActor } from "../actor.js";
import { ceremonyWitnesses } from "../ceremony.js";
import type { CliContext } from "../context.js";

/** `keyward crl`: sign a CRL now (the root's at a ceremony when the root is offline). */
export function registerCrl(program: Command, ctx: CliContext): void {
  program
    .command("crl")
    .description("sign a new CRL now: `crl root` for the root (needs the root key), `crl <ca-id>` for an intermediate")
    .argument("[ca]", "CA id", "")
    .option("--out <file>", "also write the DER CRL here")
    .option("--witness <name:otp...>", "offline root: a ceremony witness and their current one-time code")
    .action(async (caArg: string, opts: { out?: string; witness?: string[] }) => {
      await ctx.withServices(async (s, out) => {
        const caId = caArg === "root" || caArg === "" ? (await s.ca.root()).id : caArg;
        const ca = await s.ca.get(caId);
        const ceremony = ca.kind === "root" ? await ceremonyWitnesses(s, undefined, opts.witness ?? []) : undefined;
        const crl = await s.crl.generate(ca.id, cliActor());
        if (ceremony?.rootToken) {
          await s.audit.record({
            action: "ceremony.sign-root-crl",
            actor: cliActor(),
            target: { type: "ca", id: ca.id },
            outcome: "success",
            details: { rootToken: ceremony.rootToken, witnesses: ceremony.witnesses, number: crl.number },
          });
        }
        if (opts.out) writeFileSync(opts.out, crl.der);
        out.result(
          {
            ca: ca.id,
            number: crl.number,
            thisUpdate: crl.thisUpdate.toISOString(),
            nextUpdate: crl.nextUpdate.toISOString(),
            bytes: crl.der.length,
          },
          () =>
            `CRL ${crl.number} for ${ca.id} signed; valid until ${crl.nextUpdate.toISOString()} (${crl.der.length} bytes). Served at ${s.config.baseUrl}/crl/${ca.id}.crl`,
        );
      });
    });
}
