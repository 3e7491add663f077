import { readFileSync, writeFileSync } from "node:fs";
import type { Command } from "commander";
import { parseArchive } from "../../backup/index.js";
import { readOperatorFile } from "../../config/index.js";
import { BadRequestError } from "../../errors/index.js";
import { cliActor } from "../actor.js";
import { list, positiveInt } from "../arguments.js";
import type { CliContext } from "../context.js";

function readArchive(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new BadRequestError(`cannot read the archive ${path}: ${(error as NodeJS.ErrnoException).code ?? "error"}`);
  }
}

/** `keyward backup …`: create, verify, restore, and a custodian's share (offline). */
export function registerBackupCommands(program: Command, ctx: CliContext): void {
  const backup = program.command("backup").description("backups with an M-of-N protected key, and restore");
  backup
    .command("create")
    .requiredOption("--out <file>", "the archive to write")
    .requiredOption("--custodians <names>", "comma-separated escrow agents who will hold the backup key's shares", list)
    .requiredOption("--threshold <m>", "shares needed to restore", (v) => positiveInt(v, "--threshold"))
    .description(
      "write one archive: database snapshot, distributable keys wrapped under the backup key, CA certificates, config",
    )
    .action(async (opts: { out: string; custodians: string[]; threshold: number }) => {
      await ctx.withServices(async (s, out) => {
        out.progress("Taking a consistent snapshot and wrapping distributable keys in the token…");
        const { archive, header } = await s.backup.create(
          { custodians: opts.custodians, threshold: opts.threshold },
          cliActor(),
        );
        writeFileSync(opts.out, archive, { mode: 0o600 });
        out.result(
          {
            out: opts.out,
            id: header.id,
            bytes: archive.length,
            threshold: header.custodians.threshold,
            custodians: header.custodians.shares.map((c) => c.name),
            needsHsmBackup: header.needsHsmBackup,
          },
          () =>
            [
              `Backup ${header.id} written to ${opts.out} (${archive.length} bytes); ${header.custodians.threshold} of ${header.custodians.shares.length} custodians restore it.`,
              `Not in the archive (non-extractable; back them up HSM-natively or plan a CA rollover):`,
              ...header.needsHsmBackup.map(
                (k) => `  ${k.kind} ${k.name}${k.version ? ` v${k.version}` : ""}  ${k.keyUri}`,
              ),
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
        const report = await s.backup.check(readArchive(path));
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
    .description("restore onto a fresh data dir and token with M custodians' shares")
    .action(async (path: string, opts: { share: string[] }) => {
      await ctx.withServices(async (s, out) => {
        const shares = opts.share.map((entry) => {
          const [custodian, file] = entry.split("=", 2);
          if (!custodian || !file) throw new BadRequestError(`--share takes NAME=FILE, got "${entry}"`);
          const text = readOperatorFile(file, "share").trim();
          if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) throw new BadRequestError(`the share in ${file} is not base64`);
          return { custodian, share: Buffer.from(text, "base64") };
        });
        const restored = await s.backup.restore(readArchive(path), shares, cliActor());
        out.result(restored, () =>
          [
            `Restored backup ${restored.id} of ${restored.createdAt}: ${Object.values(restored.rows).reduce((a, b) => a + b, 0)} rows, ${restored.keys} key versions unwrapped into the token.`,
            `Restore HSM-natively (or re-create): ${restored.needsHsmBackup.map((k) => `${k.kind} ${k.name}${k.version ? ` v${k.version}` : ""}`).join(", ")}`,
          ].join("\n"),
        );
      });
    });
  const share = backup.command("share").description("a custodian's share of an archive");
  share
    .command("export")
    .argument("<archive>", "the archive")
    .requiredOption("--custodian <name>", "the custodian")
    .requiredOption("--out <file>", "where to write the sealed share (CMS, DER)")
    .description("offline: write a custodian's sealed share (open it with escrow share decrypt or openssl cms)")
    .action((path: string, opts: { custodian: string; out: string }) =>
      ctx.run((out) => {
        const archive = parseArchive(readArchive(path));
        const found = archive.custodians.shares.find((c) => c.name === opts.custodian);
        if (!found) throw new BadRequestError(`"${opts.custodian}" is not a custodian of this archive`);
        writeFileSync(opts.out, Buffer.from(found.cms, "base64"));
        out.result({ out: opts.out }, () => `Sealed share of ${opts.custodian} written to ${opts.out}`);
      }),
    );
}
