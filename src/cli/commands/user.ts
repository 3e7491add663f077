import type { Command } from "commander";
import { totpQrForTerminal, userView } from "../../access/index.js";
import { BadRequestError, NotFoundError } from "../../errors/index.js";
import { cliActor } from "../actor.js";
import type { CliContext } from "../context.js";
import { table } from "../output.js";

/** `keyward user …`: people who log in with a password and TOTP. */
export function registerUserCommands(program: Command, ctx: CliContext): void {
  const user = program.command("user").description("people: password + TOTP logins with roles");
  user
    .command("create")
    .description("create a person; prints the TOTP enrolment QR code and recovery codes once")
    .requiredOption("--name <name>", "login name")
    .requiredOption("--role <role>", "admin, ca-operator, key-officer, auditor or requester")
    .option("--password-stdin", "read the password from the first line of stdin (for scripts)")
    .action(async (opts: { name: string; role: string; passwordStdin?: boolean }) => {
      const password = await readPassword(opts.passwordStdin ?? false);
      await ctx.withServices(async (s, out) => {
        const created = await s.users.create({ name: opts.name, role: opts.role, password }, cliActor());
        out.progress(`User "${created.user.name}" (${created.user.role}). Scan this with an authenticator app:`);
        if (!out.json) out.progress(await totpQrForTerminal(created.otpauthUri));
        out.result(
          { ...userView(created.user), otpauthUri: created.otpauthUri, recoveryCodes: created.recoveryCodes },
          () =>
            `${created.otpauthUri}\n\nRecovery codes (each works once; store them offline):\n${created.recoveryCodes.join("\n")}`,
        );
      });
    });
  user
    .command("reset-totp")
    .description(
      "give a person a new authenticator now (lost phone, or a restore without the token): prints the new QR code once; the old seed stops working",
    )
    .requiredOption("--name <name>", "login name")
    .action(async (opts: { name: string }) => {
      await ctx.withServices(async (s, out) => {
        const person = (await s.users.list()).find((u) => u.name === opts.name);
        if (!person) throw new NotFoundError(`no person named "${opts.name}"`);
        const { user: updated, otpauthUri } = await s.totpEnrolment.replaceNow(person.id, cliActor());
        out.progress(`New authenticator for "${updated.name}". Scan this with the authenticator app:`);
        if (!out.json) out.progress(await totpQrForTerminal(otpauthUri));
        out.result({ ...userView(updated), otpauthUri }, () => otpauthUri);
      });
    });
  user
    .command("list")
    .description("list people and their roles")
    .action(async () => {
      await ctx.withServices(async (s, out) => {
        const items = (await s.users.list()).map(userView);
        out.result({ items }, () =>
          table([
            ["NAME", "ROLE", "CREATED", "LOCKED UNTIL"],
            ...items.map((u) => [u.name, u.role, u.createdAt.slice(0, 10), u.lockedUntil ?? ""]),
          ]),
        );
      });
    });
}

/** A password from stdin's first line, or typed at a prompt that does not echo it. */
async function readPassword(fromStdin: boolean): Promise<string> {
  const { createInterface } = await import("node:readline");
  if (fromStdin || !process.stdin.isTTY) {
    const rl = createInterface({ input: process.stdin });
    for await (const line of rl) {
      rl.close();
      return line;
    }
    throw new BadRequestError("no password on stdin");
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  const muted = rl as unknown as { _writeToOutput: (s: string) => void };
  process.stderr.write("Password (at least 12 characters): ");
  muted._writeToOutput = () => undefined;
  const answer = await new Promise<string>((resolve) => rl.question("", resolve));
  rl.close();
  process.stderr.write("\n");
  return answer;
}
