import { Command } from "commander";
import { registerAcmeCommands } from "./commands/acme.js";
import { registerApprovals } from "./commands/approvals.js";
import { registerAuditCommands } from "./commands/audit.js";
import { registerBackupCommands } from "./commands/backup.js";
import { registerCaCommands } from "./commands/ca.js";
import { registerCertCommands } from "./commands/cert.js";
import { registerCrl } from "./commands/crl.js";
import { registerEscrowCommands } from "./commands/escrow.js";
import { registerHsmCommands } from "./commands/hsm.js";
import { registerHealth } from "./commands/health.js";
import { registerInit } from "./commands/init.js";
import { registerKeyCommands } from "./commands/key.js";
import { registerLint } from "./commands/lint.js";
import { registerRevocations } from "./commands/revocations.js";
import { registerServe } from "./commands/serve.js";
import { registerSshCommands } from "./commands/ssh.js";
import { registerTokenCommands } from "./commands/token.js";
import { registerUserCommands } from "./commands/user.js";
import { createContext } from "./context.js";
import { declarePermissions } from "./permissions.js";

/** The `keyward` program: global options, then each command group in the order --help lists them. */
export function buildProgram(): Command {
  const program = new Command("keyward")
    .description("Keyward: a certificate authority and key manager with keys in a PKCS#11 HSM")
    // Not commander's .version(): a root --version takes `--version` from every subcommand
    // (key destroy --version N); `keyward --version` is answered in cli/main.ts.
    .option("--json", "machine-readable output")
    .option("--data-dir <dir>", "data directory (default $KEYWARD_DATA_DIR or ./data)")
    .addHelpText("after", "\nkeyward --version prints the version.")
    .showHelpAfterError();
  const context = createContext(program);
  for (const register of [
    registerInit,
    registerServe,
    registerTokenCommands,
    registerUserCommands,
    registerApprovals,
    registerHealth,
    registerAuditCommands,
    registerCertCommands,
    registerCrl,
    registerRevocations,
    registerKeyCommands,
    registerAcmeCommands,
    registerCaCommands,
    registerEscrowCommands,
    registerBackupCommands,
    registerHsmCommands,
    registerLint,
    registerSshCommands,
  ]) {
    register(program, context);
  }
  declarePermissions(program);
  return program;
}
