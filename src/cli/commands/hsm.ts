import type { Command } from "commander";
import { checkToken } from "../../compose.js";
import type { HsmReport } from "../../hsm/index.js";
import type { CliContext } from "../context.js";
import { table } from "../output.js";

/** `keyward hsm check`: what the configured token can do and how Keyward uses it, feature by feature. */
export function registerHsmCommands(program: Command, ctx: CliContext): void {
  program
    .command("hsm")
    .description("the PKCS#11 token")
    .command("check")
    .description(
      "probe the configured token (mechanisms, token info, a few live tests) and say per feature: native, fallback or unavailable, and why",
    )
    .action(async () => {
      await ctx.run(async (out) => {
        const report = await checkToken(ctx.config());
        out.result(report, () => humanReport(report));
      });
    });
}

function humanReport(r: HsmReport): string {
  const probes = r.probes
    ? Object.entries(r.probes)
        .map(([name, result]) => `${name}: ${result.ok ? "ok" : `no (${result.reason})`}`)
        .join("; ")
    : "not run";
  return [
    `module:     ${r.module.path} — ${r.module.manufacturer} ${r.module.description} ${r.module.version} (Cryptoki ${r.module.cryptoki})`,
    `token:      "${r.token.label}" — ${r.token.manufacturer} ${r.token.model}, firmware ${r.token.firmware}, PIN ${r.token.pinLength.min}–${r.token.pinLength.max} characters`,
    `mechanisms: ${r.mechanisms.length} listed${r.disabled.length ? `; not used (hsm.disableMechanisms): ${r.disabled.join(", ")}` : ""}`,
    `probes:     ${probes}`,
    `key types:  ${r.keyTypes.length ? r.keyTypes.join(", ") : "none"}`,
    "",
    table([["FEATURE", "STATUS", "HOW / WHY NOT"], ...r.features.map((f) => [f.feature, f.status, f.how])]),
  ].join("\n");
}
