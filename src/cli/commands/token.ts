import type { Command } from "commander";
import { cliActor } from "../actor.js";
import { list, positiveInt } from "../arguments.js";
import type { CliContext } from "../context.js";
import { day, table } from "../output.js";

/** `keyward token …`: API bearer tokens. */
export function registerTokenCommands(program: Command, ctx: CliContext): void {
  const token = program.command("token").description("API tokens for /api/v1");
  token
    .command("create")
    .description("create a bearer token (printed once on stdout)")
    .requiredOption("--role <role>", "admin, ca-operator, key-officer, auditor or requester")
    .option("--name <name>", "a name to recognise the token by")
    .option("--expires-days <days>", "days until the token expires", (v) => positiveInt(v, "--expires-days"))
    .option("--profiles <names>", "scope: the only profiles it may issue under (comma-separated)", list)
    .option("--client-cert <serial>", "also authenticate as this token with this client certificate (mTLS)")
    .option("--names <patterns>", "scope: the only names it may certify, e.g. *.team.example.com,@example.com", list)
    .action(
      async (opts: {
        role: string;
        name?: string;
        expiresDays?: number;
        profiles?: string[];
        names?: string[];
        clientCert?: string;
      }) => {
        await ctx.withServices(async (s, out) => {
          const { token: secret, record } = await s.tokens.create(
            {
              role: opts.role,
              name: opts.name,
              expiresInDays: opts.expiresDays,
              ...(opts.clientCert ? { clientCertSerial: (await s.issuance.get(opts.clientCert)).serial } : {}),
              scopes: {
                ...(opts.profiles ? { profiles: opts.profiles } : {}),
                ...(opts.names ? { names: opts.names } : {}),
              },
            },
            cliActor(),
          );
          out.progress(`Token "${record.name}" for role ${record.role} (id ${record.id}); it is shown only once:`);
          out.result(
            {
              id: record.id,
              name: record.name,
              role: record.role,
              token: secret,
              expiresAt: record.expiresAt?.toISOString() ?? null,
            },
            () => secret,
          );
        });
      },
    );

  token
    .command("list")
    .description("list API tokens (never their secrets)")
    .action(async () => {
      await ctx.withServices(async (s, out) => {
        const items = await s.tokens.list();
        out.result({ items }, () =>
          table([
            ["ID", "NAME", "ROLE", "EXPIRES", "LAST USED", "REVOKED"],
            ...items.map((t) => [
              t.id,
              t.name,
              t.role,
              t.expiresAt ? day(t.expiresAt) : "never",
              t.lastUsedAt?.toISOString() ?? "",
              t.revokedAt ? day(t.revokedAt) : "",
            ]),
          ]),
        );
      });
    });
  token
    .command("revoke")
    .description("revoke an API token at once")
    .argument("<id>", "token id (from token list)")
    .action(async (id: string) => {
      await ctx.withServices(async (s, out) => {
        await s.tokens.revoke(id, cliActor());
        out.result({ id, revoked: true }, () => `Token ${id} revoked.`);
      });
    });
}
