import { writeFileSync } from "node:fs";
import { type Command, Option } from "commander";
import { readOperatorFile } from "../../config/index.js";
import { BadRequestError } from "../../errors/index.js";
import { certificateView } from "../../issuance/index.js";
import { certificatePem } from "../../pki/pem.js";
import { REVOCATION_REASONS, revocationView } from "../../revocation/index.js";
import { cliActor } from "../actor.js";
import { parseDate, positiveInt } from "../arguments.js";
import type { CliContext } from "../context.js";
import { table } from "../output.js";

/** `keyward cert …`: issue, show, list, revoke and release certificates. */
export function registerCertCommands(program: Command, ctx: CliContext): void {
  const cert = program.command("cert").description("certificates");
  cert
    .command("issue")
    .description("issue a certificate from a PKCS#10 CSR")
    .requiredOption("--csr <file>", "PEM CSR file")
    .option("--profile <name>", "certificate profile", "server")
    .option("--validity-days <days>", "validity in days (up to the profile's maximum)", (v) =>
      positiveInt(v, "--validity-days"),
    )
    .option("--out <file>", "write the certificate PEM here instead of stdout")
    .option("--chain-out <file>", "write the issuing chain PEM here")
    .action(async (opts: { csr: string; profile: string; validityDays?: number; out?: string; chainOut?: string }) => {
      await ctx.withServices(async (s, out) => {
        const csr = readOperatorFile(opts.csr, "CSR");
        const issued = await s.issuance.issue({
          csr,
          profile: opts.profile,
          validityDays: opts.validityDays,
          actor: cliActor(),
        });
        const certificate = certificatePem(issued.certificate);
        const chain = issued.chain.map((c) => certificatePem(new Uint8Array(c.rawData))).join("");
        if (opts.out) writeFileSync(opts.out, certificate);
        if (opts.chainOut) writeFileSync(opts.chainOut, chain);
        out.progress(
          `Issued serial ${issued.serial} (profile ${issued.profile}, issuer ${issued.caId}, until ${issued.notAfter.toISOString()})`,
        );
        out.result({ serial: issued.serial, certificate, chain, notAfter: issued.notAfter.toISOString() }, () =>
          opts.out ? `${opts.out}` : certificate,
        );
      });
    });

  cert
    .command("show")
    .description("show a certificate and its status")
    .argument("[serial]", "serial number (hex)")
    .option("--serial <serial>", "serial number (hex)")
    .option("--pem", "print only the certificate PEM")
    .action(async (serialArg: string | undefined, opts: { serial?: string; pem?: boolean }) => {
      await ctx.withServices(async (s, out) => {
        const serial = opts.serial ?? serialArg;
        if (!serial) throw new BadRequestError("give a serial: keyward cert show <serial>");
        const view = certificateView(await s.issuance.get(serial), s.clock.now(), true);
        out.result(view, () =>
          opts.pem
            ? (view.certificate ?? "")
            : table([
                ["serial", view.serial],
                ["status", view.status],
                ["profile", view.profile],
                ["issuer", view.issuer],
                ["subject", view.subject || "(empty)"],
                ["names", view.names.join(", ")],
                ["key", `${view.keyType} sha256:${view.spkiSha256}`],
                ["valid", `${view.notBefore} → ${view.notAfter}`],
                ...(view.revokedAt ? [["revoked", `${view.revokedAt} reason ${view.revocationReason}`]] : []),
              ]),
        );
      });
    });

  cert
    .command("list")
    .description("list certificates")
    .option("--name <text>", "part of a subject or name")
    .addOption(new Option("--status <status>").choices(["valid", "revoked", "expired", "pending", "failed"]))
    .option("--profile <name>")
    .option("--expires-within-days <days>", "only those expiring within N days", (v) =>
      positiveInt(v, "--expires-within-days"),
    )
    .option("--limit <n>", "at most this many", (v) => positiveInt(v, "--limit"), 100)
    .action(
      async (opts: {
        name?: string;
        status?: "valid";
        profile?: string;
        expiresWithinDays?: number;
        limit: number;
      }) => {
        await ctx.withServices(async (s, out) => {
          const now = s.clock.now();
          const records = await s.issuance.list({
            name: opts.name,
            status: opts.status,
            profile: opts.profile,
            expiresAfter: opts.expiresWithinDays ? now : undefined,
            expiresBefore: opts.expiresWithinDays
              ? new Date(now.getTime() + opts.expiresWithinDays * 86_400_000)
              : undefined,
            limit: opts.limit,
          });
          const items = records.map((r) => certificateView(r, now, false));
          out.result({ items }, () =>
            items.length === 0
              ? "No certificates match."
              : table([
                  ["SERIAL", "STATUS", "PROFILE", "NOT AFTER", "NAMES"],
                  ...items.map((c) => [c.serial, c.status, c.profile, c.notAfter.slice(0, 10), c.names.join(", ")]),
                ]),
          );
        });
      },
    );

  cert
    .command("revoke")
    .description("revoke a certificate (RFC 5280 reason; keyCompromise also blocks its key)")
    .argument("[serial]", "serial number (hex)")
    .option("--serial <serial>", "serial number (hex)")
    .addOption(new Option("--reason <reason>", "revocation reason").choices(REVOCATION_REASONS).default("unspecified"))
    .option("--invalidity-date <iso>", "when the key is known or suspected to have been compromised")
    .action(
      async (serialArg: string | undefined, opts: { serial?: string; reason: string; invalidityDate?: string }) => {
        await ctx.withServices(async (s, out) => {
          const serial = opts.serial ?? serialArg;
          if (!serial) throw new BadRequestError("give a serial: keyward cert revoke <serial> --reason <reason>");
          const invalidityDate = opts.invalidityDate ? parseDate(opts.invalidityDate, "--invalidity-date") : undefined;
          const result = await s.revocation.revoke({ serial, reason: opts.reason, invalidityDate, actor: cliActor() });
          // The CLI exits at once: sign the CRL now instead of after the server's debounce.
          const crl = await s.crl.generate((await s.issuance.get(serial)).caId, cliActor());
          out.result(
            { ...revocationView(result), crlNumber: crl.number },
            () => `Revoked ${result.serial} (${result.reason}); OCSP answers re-signed, CRL ${crl.number} published.`,
          );
        });
      },
    );

  cert
    .command("release")
    .description("release a certificate from certificateHold")
    .argument("<serial>", "serial number (hex)")
    .action(async (serial: string) => {
      await ctx.withServices(async (s, out) => {
        const result = await s.revocation.release(serial, cliActor());
        const crl = await s.crl.generate((await s.issuance.get(serial)).caId, cliActor());
        out.result(
          { ...revocationView(result), crlNumber: crl.number },
          () => `Released ${result.serial}: valid again; CRL ${crl.number} published.`,
        );
      });
    });
}
