import { createPrivateKey } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import type { Command } from "commander";
import { readOperatorFile } from "../../config/index.js";
import { BadRequestError } from "../../errors/index.js";
import { openEnvelope } from "../../pki/cms.js";
import { pemBlocks } from "../../pki/pem.js";
import { cliActor } from "../actor.js";
import { list, positiveInt } from "../arguments.js";
import type { CliContext } from "../context.js";
import { table } from "../output.js";

/** `keyward escrow …`: agents, policies, and M-of-N recovery (the share decryption runs offline). */
export function registerEscrowCommands(program: Command, ctx: CliContext): void {
  const escrow = program.command("escrow").description("key escrow to M-of-N agents, and recovery");
  const agent = escrow.command("agent").description("escrow agents");
  agent
    .command("add")
    .requiredOption("--name <name>", "agent name")
    .requiredOption("--certificate <file>", "the agent's certificate from our CA (recipient profile)")
    .option("--user <name>", "the person who may submit this agent's share over the API")
    .description("add an escrow agent; its certificate is checked like a distribution recipient")
    .action(async (opts: { name: string; certificate: string; user?: string }) => {
      await ctx.withServices(async (s, out) => {
        const added = await s.escrow.addAgent(
          { name: opts.name, certificate: readOperatorFile(opts.certificate, "certificate"), userName: opts.user },
          cliActor(),
        );
        out.result(
          { id: added.id, name: added.name, serial: added.serial },
          () => `Escrow agent ${added.name} (${added.id}) added.`,
        );
      });
    });
  escrow
    .command("agents")
    .description("list escrow agents")
    .action(async () => {
      await ctx.withServices(async (s, out) => {
        const items = (await s.escrow.agents()).map((a) => ({
          id: a.id,
          name: a.name,
          userName: a.userName,
          serial: a.serial,
        }));
        out.result({ items }, () =>
          items.length === 0
            ? "No escrow agents."
            : table([
                ["ID", "NAME", "USER", "SERIAL"],
                ...items.map((a) => [a.id, a.name, a.userName ?? "", a.serial]),
              ]),
        );
      });
    });
  escrow
    .command("policy")
    .option("--key <id>", "the key")
    .option("--tag <tag>", "every key with this tag")
    .requiredOption("--agents <names>", "comma-separated agent names", list)
    .requiredOption("--threshold <m>", "shares needed to recover", (v) => positiveInt(v, "--threshold"))
    .description("require M-of-N escrow for a key or a tag, and escrow what now needs it")
    .action(async (opts: { key?: string; tag?: string; agents: string[]; threshold: number }) => {
      await ctx.withServices(async (s, out) => {
        const { policy, escrowed } = await s.escrow.setPolicy(
          { keyId: opts.key, tag: opts.tag, agents: opts.agents, threshold: opts.threshold },
          cliActor(),
        );
        out.result(
          { policy, escrowed },
          () => `Escrow ${policy.threshold} of ${policy.agentIds.length} set; ${escrowed} version(s) escrowed now.`,
        );
      });
    });
  escrow
    .command("policies")
    .description("list escrow policies")
    .action(async () => {
      await ctx.withServices(async (s, out) => {
        const items = await s.escrow.policies();
        out.result({ items }, () =>
          items.length === 0
            ? "No escrow policies."
            : table([
                ["FOR", "THRESHOLD", "AGENTS"],
                ...items.map((p) => [
                  p.keyId ? `key ${p.keyId}` : `tag ${p.tag}`,
                  String(p.threshold),
                  String(p.agentIds.length),
                ]),
              ]),
        );
      });
    });
  escrow
    .command("recover")
    .requiredOption("--key <id>", "the key")
    .requiredOption("--version <n>", "the version", (v) => positiveInt(v, "--version"))
    .description("open a recovery: agents then decrypt and submit their shares")
    .action(async (opts: { key: string; version: number }) => {
      await ctx.withServices(async (s, out) => {
        const recovery = await s.escrow.openRecovery(opts.key, opts.version, cliActor());
        const threshold = (await s.escrow.escrowOf(recovery.keyId, recovery.version)).threshold;
        out.result(
          { id: recovery.id, keyId: recovery.keyId, version: recovery.version, status: recovery.status, threshold },
          () =>
            `Recovery ${recovery.id} open: ${threshold} agents must submit their shares (keyward escrow share submit --recovery ${recovery.id} …).`,
        );
      });
    });
  escrow
    .command("recoveries")
    .description("list recoveries and their progress")
    .action(async () => {
      await ctx.withServices(async (s, out) => {
        const items = (await s.escrow.recoveries()).map((r) => ({
          id: r.id,
          keyId: r.keyId,
          version: r.version,
          status: r.status,
          submitted: r.submitted.length,
          requestedBy: r.requestedBy,
        }));
        out.result({ items }, () =>
          items.length === 0
            ? "No recoveries."
            : table([
                ["ID", "KEY", "VERSION", "STATUS", "SHARES", "BY"],
                ...items.map((r) => [r.id, r.keyId, String(r.version), r.status, String(r.submitted), r.requestedBy]),
              ]),
        );
      });
    });

  const share = escrow.command("share").description("an agent's share");
  share
    .command("export")
    .requiredOption("--key <id>", "the key")
    .requiredOption("--version <n>", "the version", (v) => positiveInt(v, "--version"))
    .requiredOption("--agent <name>", "the agent")
    .requiredOption("--out <file>", "where to write the CMS (DER) sealed to the agent")
    .description("write an agent's sealed share, for the agent to decrypt offline")
    .action(async (opts: { key: string; version: number; agent: string; out: string }) => {
      await ctx.withServices(async (s, out) => {
        const found = await s.escrow.escrowOf(opts.key, opts.version);
        const agent = (await s.escrow.agents()).find((a) => a.name === opts.agent || a.id === opts.agent);
        const sealed = agent && found.shares.find((x) => x.agentId === agent.id);
        if (!sealed)
          throw new BadRequestError(`agent ${opts.agent} holds no share of version ${opts.version} of key ${opts.key}`);
        writeFileSync(opts.out, sealed.cms);
        out.result(
          { out: opts.out },
          () =>
            `Share of ${opts.agent} written to ${opts.out} (openssl cms -decrypt or keyward escrow share decrypt opens it).`,
        );
      });
    });
  share
    .command("decrypt")
    .requiredOption("--in <file>", "the sealed share (CMS, DER)")
    .requiredOption("--key <file>", "the agent's private key (PEM)")
    .requiredOption("--certificate <file>", "the agent's certificate (PEM)")
    .option("--out <file>", "write the share (base64) here instead of printing it")
    .description("offline: open a sealed share with the agent's own private key (no server, no token)")
    .action((opts: { in: string; key: string; certificate: string; out?: string }) =>
      ctx.run((out) => {
        const der = pemBlocks(readOperatorFile(opts.certificate, "certificate"), "CERTIFICATE")[0];
        if (!der) throw new BadRequestError('the certificate file holds no PEM "CERTIFICATE"');
        let privateKey: ReturnType<typeof createPrivateKey>;
        try {
          privateKey = createPrivateKey(readFileSync(opts.key));
        } catch {
          throw new BadRequestError(`cannot read a private key from ${opts.key}`);
        }
        let opened: Buffer;
        try {
          opened = openEnvelope(readFileSync(opts.in), privateKey, der);
        } catch (error) {
          throw new BadRequestError(`cannot open ${opts.in} with this key: ${(error as Error).message}`);
        }
        const text = opened.toString("base64");
        opened.fill(0);
        if (opts.out) writeFileSync(opts.out, `${text}\n`, { mode: 0o600 });
        out.result({ share: opts.out ? undefined : text, out: opts.out }, () =>
          opts.out ? `Share written to ${opts.out}` : text,
        );
      }),
    );
  share
    .command("submit")
    .requiredOption("--recovery <id>", "the recovery")
    .requiredOption("--agent <name>", "the agent whose share this is")
    .requiredOption("--in <file>", "the decrypted share (base64, as share decrypt writes it; '-' for stdin)")
    .description("submit a decrypted share; the threshold-th share recovers the key")
    .action(async (opts: { recovery: string; agent: string; in: string }) => {
      await ctx.withServices(async (s, out) => {
        const text = readOperatorFile(opts.in, "share").trim();
        if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text))
          throw new BadRequestError("the share must be base64 (as escrow share decrypt prints it)");
        const result = await s.escrow.submitShare(opts.recovery, opts.agent, Buffer.from(text, "base64"), cliActor());
        out.result(
          {
            submitted: result.submitted,
            threshold: result.threshold,
            recovered: result.recovered,
            status: result.recovery.status,
          },
          () =>
            result.recovered
              ? `Share accepted: ${result.submitted} of ${result.threshold}. Version ${result.recovery.version} of key ${result.recovery.keyId} is recovered into the token.`
              : `Share accepted: ${result.submitted} of ${result.threshold}.`,
        );
      });
    });
}
