import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { identify, issuerContext, lintArtifact, readDer } from "../../lint/artifact.js";
import { createLinter } from "../../lint/index.js";
import { defaultRules } from "../../lint/rules/index.js";
import { BadRequestError } from "../../errors/index.js";
import { sshLintRules } from "../../ssh/index.js";
import type { CliContext } from "../context.js";

/** `keyward lint FILE`: the gate's rules on any certificate, CRL or OCSP response; offline. */
export function registerLint(program: Command, ctx: CliContext): void {
  program
    .command("lint")
    .description("lint a certificate, CRL or OCSP response (PEM or DER) with the rules of the signing gate")
    .argument("[file]", "the artifact to lint")
    .option("--issuer <file>", "the issuer's certificate: also check the AKI and signature algorithm against its key")
    .option("--rules", "list the rules (name, target, severity, what each checks) instead")
    .action(async (file: string | undefined, opts: { issuer?: string; rules?: boolean }) => {
      await ctx.run((out) => {
        if (opts.rules || !file) {
          if (!opts.rules) throw new BadRequestError("name the file to lint, or --rules to list the rules");
          // The SSH certificate rules live with the SSH encoding (src/ssh); the gate runs them too.
          const rules = [...defaultRules, ...sshLintRules].map((r) => ({
            name: r.name,
            target: r.targets.join(","),
            severity: r.severity,
            description: r.description ?? "",
          }));
          out.result({ rules }, () =>
            rules.map((r) => `${r.target.padEnd(15)} ${r.severity.padEnd(7)} ${r.name}\n  ${r.description}`).join("\n"),
          );
          return;
        }
        const artifact = identify(readDer(readFileSync(file)));
        const context = opts.issuer ? issuerContext(readDer(readFileSync(opts.issuer))) : undefined;
        const findings = lintArtifact(createLinter(defaultRules), artifact, context);
        const errors = findings.filter((f) => f.severity === "error").length;
        out.result({ file, type: artifact.target, note: artifact.note, findings }, () =>
          [
            `${file}: ${artifact.target}${artifact.note ? ` (${artifact.note})` : ""}`,
            ...findings.map((f) => `${f.severity.padEnd(7)} ${f.rule}: ${f.message}`),
            findings.length ? `${errors} error(s), ${findings.length - errors} warning(s)` : "no findings",
          ].join("\n"),
        );
        // Exit 1 as any refused request: the artifact breaks a rule (warnings alone pass).
        if (errors) process.exitCode = 1;
      });
    });
}
