import type { Command } from "commander";
import type { Permission } from "../access/index.js";

/**
 * The permission each CLI command exercises, from the one table in src/access/roles.ts. The CLI
 * runs as the local operator who holds the HSM PIN, so nothing is checked against a role here: the
 * declaration documents (in --help) what the command amounts to, and `setup` marks commands that
 * only the machine's operator can run (they create or open the token itself), and `offline` those
 * that touch neither (an escrow agent opening its share). Every command is
 * audited as cli:<os user>. A test fails when a command is missing from this table.
 */
export const CLI_PERMISSIONS: Record<string, Permission | "setup" | "offline"> = {
  init: "setup",
  "hsm check": "hsm:read",
  serve: "setup",
  "token create": "tokens:manage",
  "token list": "tokens:manage",
  "token revoke": "tokens:manage",
  "user create": "users:manage",
  "user list": "users:manage",
  "user reset-totp": "users:manage",
  approvals: "approvals:read",
  health: "overview:read",
  "audit verify": "audit:read",
  "audit checkpoint": "audit:read",
  "audit tree-head": "audit:read",
  "audit export": "audit:read",
  "audit list": "audit:read",
  "cert issue": "certificates:issue",
  "cert show": "certificates:read",
  "cert list": "certificates:read",
  "cert revoke": "certificates:revoke",
  "cert release": "certificates:revoke",
  crl: "ca:manage",
  revocations: "revocations:read",
  "key create": "keys:manage",
  "key list": "keys:read",
  "key show": "keys:read",
  "key rotate": "keys:manage",
  "key suspend": "keys:manage",
  "key resume": "keys:manage",
  "key deactivate": "keys:manage",
  "key compromise": "keys:manage",
  "key destroy": "keys:manage",
  "key cancel-destroy": "keys:manage",
  "key encrypt": "keys:use",
  "key decrypt": "keys:use",
  "key public-key": "keys:read",
  "key sign": "keys:use",
  "key verify": "keys:use",
  "key certify": "keys:manage",
  "key sign-jws": "keys:use",
  "key sign-cms": "keys:use",
  "key policy": "keys:manage",
  "key distribute": "keys:distribute",
  "key import-certificate": "keys:read",
  "key import": "keys:manage",
  "key distributions": "keys:read",
  "key block": "keys:block",
  "acme eab create": "acme:manage",
  "acme renew-early": "acme:manage",
  "ca list": "ca:read",
  "ca revoke": "ca:manage",
  "ca create-intermediate": "ca:manage",
  "ca sign-intermediate": "ca:manage",
  "ca set-default": "ca:manage",
  "ca set-base-url": "ca:manage",
  "escrow agent add": "keys:manage",
  "escrow agents": "keys:read",
  "escrow policy": "keys:manage",
  "escrow policies": "keys:read",
  "escrow recover": "keys:manage",
  "escrow recoveries": "keys:read",
  "escrow share export": "keys:read",
  "escrow share decrypt": "offline",
  lint: "offline",
  "escrow share submit": "self",
  "backup create": "backup:manage",
  "backup verify": "backup:manage",
  "backup restore": "setup",
  "backup share export": "offline",
  "ssh init": "ca:manage",
  "ssh ca-key": "ca:read",
  "ssh sign": "ssh:sign",
  "ssh list": "ssh:read",
  "ssh show": "ssh:read",
  "ssh revoke": "ssh:revoke",
  "ssh krl": "ssh:read",
};

/** The command's full name without the program's, e.g. "key distribute". */
export function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(" ");
}

/** Every command that runs something (has no subcommands). */
export function leafCommands(program: Command): Command[] {
  return program.commands.flatMap((c) => (c.commands.length ? leafCommands(c) : [c]));
}

/** Adds "Permission: …" to each command's help; throws when a command has no declared permission. */
export function declarePermissions(program: Command): void {
  for (const command of leafCommands(program)) {
    const path = commandPath(command);
    const permission = CLI_PERMISSIONS[path];
    if (!permission) throw new Error(`CLI command "${path}" declares no permission in src/cli/permissions.ts`);
    command.addHelpText(
      "after",
      permission === "setup"
        ? "\nPermission: setup (the machine's operator, with the HSM PIN)"
        : permission === "offline"
          ? "\nPermission: none (runs offline with your own private key; touches no server or token)"
          : `\nPermission: ${permission} (the CLI acts as the local operator holding the HSM PIN; audited as cli:<user>)`,
    );
  }
}
