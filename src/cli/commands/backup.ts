import { writeFileSync } from "node:fs";
import type { Command } from "commander";
import { type OpenedArchive, openArchive, readArchiveFile, restoreSoftHsmToken } from "../../backup/index.js";
import type { Services } from "../../compose.js";
import { readOperatorFile } from "../../config/index.js";
import { BadRequestError, ConflictError } from "../../errors/index.js";
import { cliActor } from "../actor.js";
import { list, positiveInt } from "../arguments.js";
import type { CliContext } from "../context.js";
import type { Output } from "../output.js";

/** `keyward backup …`: create, verify, restore, and a custodian's share (offline). */
export function registerBackupCommands(program: Command, ctx: CliContext): void {
  const backup = program.command("backup").description("backups with an M-of-N protected key, and restore");
  backup
    .command("create")
    .requiredOption("--out <file>", "the archive to write")
    .requiredOption("--custodians <names>", "comma-separated escrow agents who will hold the backup key's shares", list)
    .requiredOption("--threshold <m>", "shares needed to restore", (v) => positiveInt(v, "--threshold"))
    .option(
      "--include-token",
      "also carry the online token itself (SoftHSM2: a consistent copy of its directory; CA keys, TOTP seeds, every key) — refused for tokens that cannot be copied",
    )
    .description(
      "write one archive: database snapshot, distributable keys wrapped under the backup key, CA certificates, config",
    )
    .action(async (opts: { out: string; custodians: string[]; threshold: number; includeToken?: boolean }) => {
      await ctx.withServices(async (s, out) => {
        out.progress(
          `Taking a consistent snapshot and wrapping distributable keys in the token${opts.includeToken ? ", then copying the token" : ""}…`,
        );
        const { header, bytes } = await s.backup.create(
          { custodians: opts.custodians, threshold: opts.threshold, includeToken: opts.includeToken },
          cliActor(),
          opts.out,
          (rows, table) => out.progress(`${rows.toLocaleString("en")} rows written (${table})…`),
        );
        out.result(
          {
            out: opts.out,
            id: header.id,
            bytes,
            threshold: header.custodians.threshold,
            custodians: header.custodians.shares.map((c) => c.name),
            token: header.token ?? null,
            needsHsmBackup: header.needsHsmBackup,
          },
          () =>
            [
              `Backup ${header.id} written to ${opts.out} (${bytes} bytes); ${header.custodians.threshold} of ${header.custodians.shares.length} custodians restore it.`,
              ...(header.token
                ? [
                    `It carries token "${header.token.label}" (${header.token.files} files; its PIN is not in the archive).`,
                  ]
                : []),
              ...(header.needsHsmBackup.length && !header.token
                ? [
                    `Not in the archive (non-extractable; back them up HSM-natively or plan a CA rollover):`,
                    ...header.needsHsmBackup.map(
                      (k) => `  ${k.kind} ${k.name}${k.version ? ` v${k.version}` : ""}  ${k.keyUri}`,
                    ),
                  ]
                : []),
            ].join("\n"),
        );
      });
    });
  backup
    .command("verify")
    .argument("<archive>", "the archive")
    .description("check an archive's integrity (hashes, signature, chain) without the custodians and without restoring")
    .action(async (path: string) => {
      await ctx.withServices(async (s, out) => {
        const report = await s.backup.check(path);
        out.result(report, () =>
          report.ok
            ? `OK: backup of ${report.createdAt}, ${report.threshold} of ${report.custodians.length} custodians (${report.custodians.join(", ")}), ${report.needsHsmBackup.length} keys need HSM-native backup.`
            : `DAMAGED: ${report.problems.join("; ")}`,
        );
        if (!report.ok) process.exitCode = 1;
      });
    });
  backup
    .command("restore")
    .argument("<archive>", "the archive")
    .requiredOption(
      "--share <name=file>",
      "a custodian's decrypted share (repeat for each)",
      (v, all: string[] = []) => [...all, v],
    )
    .option(
      "--include-token",
      "put the archive's token back first (SoftHSM2; no token with its label may exist; its PIN is the one it had)",
    )
    .description("restore onto a fresh data dir and token with M custodians' shares")
    .action(async (path: string, opts: { share: string[]; includeToken?: boolean }) => {
      let removeToken: (() => void) | undefined;
      await ctx.run(async (out) => {
        const shares = opts.share.map((entry) => {
          const [custodian, file] = entry.split("=", 2);
          if (!custodian || !file) throw new BadRequestError(`--share takes NAME=FILE, got "${entry}"`);
          const text = readOperatorFile(file, "share").trim();
          if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) throw new BadRequestError(`the share in ${file} is not base64`);
          return { custodian, share: Buffer.from(text, "base64") };
        });
        // Everything is checked and decrypted before anything is written.
        const opened = await openArchive(path, shares);
        try {
          if (opts.includeToken) {
            if (!opened.meta.token) {
              throw new ConflictError(
                "--include-token: this archive carries no token (it was made without backup create --include-token)",
              );
            }
            // The token is put back before anything opens it: the server's token is the archive's.
            removeToken = restoreSoftHsmToken(ctx.config().hsm, opened.meta.token);
            out.progress(`Token "${opened.meta.token.label}" put back (${opened.meta.token.files.length} files).`);
          }
          await ctx.withServices((s) => restoreInto(s, opened, removeToken !== undefined, out));
        } finally {
          // Restore zeroes it too; this covers a refusal before it ran.
          opened.kek.fill(0);
        }
      });
      // A restore that failed after the token was put back leaves nothing behind.
      if (process.exitCode && removeToken) removeToken();
    });
  const share = backup.command("share").description("a custodian's share of an archive");
  share
    .command("export")
    .argument("<archive>", "the archive")
    .requiredOption("--custodian <name>", "the custodian")
    .requiredOption("--out <file>", "where to write the sealed share (CMS, DER)")
    .description("offline: write a custodian's sealed share (open it with escrow share decrypt or openssl cms)")
    .action((path: string, opts: { custodian: string; out: string }) =>
      ctx.run(async (out) => {
        const { archive } = await readArchiveFile(path);
        const found = archive.custodians.shares.find((c) => c.name === opts.custodian);
        if (!found) throw new BadRequestError(`"${opts.custodian}" is not a custodian of this archive`);
        writeFileSync(opts.out, Buffer.from(found.cms, "base64"));
        out.result({ out: opts.out }, () => `Sealed share of ${opts.custodian} written to ${opts.out}`);
      }),
    );
}

/** The database part of a restore, saying first which keys will not be in the token afterwards. */
async function restoreInto(s: Services, opened: OpenedArchive, tokenRestored: boolean, out: Output) {
  const missing = await s.backup.keysNotComingBack(opened);
  if (missing.length > 0) {
    // Said before anything is restored: this deployment will not sign with these keys.
    const why = opened.meta.token
      ? "the archive carries them in its copy of the token: restore with --include-token to bring them back"
      : "the archive cannot hold them";
    process.stderr.write(
      `warning: these keys will not be in token "${s.config.hsm.token}" after this restore (${why}); the restored deployment cannot use them until they are restored HSM-natively or replaced (docs/handbook/backup-restore.md):\n${missing.map((k) => `  ${k.kind} ${k.name}${k.version ? ` v${k.version}` : ""}  ${k.keyUri}`).join("\n")}\n`,
    );
  }
  const restored = await s.backup.restore(opened, cliActor(), {
    tokenRestored,
    progress: (rows, table) => out.progress(`${rows.toLocaleString("en")} rows restored (${table})…`),
  });
  out.result({ ...restored, missingKeys: missing }, () =>
    [
      `Restored backup ${restored.id} of ${restored.createdAt}: ${Object.values(restored.rows).reduce((a, b) => a + b, 0)} rows, ${restored.token ? `token "${restored.token}" put back` : `${restored.keys} key versions unwrapped into the token`}.`,
      ...(missing.length
        ? [`Not restored (see keyward health): ${missing.map((k) => `${k.kind} ${k.name}`).join(", ")}`]
        : []),
    ].join("\n"),
  );
}
