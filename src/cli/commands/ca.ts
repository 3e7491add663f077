import { writeFileSync } from "node:fs";
import { type Command, Option } from "commander";
import type { CaSettings, Config } from "../../config/index.js";
import { ConflictError } from "../../errors/index.js";
import { KEY_TYPES, type KeyType } from "../../pki/key-types.js";
import { certificatePem } from "../../pki/pem.js";
import { REASONS, REVOCATION_REASONS } from "../../revocation/index.js";
import { caView } from "../../signer/index.js";
import { cliActor } from "../actor.js";
import { positiveInt } from "../arguments.js";
import { ceremonyWitnesses, checkWitnesses, offlineRootToken, rootToken } from "../ceremony.js";
import type { CliContext } from "../context.js";
import { day, table } from "../output.js";

/** `keyward ca …`: the CA hierarchy, and the root ceremony's signing step. */
export function registerCaCommands(program: Command, ctx: CliContext): void {
  const ca = program.command("ca").description("the CA hierarchy");
  ca.command("list")
    .description("list the root and intermediates")
    .action(async () => {
      await ctx.withServices(async (s, out) => {
        const cas = await s.ca.list();
        out.result({ items: cas.map(caView) }, () =>
          table([
            ["ID", "KIND", "KEY", "NOT AFTER", "DEFAULT", "SUBJECT"],
            ...cas.map((c) => [c.id, c.kind, c.keyType, day(c.notAfter), c.isDefault ? "yes" : "", c.subject]),
          ]),
        );
      });
    });
  ca.command("revoke")
    .description(
      "revoke an intermediate (it issues nothing more) and sign the root CRL listing it (needs the root key)",
    )
    .requiredOption("--id <id>", "intermediate CA id")
    .addOption(new Option("--reason <reason>").choices(REVOCATION_REASONS).default("cACompromise"))
    .option("--witness <name:otp...>", "offline root attached: a ceremony witness and their current one-time code")
    .action(async (opts: { id: string; reason: keyof typeof REASONS; witness?: string[] }) => {
      await ctx.withServices(async (s, out) => {
        // With the offline root attached this is a ceremony (witnesses first); without it, the
        // revocation is recorded now and the root CRL is signed at the next ceremony.
        const offline = await offlineRootToken(s);
        if (offline && s.caTokens.isAttached(offline)) await ceremonyWitnesses(s, "ca.revoke", opts.witness ?? []);
        const record = await s.ca.revokeIntermediate(opts.id, REASONS[opts.reason], cliActor());
        // It issues nothing more from now on; with an offline root, its CRL waits for the ceremony.
        const crl = await s.crl.generate(record.parentId!, cliActor()).catch((error: Error) => error);
        if (crl instanceof Error && !(crl instanceof ConflictError)) throw crl;
        out.result({ ...caView(record), crlNumber: crl instanceof Error ? null : crl.number }, () =>
          crl instanceof Error
            ? `Revoked intermediate "${record.id}" (${opts.reason}); it issues nothing more. ${crl.message}. Then: keyward crl root`
            : `Revoked intermediate "${record.id}" (${opts.reason}); ${record.parentId} CRL ${crl.number} signed.`,
        );
      });
    });

  ca.command("create-intermediate")
    .description("issue a new intermediate from the root (a second issuer, or a rollover with --default)")
    .requiredOption("--id <id>", "CA id (lowercase letters, digits, dashes)")
    .addOption(new Option("--key <type>", "key type").choices(KEY_TYPES).default("p256"))
    .option("--cn <name>", "common name")
    .option("--validity-days <days>", "validity", (v) => positiveInt(v, "--validity-days"), 1826)
    .option("--default", "make it the default issuer")
    .action(async (opts: { id: string; key: string; cn?: string; validityDays: number; default?: boolean }) => {
      await ctx.withServices(async (s, out) => {
        const offline = await offlineRootToken(s);
        if (offline) {
          throw new ConflictError(
            `the root key is on the offline token "${offline}": sign intermediates at a root ceremony with \`keyward ca sign-intermediate\` (witnesses, docs/handbook/root-ceremony.md)`,
          );
        }
        out.progress(`Generating ${opts.key} key for intermediate "${opts.id}" in the token…`);
        const record = await s.ca.createIntermediate(
          {
            id: opts.id,
            keyType: opts.key as (typeof KEY_TYPES)[number],
            commonName: opts.cn ?? `Keyward Intermediate CA ${opts.id}`,
            ...caSubjectAndPolicies(s.config.ca),
            validityDays: opts.validityDays,
          },
          { makeDefault: opts.default ?? false, nameConstraints: s.config.ca.nameConstraints },
          cliActor(),
        );
        out.result(
          caView(record),
          () =>
            `Created intermediate "${record.id}" (${record.subject}), until ${day(record.notAfter)}${record.isDefault ? ", now the default issuer" : ""}.`,
        );
      });
    });

  ca.command("sign-intermediate")
    .description(
      "at a root ceremony: generate a new intermediate key in the online token and sign its certificate with the root key on the attached root token",
    )
    .requiredOption("--id <id>", "new CA id (lowercase letters, digits, dashes)")
    .addOption(new Option("--key <type>", "key type (default: the configured intermediate's)").choices(KEY_TYPES))
    .option("--cn <name>", "common name")
    .option("--validity-days <days>", "validity (default: the configured intermediate's)", (v) =>
      positiveInt(v, "--validity-days"),
    )
    .option("--default", "make it the default issuer now (or later, at rollover)")
    .option("--witness <name:otp...>", "a witness and their current one-time code (repeat per witness)")
    .option("--out <file>", "write the new intermediate and the root (PEM) here")
    .action(
      async (opts: {
        id: string;
        key?: KeyType;
        cn?: string;
        validityDays?: number;
        default?: boolean;
        witness?: string[];
        out?: string;
      }) => {
        await ctx.withServices(async (s, out) => {
          // The schema requires at least one configured intermediate: its settings are the defaults.
          const configured = s.config.ca.intermediates[0]!;
          const label = await rootToken(s);
          // Before anything is generated: the root token must be here and its PIN at hand.
          await s.caTokens.attach(label);
          const witnesses = await checkWitnesses(s, "ca.create", opts.witness ?? []);
          const keyType = opts.key ?? configured.keyType;
          out.progress(`Root token "${label}" attached. Generating ${keyType} key for intermediate "${opts.id}"…`);
          const actor = cliActor();
          const record = await s.ca.createIntermediate(
            {
              id: opts.id,
              keyType,
              commonName: opts.cn ?? `Keyward Intermediate CA ${opts.id}`,
              ...caSubjectAndPolicies(s.config.ca),
              validityDays: opts.validityDays ?? configured.validityDays,
            },
            { makeDefault: opts.default ?? false, nameConstraints: s.config.ca.nameConstraints },
            actor,
          );
          await s.audit.record({
            action: "ceremony.sign-intermediate",
            actor,
            target: { type: "ca", id: record.id },
            outcome: "success",
            details: { rootToken: label, witnesses, parent: record.parentId },
          });
          const chain = await s.ca.chain(record.id);
          if (opts.out) writeFileSync(opts.out, chain.map((c) => certificatePem(new Uint8Array(c.rawData))).join(""));
          out.result(
            { ...caView(record), rootToken: label, witnesses },
            () =>
              `Signed intermediate "${record.id}" (${record.subject}) with the root on "${label}", until ` +
              `${record.notAfter.toISOString().slice(0, 10)}${record.isDefault ? ", now the default issuer" : ""}` +
              `${witnesses.length ? `; witnessed by ${witnesses.join(", ")}` : ""}.` +
              `${opts.out ? ` Chain written to ${opts.out}.` : ""}`,
          );
        });
      },
    );

  ca.command("set-base-url")
    .description(
      "change the deployment's base URL (AIA, CRL distribution points, CRL scope): audited; serving instances pick it up at restart",
    )
    .argument("<url>", "e.g. https://ca.example.com (no trailing slash)")
    .action(async (url: string) => {
      await ctx.withServices(async (s, out) => {
        const { from, to } = await s.ca.setBaseUrl(url, cliActor());
        out.result(
          { from: from ?? null, baseUrl: to },
          () =>
            `The deployment's base URL is now ${to}${from ? ` (was ${from})` : ""}. Restart serving instances: what ` +
            `they sign from then on names it.${from ? ` Certificates already issued keep naming ${from}: keep it serving (or redirecting) until they expire.` : ""}`,
        );
      });
    });

  ca.command("set-default")
    .description("make an existing intermediate the default issuer (the switch of a rollover); needs no root key")
    .requiredOption("--id <id>", "intermediate CA id")
    .action(async (opts: { id: string }) => {
      await ctx.withServices(async (s, out) => {
        const record = await s.ca.setDefault(opts.id, cliActor());
        out.result(
          caView(record),
          () => `"${record.id}" is now the default issuer; restart serving instances so they pick it up.`,
        );
      });
    });
}

/**
 * What a new intermediate takes from config: the root's organization and country, and the
 * configured intermediate's policy settings (unset: derived from the profiles it may issue).
 */
function caSubjectAndPolicies(ca: Config["ca"]): Pick<CaSettings, "organization" | "country" | "policies" | "cpsUri"> {
  const configured = ca.intermediates[0]!;
  return {
    organization: ca.root.organization,
    country: ca.root.country,
    policies: configured.policies,
    cpsUri: configured.cpsUri,
  };
}
