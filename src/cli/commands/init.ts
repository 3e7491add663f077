import { type Command, Option } from "commander";
import { PRESETS, type PresetName } from "../../config/index.js";
import { BadRequestError } from "../../errors/index.js";
import { KEY_TYPES } from "../../pki/key-types.js";
import { caView } from "../../signer/index.js";
import { cliActor } from "../actor.js";
import type { CliContext } from "../context.js";
import { day, table } from "../output.js";
import {
  checkConfiguredToken,
  dataDirEntries,
  ensureDefaultToken,
  removeAdded,
  usesDefaultToken,
} from "../default-token.js";
import { storePreset } from "../preset-file.js";

/** `keyward init`: the CA keys and certificates, once. */
export function registerInit(program: Command, ctx: CliContext): void {
  program
    .command("init")
    .description("create the root and intermediate CA keys in the token and their certificates (never overwrites)")
    .addOption(new Option("--root-key <type>", "root key type (default from config: p384)").choices(KEY_TYPES))
    .addOption(
      new Option("--intermediate-key <type>", "intermediate key type (default from config: p256)").choices(KEY_TYPES),
    )
    .addOption(
      new Option("--profile <preset>", "security-needs preset, stored in <data dir>/keyward.yaml").choices(PRESETS),
    )
    .option("--root-token <label>", "generate the root key on this (offline) token; its PIN: hsm.rootPinSource")
    .action(async (opts: { rootKey?: string; intermediateKey?: string; profile?: PresetName; rootToken?: string }) => {
      const overrides = {
        ...(opts.profile ? { preset: opts.profile } : {}),
        ...(opts.rootToken ? { hsm: { rootToken: opts.rootToken } } : {}),
      };
      let before: ReturnType<typeof dataDirEntries> | undefined;
      let dataDir: string | undefined;
      // The token first: the embedded default is created here as npm start creates it; any other
      // is checked, and what is missing is named, before anything is written.
      await ctx.run((out) => {
        const config = ctx.config(overrides);
        dataDir = config.dataDir;
        before = dataDirEntries(dataDir);
        if (!usesDefaultToken(config)) return checkConfiguredToken(config);
        if (ensureDefaultToken(config).created) {
          out.progress(`Created a SoftHSM2 token "${config.hsm.token}" in ${config.dataDir} (its PIN: hsm.pin)`);
        }
      });
      if (!process.exitCode)
        await ctx.withServices(async (s, out) => {
          const existing = await s.ca.list();
          if (existing.length > 0) {
            out.result(
              { initialized: false, cas: existing.map(caView) },
              () =>
                `CA already initialised in ${s.config.dataDir} (${existing.map((c) => c.id).join(", ")}); nothing changed.`,
            );
            return;
          }
          const settings = structuredClone(s.config.ca);
          if (opts.rootKey) settings.root.keyType = opts.rootKey as typeof settings.root.keyType;
          if (opts.intermediateKey)
            settings.intermediates[0]!.keyType = opts.intermediateKey as typeof settings.root.keyType;
          const rootToken = s.config.hsm.rootToken;
          if (rootToken && !s.caTokens.isAttached(rootToken)) {
            throw new BadRequestError(
              `--root-token: no token labelled "${rootToken}" is attached; create it first (softhsm2-util --init-token --free --label ${rootToken}, or your HSM's tool)`,
            );
          }
          out.progress(
            `Generating the root key (${settings.root.keyType}) in token "${rootToken ?? s.config.hsm.token}" and ` +
              `${settings.intermediates.map((i) => `${i.id} (${i.keyType})`).join(", ")} in token "${s.config.hsm.token}"…`,
          );
          const created = await s.ca.initialize(settings, cliActor());
          // First CRLs now, while the root key is at hand (later root CRLs: `keyward crl root`).
          for (const ca of created) await s.crl.generate(ca.id, cliActor());
          const ssh = await s.ssh.init(cliActor());
          const presetFile = opts.profile ? storePreset(s.config.dataDir, opts.profile) : undefined;
          out.result(
            {
              initialized: true,
              preset: s.config.preset ?? null,
              cas: created.map(caView),
              ssh: ssh.existing.map((k) => ({ type: k.type, keyType: k.keyType })),
            },
            () =>
              [
                `Initialised CA in ${s.config.dataDir}:`,
                table(
                  created.map((c) => [
                    `  ${c.id}`,
                    c.kind,
                    c.keyType,
                    `until ${day(c.notAfter)}`,
                    c.isDefault ? "default issuer" : "",
                    c.subject,
                  ]),
                ),
                `Root certificate: ${s.config.baseUrl}/ca/root.pem`,
                `SSH CA keys: ${ssh.existing.map((k) => `${k.type} (${k.keyType})`).join(", ")}: ${s.config.baseUrl}/ssh/user_ca.pub, ${s.config.baseUrl}/ssh/host_ca.pub`,
                ...(presetFile ? [`Preset: ${s.config.preset} (stored in ${presetFile})`] : []),
                ...(rootToken
                  ? [`The root key is on token "${rootToken}": detach it now; the server runs without it.`]
                  : []),
              ].join("\n"),
          );
        }, overrides);
      // A failed init leaves nothing behind: not a database, not a half-made token.
      if (process.exitCode && dataDir && before) removeAdded(dataDir, before);
    });
}
