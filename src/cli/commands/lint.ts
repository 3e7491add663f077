import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { identify, issuerContext, lintArtifact, readDer } from "../../lint/artifact.js";
import { createLinter, type LintFinding } from "../../lint/index.js";
import { defaultRules } from "../../lint/rules/index.js";
import { BadRequestError } from "../../errors/index.js";
import { certificateBodyOfLine, parsePublicKeyLine, sshLintRules } from "../../ssh/index.js";
import type { CliContext } from "../context.js";
import type { Output } from "../output.js";

/** `keyward lint FILE`: the gate's rules on any certificate, CRL, OCSP response or OpenSSH certificate; offline. */
export function registerLint(program: Command, ctx: CliContext): void {
  program
    .command("lint")
    .description(
      "lint a certificate, CRL or OCSP response (PEM or DER), or an OpenSSH certificate, with the rules of the signing gate",
    )
    .argument("[file]", "the artifact to lint")
    .option(
      "--issuer <file>",
      "the issuer's certificate (an SSH CA's public key line for OpenSSH certificates): also check the AKI and signature algorithm (the signature key) against its key",
    )
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
        const bytes = readFileSync(file);
        const sshBody = certificateBodyOfLine(bytes.toString("latin1"));
        if (sshBody) {
          // An OpenSSH certificate: the gate's ssh_cert_* rules; --issuer is the CA's public key line.
          const issuer = opts.issuer ? parsePublicKeyLine(readFileSync(opts.issuer, "utf8")) : undefined;
          const findings = createLinter(sshLintRules).findings(
            "ssh-certificate",
            sshBody,
            issuer ? { issuer: { spki: issuer.spki } } : undefined,
          );
          report(out, file, "ssh-certificate", undefined, findings);
          return;
        }
        const artifact = identify(readDer(bytes));
        const context = opts.issuer ? issuerContext(readDer(readFileSync(opts.issuer))) : undefined;
        const findings = lintArtifact(createLinter(defaultRules), artifact, context);
        report(out, file, artifact.target, artifact.note, findings);
      });
    });
}

function report(out: Output, file: string, type: string, note: string | undefined, findings: LintFinding[]): void {
  const errors = findings.filter((f) => f.severity === "error").length;
  out.result({ file, type, note, findings }, () =>
    [
      `${file}: ${type}${note ? ` (${note})` : ""}`,
      ...findings.map((f) => `${f.severity.padEnd(7)} ${f.rule}: ${f.message}`),
      findings.length ? `${errors} error(s), ${findings.length - errors} warning(s)` : "no findings",
    ].join("\n"),
  );
  // Exit 1 as any refused request: the artifact breaks a rule (warnings alone pass).
  if (errors) process.exitCode = 1;
}
