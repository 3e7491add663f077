import { writeFileSync } from "node:fs";
import { type Command, Option } from "commander";
import { readOperatorFile } from "../../config/index.js";
import { BadRequestError } from "../../errors/index.js";
import { SSH_REVOCATION_REASONS, type SshRevocationReason, sshCertificateView } from "../../ssh/index.js";
import { cliActor } from "../actor.js";
import { list, positiveInt } from "../arguments.js";
import type { CliContext } from "../context.js";
import { table } from "../output.js";

const TYPES = ["user", "host"] as const;

/** `keyward ssh …`: the SSH certificate authority (docs/ssh.md). */
export function registerSshCommands(program: Command, ctx: CliContext): void {
  const ssh = program.command("ssh").description("SSH certificates: CA keys, signing, revocation (KRL)");

  ssh
    .command("init")
    .description("create the SSH user and host CA keys in the token when missing (`init` does it for new deployments)")
    .action(async () => {
      await ctx.withServices(async (s, out) => {
        const { created, existing } = await s.ssh.init(cliActor());
        out.result(
          {
            created: created.map((k) => ({ type: k.type, keyType: k.keyType })),
            keys: existing.map((k) => ({ type: k.type, keyType: k.keyType })),
          },
          () =>
            created.length
              ? `Created SSH CA keys: ${created.map((k) => `${k.type} (${k.keyType})`).join(", ")}. Public keys: ${s.config.baseUrl}/ssh/user_ca.pub, ${s.config.baseUrl}/ssh/host_ca.pub`
              : `SSH CA keys already exist (${existing.map((k) => `${k.type} ${k.keyType}`).join(", ")}); nothing changed.`,
        );
      });
    });

  ssh
    .command("ca-key")
    .description("print an SSH CA public key as an OpenSSH line (TrustedUserCAKeys; @cert-authority in known_hosts)")
    .addOption(new Option("--type <type>", "user or host").choices(TYPES).makeOptionMandatory())
    .action(async (opts: { type: (typeof TYPES)[number] }) => {
      await ctx.withServices(async (s, out) => {
        const key = await s.ssh.caPublicKey(opts.type);
        out.result({ type: opts.type, keyType: key.keyType, publicKey: key.line }, () => key.line);
      });
    });

  ssh
    .command("sign")
    .description("sign an OpenSSH user or host certificate for a public key")
    .addOption(new Option("--type <type>", "user or host").choices(TYPES).makeOptionMandatory())
    .requiredOption("--public-key <file>", "the OpenSSH public key (.pub)")
    .requiredOption("--principals <list>", "comma-separated user names (user) or host names (host)", list)
    .option("--profile <name>", "SSH profile (default: the one named like --type)")
    .option("--validity-hours <hours>", "validity (up to the profile's cap)", (v) => positiveInt(v, "--validity-hours"))
    .option("--force-command <command>", "critical option force-command")
    .option("--source-address <cidrs>", "critical option source-address (comma-separated CIDR list)")
    .option("--extensions <list>", "extensions instead of the profile's defaults (comma-separated; '' for none)")
    .option("--out <file>", "write the certificate line here (e.g. id_ed25519-cert.pub) instead of stdout")
    .action(
      async (opts: {
        type: (typeof TYPES)[number];
        publicKey: string;
        principals: string[];
        profile?: string;
        validityHours?: number;
        forceCommand?: string;
        sourceAddress?: string;
        extensions?: string;
        out?: string;
      }) => {
        await ctx.withServices(async (s, out) => {
          const actor = cliActor();
          const criticalOptions: Record<string, string> = {
            ...(opts.forceCommand !== undefined ? { "force-command": opts.forceCommand } : {}),
            ...(opts.sourceAddress !== undefined ? { "source-address": opts.sourceAddress } : {}),
          };
          const signed = await s.ssh.sign(
            {
              publicKey: readOperatorFile(opts.publicKey, "public key"),
              type: opts.type,
              principals: opts.principals,
              ...(opts.profile ? { profile: opts.profile } : {}),
              ...(opts.validityHours ? { validityHours: opts.validityHours } : {}),
              ...(Object.keys(criticalOptions).length ? { criticalOptions } : {}),
              ...(opts.extensions !== undefined ? { extensions: opts.extensions ? list(opts.extensions) : [] } : {}),
            },
            // The CLI acts with the data directory's rights (the PIN file): an administrator's.
            { name: actor.name, role: "admin", scopes: {} },
            actor,
          );
          if (opts.out) writeFileSync(opts.out, `${signed.certificate}\n`);
          out.progress(
            `Signed ${signed.type} certificate serial ${signed.serial} (key ID ${signed.keyId}) for ${signed.principals.join(", ")}, valid until ${signed.validBefore.toISOString()}`,
          );
          out.result(
            {
              serial: signed.serial,
              keyId: signed.keyId,
              certificate: signed.certificate,
              validBefore: signed.validBefore.toISOString(),
            },
            () => opts.out ?? signed.certificate,
          );
        });
      },
    );

  ssh
    .command("list")
    .description("list SSH certificates")
    .option("--principal <name>", "certificates naming this principal")
    .option("--key-id <id>", "certificates with this key ID")
    .option("--fingerprint <SHA256:…>", "certificates for this key")
    .addOption(new Option("--type <type>", "user or host").choices(TYPES))
    .addOption(new Option("--status <status>").choices(["valid", "revoked", "expired", "pending", "failed"]))
    .option("--limit <n>", "at most this many", (v) => positiveInt(v, "--limit"), 100)
    .action(
      async (opts: {
        principal?: string;
        keyId?: string;
        fingerprint?: string;
        type?: (typeof TYPES)[number];
        status?: "valid" | "revoked" | "expired" | "pending" | "failed";
        limit: number;
      }) => {
        await ctx.withServices(async (s, out) => {
          const now = s.clock.now();
          const items = (await s.ssh.list(opts)).map((r) => sshCertificateView(r, now));
          out.result({ items }, () =>
            items.length
              ? table(
                  items.map((c) => [
                    c.serial,
                    c.type,
                    c.status,
                    c.principals.join(","),
                    `until ${c.validBefore}`,
                    c.keyId,
                  ]),
                )
              : "no SSH certificates",
          );
        });
      },
    );

  ssh
    .command("show")
    .description("show an SSH certificate")
    .argument("<serial>", "serial (decimal, as ssh-keygen -L prints it)")
    .action(async (serial: string) => {
      await ctx.withServices(async (s, out) => {
        const view = sshCertificateView(await s.ssh.get(serial), s.clock.now());
        out.result(view, () =>
          table([
            ["serial", view.serial],
            ["type", view.type],
            ["status", view.status],
            ["key ID", view.keyId],
            ["principals", view.principals.join(", ")],
            ["key", `${view.keyAlgorithm} ${view.fingerprint}`],
            ["valid", `${view.validAfter} → ${view.validBefore}`],
            ["profile", view.profile],
            ["requested by", view.requestedBy],
            ...(view.revokedAt ? [["revoked", `${view.revokedAt} (${view.revocationReason})`]] : []),
          ]),
        );
      });
    });

  ssh
    .command("revoke")
    .description("revoke an SSH certificate by serial, or every one with a key ID; publishes a new KRL")
    .argument("[serial]", "serial (decimal)")
    .option("--key-id <id>", "revoke every valid certificate with this key ID")
    .addOption(new Option("--reason <reason>").choices(SSH_REVOCATION_REASONS).default("unspecified"))
    .action(async (serial: string | undefined, opts: { keyId?: string; reason: SshRevocationReason }) => {
      await ctx.withServices(async (s, out) => {
        if ((serial === undefined) === (opts.keyId === undefined))
          throw new BadRequestError("give either a serial or --key-id");
        const target = serial !== undefined ? { serial } : { keyId: opts.keyId! };
        const result = await s.ssh.revoke(target, opts.reason, cliActor());
        out.result(
          result,
          () =>
            `Revoked ${result.revoked.join(", ")} (${opts.reason}); KRL version ${result.krlVersion} at ${s.config.baseUrl}/ssh/revoked.krl`,
        );
      });
    });

  ssh
    .command("krl")
    .description("write the current KRL (for sshd's RevokedKeys)")
    .option("--out <file>", "write the binary KRL here (default: stdout)")
    .action(async (opts: { out?: string }) => {
      await ctx.withServices(async (s, out) => {
        const krl = await s.ssh.krl();
        if (opts.out) {
          writeFileSync(opts.out, krl.krl);
          out.result(
            { version: krl.version.toString(), generatedAt: krl.generatedAt.toISOString(), bytes: krl.krl.length },
            () => `KRL version ${krl.version} (${krl.krl.length} bytes) written to ${opts.out}`,
          );
        } else if (out.json) {
          out.result(
            {
              version: krl.version.toString(),
              generatedAt: krl.generatedAt.toISOString(),
              krl: krl.krl.toString("base64"),
            },
            () => "",
          );
        } else process.stdout.write(krl.krl);
      });
    });
}
