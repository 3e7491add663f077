import { once } from "node:events";
import { createWriteStream, readFileSync, writeFileSync } from "node:fs";
import { Command, Option } from "commander";
import { type Services, compose } from "../compose.js";
import { type Config, listenAddress, loadConfig, PRESETS, type PresetName } from "../config/index.js";
import { BadRequestError, ConflictError } from "../errors/index.js";
import { normalizeSerial } from "../pki/serial.js";
import { checkCsrsWithoutThreads } from "../issuance/index.js";
import { cliActor } from "./actor.js";
import { KEY_ALGORITHMS, type ManagedKey, RECIPIENT_POLICIES, type RecipientPolicy } from "../keys/index.js";
import { keyView } from "../keys/index.js";
import { totpQrForTerminal } from "../access/index.js";
import { approvalView, userView } from "../access/index.js";
import { createApp } from "../http/app.js";
import { listen, type TlsOptions } from "../http/server.js";
import { isWorker, reportListening, superviseWorkers } from "../http/workers.js";
import { openDatabase } from "../storage/index.js";
import { auditView } from "../audit/index.js";
import { caView } from "../signer/index.js";
import { certificateView } from "../issuance/index.js";
import { REASONS, REVOCATION_REASONS, reasonName, revocationView } from "../revocation/index.js";
import { KEY_TYPES } from "../pki/key-types.js";
import { certificatePem } from "../pki/pem.js";
import { addBackupCommands } from "./backup-commands.js";
import { addCeremonyCommands, ceremonyWitnesses, offlineRootToken } from "./ceremony-commands.js";
import { addEscrowCommands } from "./escrow-commands.js";
import { storePreset } from "./preset-file.js";
import { declarePermissions } from "./permissions.js";
import { createLogger } from "../log.js";
import { createOutput, type Output, reportError, table } from "./output.js";

interface GlobalOptions {
  json?: boolean;
  dataDir?: string;
}

function configFrom(program: Command, overrides: Record<string, unknown> = {}): Config {
  const opts = program.opts<GlobalOptions>();
  return loadConfig({ overrides: { ...(opts.dataDir ? { dataDir: opts.dataDir } : {}), ...overrides } });
}

/** Runs a command with the service graph open, reporting errors the CLI way, closing everything after. */
async function withServices(
  program: Command,
  work: (services: Services, out: Output) => Promise<void>,
  overrides?: Record<string, unknown>,
): Promise<void> {
  const out = createOutput(program.opts<GlobalOptions>().json ?? false);
  let services: Services | undefined;
  try {
    const config = configFrom(program, overrides);
    // A command signs and checks a handful of objects: starting threads would take longer.
    await checkCsrsWithoutThreads();
    services = await compose(
      { ...config, hsm: { ...config.hsm, signingThreads: 0 } },
      { logger: createLogger("warn") },
    );
    await work(services, out);
  } catch (error) {
    process.exitCode = reportError(error, out.json);
  } finally {
    await services?.close();
  }
}

const date = (d: Date) => d.toISOString().slice(0, 10);

export function buildProgram(): Command {
  const program = new Command("keyward")
    .description("Keyward: a certificate authority and key manager with keys in a PKCS#11 HSM")
    // Not commander's .version(): a root --version takes `--version` from every subcommand
    // (key destroy --version N); `keyward --version` is answered in main.ts.
    .option("--json", "machine-readable output")
    .option("--data-dir <dir>", "data directory (default $KEYWARD_DATA_DIR or ./data)")
    .addHelpText("after", "\nkeyward --version prints the version.")
    .showHelpAfterError();

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
      await withServices(
        program,
        async (s, out) => {
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
          for (const ca of created) await s.crl.generate(ca.id);
          const presetFile = opts.profile ? storePreset(s.config.dataDir, opts.profile) : undefined;
          out.result({ initialized: true, preset: s.config.preset ?? null, cas: created.map(caView) }, () =>
            [
              `Initialised CA in ${s.config.dataDir}:`,
              table(
                created.map((c) => [
                  `  ${c.id}`,
                  c.kind,
                  c.keyType,
                  `until ${date(c.notAfter)}`,
                  c.isDefault ? "default issuer" : "",
                  c.subject,
                ]),
              ),
              `Root certificate: ${s.config.baseUrl}/ca/root.pem`,
              ...(presetFile ? [`Preset: ${s.config.preset} (stored in ${presetFile})`] : []),
              ...(rootToken
                ? [`The root key is on token "${rootToken}": detach it now; the server runs without it.`]
                : []),
            ].join("\n"),
          );
        },
        overrides,
      );
    });

  program
    .command("serve")
    .description("serve the CA over HTTP (KEYWARD_LISTEN, default 127.0.0.1:8080)")
    .option("--listen <host:port>", "address to listen on")
    .option("--workers <n>", "processes sharing the port, one core each (KEYWARD_WORKERS, default 1)", (v) =>
      positiveInt(v, "--workers"),
    )
    .action(async (opts: { listen?: string; workers?: number }) => {
      const out = createOutput(program.opts<GlobalOptions>().json ?? false);
      let services: Services | undefined;
      try {
        const config = configFrom(program, {
          ...(opts.listen ? { listen: opts.listen } : {}),
          ...(opts.workers ? { workers: opts.workers } : {}),
        });
        const logger = createLogger(config.log.level);
        if (config.workers > 1 && !isWorker()) {
          // Migrations once, before the workers race to run them.
          await (await openDatabase(config.database.url)).close();
          const url = await superviseWorkers(config.workers, logger, (code) => process.exit(code));
          out.result({ url, workers: config.workers }, () => `Keyward listening on ${url} (${config.workers} workers)`);
          return;
        }
        services = await compose(config, { logger });
        await services.ca.root();
        services.startSchedulers();
        const { host, port } = listenAddress(config.listen);
        const server = await listen(createApp(services, logger), host, port, await tlsOptions(services));
        logger.info({ url: server.url, dataDir: config.dataDir }, "listening");
        if (isWorker()) reportListening(server.url);
        else out.result({ url: server.url }, () => `Keyward listening on ${server.url}`);
        const opened = services;
        let stopping = false;
        const stop = async (signal: string) => {
          if (stopping) return;
          stopping = true;
          logger.info({ signal, graceSeconds: config.shutdownGraceSeconds }, "shutting down");
          // Not ready any more, but still serving: load balancers take us out before the port closes.
          opened.beginDrain();
          await new Promise((r) => setTimeout(r, config.shutdownGraceSeconds * 1000));
          await server.close().catch(() => undefined);
          await opened.close();
          process.exit(0);
        };
        process.once("SIGTERM", () => void stop("SIGTERM"));
        process.once("SIGINT", () => void stop("SIGINT"));
      } catch (error) {
        process.exitCode = reportError(error, out.json);
        await services?.close();
      }
    });

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
        await withServices(program, async (s, out) => {
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
      await withServices(program, async (s, out) => {
        const items = await s.tokens.list();
        out.result({ items }, () =>
          table([
            ["ID", "NAME", "ROLE", "EXPIRES", "LAST USED", "REVOKED"],
            ...items.map((t) => [
              t.id,
              t.name,
              t.role,
              t.expiresAt ? date(t.expiresAt) : "never",
              t.lastUsedAt?.toISOString() ?? "",
              t.revokedAt ? date(t.revokedAt) : "",
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
      await withServices(program, async (s, out) => {
        await s.tokens.revoke(id, cliActor());
        out.result({ id, revoked: true }, () => `Token ${id} revoked.`);
      });
    });

  const user = program.command("user").description("people: password + TOTP logins with roles");
  user
    .command("create")
    .description("create a person; prints the TOTP enrolment QR code and recovery codes once")
    .requiredOption("--name <name>", "login name")
    .requiredOption("--role <role>", "admin, ca-operator, key-officer, auditor or requester")
    .option("--password-stdin", "read the password from the first line of stdin (for scripts)")
    .action(async (opts: { name: string; role: string; passwordStdin?: boolean }) => {
      const password = await readPassword(opts.passwordStdin ?? false);
      await withServices(program, async (s, out) => {
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
    .command("list")
    .description("list people and their roles")
    .action(async () => {
      await withServices(program, async (s, out) => {
        const items = (await s.users.list()).map(userView);
        out.result({ items }, () =>
          table([
            ["NAME", "ROLE", "CREATED", "LOCKED UNTIL"],
            ...items.map((u) => [u.name, u.role, u.createdAt.slice(0, 10), u.lockedUntil ?? ""]),
          ]),
        );
      });
    });

  program
    .command("approvals")
    .description("approval requests for sensitive operations (approve or reject them through the API or console)")
    .addOption(new Option("--status <status>").choices(["pending", "executed", "rejected", "expired", "failed"]))
    .action(async (opts: { status?: "pending" | "executed" | "rejected" | "expired" | "failed" }) => {
      await withServices(program, async (s, out) => {
        const items = (await s.approvals.list({ status: opts.status, limit: 100 })).map(approvalView);
        out.result({ items }, () =>
          table([
            ["ID", "STATUS", "OPERATION", "BY", "VOTES", "EXPIRES", "SUMMARY"],
            ...items.map((a) => [
              a.id,
              a.status,
              a.operation,
              a.requestedBy.name,
              `${a.votes.filter((v) => v.decision === "approve").length}/${a.requiredApprovals}`,
              a.expiresAt,
              a.summary,
            ]),
          ]),
        );
      });
    });

  const audit = program.command("audit").description("the tamper-evident audit log");
  audit
    .command("verify")
    .description("recompute the hash chain and check every signed checkpoint (exit 1 when broken)")
    .action(async () => {
      await withServices(program, async (s, out) => {
        out.progress("Verifying the audit chain…");
        const result = await s.audit.verify();
        out.result(result, () =>
          result.ok
            ? `OK: ${result.events} events, ${result.checkpoints} signed checkpoints, chain intact.`
            : `BROKEN at event ${result.problem!.seq} (${result.problem!.kind}): ${result.problem!.detail}`,
        );
        if (!result.ok) process.exitCode = 1;
      });
    });
  audit
    .command("checkpoint")
    .description("sign a checkpoint of the chain head now with the HSM audit key")
    .action(async () => {
      await withServices(program, async (s, out) => {
        const checkpoint = await s.audit.checkpoint();
        out.result(
          checkpoint ? { seq: checkpoint.seq, hash: checkpoint.hash, at: checkpoint.at } : { seq: null },
          () =>
            checkpoint ? `Checkpoint signed at event ${checkpoint.seq}.` : "Nothing new since the last checkpoint.",
        );
      });
    });
  audit
    .command("export")
    .description("write every event and checkpoint as JSON Lines, with the signer chain, for offline verification")
    .requiredOption("--out <file>", "JSON Lines file to write")
    .action(async (opts: { out: string }) => {
      await withServices(program, async (s, out) => {
        const file = createWriteStream(opts.out, { mode: 0o600 });
        let lines = 0;
        for await (const line of s.audit.export()) {
          if (!file.write(line)) await once(file, "drain");
          if (++lines % 10_000 === 0) out.progress(`${lines} lines…`);
        }
        file.end();
        await once(file, "finish");
        out.result({ file: opts.out, lines }, () => `Wrote ${lines} lines to ${opts.out}.`);
      });
    });
  audit
    .command("list")
    .description("show audit events, oldest first")
    .option("--action <action>", "only this action, e.g. certificate.revoke")
    .option("--after <seq>", "events after this sequence number", (v) => positiveInt(v, "--after"))
    .option("--limit <n>", "at most this many", (v) => positiveInt(v, "--limit"), 100)
    .action(async (opts: { action?: string; after?: number; limit: number }) => {
      await withServices(program, async (s, out) => {
        const items = await s.audit.search({ action: opts.action, afterSeq: opts.after, limit: opts.limit });
        out.result({ items: items.map(auditView) }, () =>
          table([
            ["SEQ", "AT", "ACTION", "ACTOR", "TARGET", "OUTCOME"],
            ...items.map((e) => [
              String(e.seq),
              e.at.toISOString(),
              e.action,
              e.actor.name,
              e.target ? `${e.target.type}:${e.target.id}` : "",
              e.outcome,
            ]),
          ]),
        );
      });
    });

  const cert = program.command("cert").description("certificates");
  cert
    .command("issue")
    .description("issue a certificate from a PKCS#10 CSR")
    .requiredOption("--csr <file>", "PEM CSR file")
    .option("--profile <name>", "certificate profile", "server")
    .option("--validity-days <days>", "validity in days (up to the profile's maximum)", (v) =>
      positiveInt(v, "--validity-days"),
    )
    .option("--out <file>", "write the certificate PEM here instead of stdout")
    .option("--chain-out <file>", "write the issuing chain PEM here")
    .action(async (opts: { csr: string; profile: string; validityDays?: number; out?: string; chainOut?: string }) => {
      await withServices(program, async (s, out) => {
        const csr = readInputFile(opts.csr, "CSR");
        const issued = await s.issuance.issue({
          csr,
          profile: opts.profile,
          validityDays: opts.validityDays,
          actor: cliActor(),
        });
        const certificate = certificatePem(issued.certificate);
        const chain = issued.chain.map((c) => certificatePem(new Uint8Array(c.rawData))).join("");
        if (opts.out) writeFileSync(opts.out, certificate);
        if (opts.chainOut) writeFileSync(opts.chainOut, chain);
        out.progress(
          `Issued serial ${issued.serial} (profile ${issued.profile}, issuer ${issued.caId}, until ${issued.notAfter.toISOString()})`,
        );
        out.result({ serial: issued.serial, certificate, chain, notAfter: issued.notAfter.toISOString() }, () =>
          opts.out ? `${opts.out}` : certificate,
        );
      });
    });

  cert
    .command("show")
    .description("show a certificate and its status")
    .argument("[serial]", "serial number (hex)")
    .option("--serial <serial>", "serial number (hex)")
    .option("--pem", "print only the certificate PEM")
    .action(async (serialArg: string | undefined, opts: { serial?: string; pem?: boolean }) => {
      await withServices(program, async (s, out) => {
        const serial = opts.serial ?? serialArg;
        if (!serial) throw new BadRequestError("give a serial: keyward cert show <serial>");
        const view = certificateView(await s.issuance.get(serial), s.clock.now(), true);
        out.result(view, () =>
          opts.pem
            ? (view.certificate ?? "")
            : table([
                ["serial", view.serial],
                ["status", view.status],
                ["profile", view.profile],
                ["issuer", view.issuer],
                ["subject", view.subject || "(empty)"],
                ["names", view.names.join(", ")],
                ["key", `${view.keyType} sha256:${view.spkiSha256}`],
                ["valid", `${view.notBefore} → ${view.notAfter}`],
                ...(view.revokedAt ? [["revoked", `${view.revokedAt} reason ${view.revocationReason}`]] : []),
              ]),
        );
      });
    });

  cert
    .command("list")
    .description("list certificates")
    .option("--name <text>", "part of a subject or name")
    .addOption(new Option("--status <status>").choices(["valid", "revoked", "expired", "pending", "failed"]))
    .option("--profile <name>")
    .option("--expires-within-days <days>", "only those expiring within N days", (v) =>
      positiveInt(v, "--expires-within-days"),
    )
    .option("--limit <n>", "at most this many", (v) => positiveInt(v, "--limit"), 100)
    .action(
      async (opts: {
        name?: string;
        status?: "valid";
        profile?: string;
        expiresWithinDays?: number;
        limit: number;
      }) => {
        await withServices(program, async (s, out) => {
          const now = s.clock.now();
          const records = await s.issuance.list({
            name: opts.name,
            status: opts.status,
            profile: opts.profile,
            expiresAfter: opts.expiresWithinDays ? now : undefined,
            expiresBefore: opts.expiresWithinDays
              ? new Date(now.getTime() + opts.expiresWithinDays * 86_400_000)
              : undefined,
            limit: opts.limit,
          });
          const items = records.map((r) => certificateView(r, now, false));
          out.result({ items }, () =>
            items.length === 0
              ? "No certificates match."
              : table([
                  ["SERIAL", "STATUS", "PROFILE", "NOT AFTER", "NAMES"],
                  ...items.map((c) => [c.serial, c.status, c.profile, c.notAfter.slice(0, 10), c.names.join(", ")]),
                ]),
          );
        });
      },
    );

  cert
    .command("revoke")
    .description("revoke a certificate (RFC 5280 reason; keyCompromise also blocks its key)")
    .argument("[serial]", "serial number (hex)")
    .option("--serial <serial>", "serial number (hex)")
    .addOption(new Option("--reason <reason>", "revocation reason").choices(REVOCATION_REASONS).default("unspecified"))
    .option("--invalidity-date <iso>", "when the key is known or suspected to have been compromised")
    .action(
      async (serialArg: string | undefined, opts: { serial?: string; reason: string; invalidityDate?: string }) => {
        await withServices(program, async (s, out) => {
          const serial = opts.serial ?? serialArg;
          if (!serial) throw new BadRequestError("give a serial: keyward cert revoke <serial> --reason <reason>");
          const invalidityDate = opts.invalidityDate ? parseDate(opts.invalidityDate, "--invalidity-date") : undefined;
          const result = await s.revocation.revoke({ serial, reason: opts.reason, invalidityDate, actor: cliActor() });
          // The CLI exits at once: sign the CRL now instead of after the server's debounce.
          const crl = await s.crl.generate((await s.issuance.get(serial)).caId);
          out.result(
            { ...revocationView(result), crlNumber: crl.number },
            () => `Revoked ${result.serial} (${result.reason}); OCSP answers re-signed, CRL ${crl.number} published.`,
          );
        });
      },
    );

  cert
    .command("release")
    .description("release a certificate from certificateHold")
    .argument("<serial>", "serial number (hex)")
    .action(async (serial: string) => {
      await withServices(program, async (s, out) => {
        const result = await s.revocation.release(serial, cliActor());
        const crl = await s.crl.generate((await s.issuance.get(serial)).caId);
        out.result(
          { ...revocationView(result), crlNumber: crl.number },
          () => `Released ${result.serial}: valid again; CRL ${crl.number} published.`,
        );
      });
    });

  program
    .command("crl")
    .description("sign a new CRL now: `crl root` for the root (needs the root key), `crl <ca-id>` for an intermediate")
    .argument("[ca]", "CA id", "")
    .option("--out <file>", "also write the DER CRL here")
    .option("--witness <name:otp...>", "offline root: a ceremony witness and their current one-time code")
    .action(async (caArg: string, opts: { out?: string; witness?: string[] }) => {
      await withServices(program, async (s, out) => {
        const caId = caArg === "root" || caArg === "" ? (await s.ca.root()).id : caArg;
        const ca = await s.ca.get(caId);
        const ceremony = ca.kind === "root" ? await ceremonyWitnesses(s, undefined, opts.witness ?? []) : undefined;
        const crl = await s.crl.generate(ca.id);
        if (ceremony?.rootToken) {
          await s.audit.record({
            action: "ceremony.sign-root-crl",
            actor: cliActor(),
            target: { type: "ca", id: ca.id },
            outcome: "success",
            details: { rootToken: ceremony.rootToken, witnesses: ceremony.witnesses, number: crl.number },
          });
        }
        if (opts.out) writeFileSync(opts.out, crl.der);
        out.result(
          {
            ca: ca.id,
            number: crl.number,
            thisUpdate: crl.thisUpdate.toISOString(),
            nextUpdate: crl.nextUpdate.toISOString(),
            bytes: crl.der.length,
          },
          () =>
            `CRL ${crl.number} for ${ca.id} signed; valid until ${crl.nextUpdate.toISOString()} (${crl.der.length} bytes). Served at ${s.config.baseUrl}/crl/${ca.id}.crl`,
        );
      });
    });

  program
    .command("revocations")
    .description("list revocations")
    .option("--issuer <ca-id>")
    .addOption(new Option("--reason <reason>").choices(REVOCATION_REASONS))
    .option("--limit <n>", "at most this many", (v) => positiveInt(v, "--limit"), 100)
    .action(async (opts: { issuer?: string; reason?: keyof typeof REASONS; limit: number }) => {
      await withServices(program, async (s, out) => {
        const items = (
          await s.revocation.list({
            caId: opts.issuer,
            reason: opts.reason ? REASONS[opts.reason] : undefined,
            limit: opts.limit,
          })
        ).map((r) => ({
          serial: r.serial,
          issuer: r.caId,
          reason: reasonName(r.reason),
          revokedAt: r.revokedAt.toISOString(),
        }));
        out.result({ items }, () =>
          items.length === 0
            ? "No revocations."
            : table([
                ["SERIAL", "ISSUER", "REASON", "REVOKED AT"],
                ...items.map((r) => [r.serial, r.issuer, r.reason ?? "", r.revokedAt]),
              ]),
        );
      });
    });

  const key = program
    .command("key")
    .description("symmetric keys in the HSM (KMS), and blocking compromised public keys");
  const showKey = (k: ManagedKey) =>
    table([
      ["VERSION", "STATE", "CREATED", "DESTROY AFTER"],
      ...k.versions.map((v) => [
        String(v.version),
        v.state,
        v.createdAt.toISOString(),
        v.destroyAfter?.toISOString() ?? "",
      ]),
    ]);
  key
    .command("create")
    .description("create a symmetric key generated in the HSM")
    .requiredOption("--name <name>", "key name")
    .addOption(new Option("--algorithm <alg>").choices(KEY_ALGORITHMS).default("AES-256"))
    .option("--distributable", "may be wrapped to recipient certificates (extractable in the token)")
    .option("--rotation-days <n>", "rotate automatically after this many days", (v) =>
      positiveInt(v, "--rotation-days"),
    )
    .option("--cryptoperiod-days <n>", "deactivate each version after this many days", (v) =>
      positiveInt(v, "--cryptoperiod-days"),
    )
    .option("--tags <tags>", "comma-separated tags (scopes can name tag:<t>)", list)
    .addOption(
      new Option("--on-recipient-revoked <policy>", "when a recipient certificate is revoked")
        .choices(RECIPIENT_POLICIES)
        .default("flag"),
    )
    .option("--activate-at <time>", "start in pre-activation until this ISO time", (v) => parseDate(v, "--activate-at"))
    .option("--deactivate-at <time>", "deactivate the first version at this ISO time", (v) =>
      parseDate(v, "--deactivate-at"),
    )
    .action(
      async (opts: {
        name: string;
        algorithm: (typeof KEY_ALGORITHMS)[number];
        distributable?: boolean;
        rotationDays?: number;
        cryptoperiodDays?: number;
        tags?: string[];
        onRecipientRevoked: RecipientPolicy;
        activateAt?: Date;
        deactivateAt?: Date;
      }) => {
        await withServices(program, async (s, out) => {
          const created = await s.keys.create({ ...opts, distributable: opts.distributable ?? false }, cliActor());
          out.result(
            keyView(created),
            () => `Key ${created.name} (${created.id}), ${created.algorithm}:\n${showKey(created)}`,
          );
        });
      },
    );
  key
    .command("list")
    .description("list symmetric keys")
    .action(async () => {
      await withServices(program, async (s, out) => {
        const items = await s.keys.list();
        out.result({ items: items.map(keyView) }, () =>
          table([
            ["ID", "NAME", "ALGORITHM", "PRIMARY", "VERSIONS"],
            ...items.map((k) => [
              k.id,
              k.name,
              k.algorithm,
              String(s.keys.primary(k)?.version ?? "none"),
              k.versions.map((v) => `${v.version}:${v.state}`).join(" "),
            ]),
          ]),
        );
      });
    });
  key
    .command("show")
    .argument("<id>", "key id")
    .description("one key with its versions")
    .action(async (id: string) => {
      await withServices(program, async (s, out) => {
        const k = await s.keys.get(id);
        out.result(keyView(k), () => `${k.name} (${k.algorithm}, ${k.purpose})\n${showKey(k)}`);
      });
    });
  key
    .command("rotate")
    .argument("<id>", "key id")
    .description("add a new primary version")
    .action(async (id: string) => {
      await withServices(program, async (s, out) => {
        const k = await s.keys.rotate(id, cliActor());
        out.result(keyView(k), () => showKey(k));
      });
    });
  for (const [command, to, about] of [
    ["suspend", "suspended", "stop all use until resumed"],
    ["resume", "active", "end a suspension"],
    ["deactivate", "deactivated", "decrypt only from now on"],
    ["compromise", "compromised", "mark compromised: no more use"],
  ] as const) {
    key
      .command(command)
      .argument("<id>", "key id")
      .option("--version <n>", "only this version", (v) => positiveInt(v, "--version"))
      .option("--reason <text>", "why (recorded in the audit log)")
      .description(about)
      .action(async (id: string, opts: { version?: number; reason?: string }) => {
        await withServices(program, async (s, out) => {
          const k = await s.keys.changeState(id, { to, version: opts.version, reason: opts.reason }, cliActor());
          out.result(keyView(k), () => showKey(k));
        });
      });
  }
  key
    .command("destroy")
    .argument("<id>", "key id")
    .requiredOption("--version <n>", "version to destroy", (v) => positiveInt(v, "--version"))
    .description("schedule C_DestroyObject after the waiting period (kms.destroyWaitDays); cancel with cancel-destroy")
    .action(async (id: string, opts: { version: number }) => {
      await withServices(program, async (s, out) => {
        const k = await s.keys.scheduleDestroy(id, opts.version, cliActor());
        out.result(keyView(k), () => showKey(k));
      });
    });
  key
    .command("cancel-destroy")
    .argument("<id>", "key id")
    .requiredOption("--version <n>", "version", (v) => positiveInt(v, "--version"))
    .description("cancel a scheduled destruction")
    .action(async (id: string, opts: { version: number }) => {
      await withServices(program, async (s, out) => {
        const k = await s.keys.cancelDestroy(id, opts.version, cliActor());
        out.result(keyView(k), () => showKey(k));
      });
    });
  key
    .command("encrypt")
    .argument("<id>", "key id")
    .requiredOption("--in <file>", "plaintext file ('-' for stdin)")
    .description("print a compact JWE of the file, made in the HSM")
    .action(async (id: string, opts: { in: string }) => {
      await withServices(program, async (s, out) => {
        const data = readFileSync(opts.in === "-" ? 0 : opts.in);
        const sealed = await s.keyCrypto.encrypt(id, data, cliActor());
        out.result(sealed, () => sealed.ciphertext);
      });
    });
  key
    .command("decrypt")
    .argument("<id>", "key id")
    .requiredOption("--in <file>", "file with the compact JWE ('-' for stdin)")
    .option("--out <file>", "write the plaintext here (default stdout)")
    .description("decrypt a JWE made by key encrypt")
    .action(async (id: string, opts: { in: string; out?: string }) => {
      await withServices(program, async (s, out) => {
        const jwe = readInputFile(opts.in, "ciphertext").trim();
        const { plaintext, version } = await s.keyCrypto.decrypt(id, jwe, cliActor());
        if (opts.out) writeFileSync(opts.out, plaintext, { mode: 0o600 });
        if (out.json) out.result({ plaintext: plaintext.toString("base64"), version }, () => "");
        else if (!opts.out) process.stdout.write(plaintext);
      });
    });
  key
    .command("policy")
    .argument("<id>", "key id")
    .addOption(
      new Option("--on-recipient-revoked <policy>", "flag, rotate or compromise")
        .choices(RECIPIENT_POLICIES)
        .makeOptionMandatory(),
    )
    .description("set what revoking a recipient certificate does to the key")
    .action(async (id: string, opts: { onRecipientRevoked: RecipientPolicy }) => {
      await withServices(program, async (s, out) => {
        const k = await s.keys.setPolicy(id, opts.onRecipientRevoked, cliActor());
        out.result(keyView(k), () => `${k.name}: on recipient revoked, ${k.onRecipientRevoked}`);
      });
    });
  key
    .command("distribute")
    .argument("<id>", "key id")
    .requiredOption("--certificate <file>", "the recipient's certificate (PEM)")
    .addOption(new Option("--format <format>").choices(["cms", "jwe"]).default("cms"))
    .option("--version <n>", "version to send (default: the primary)", (v) => positiveInt(v, "--version"))
    .option("--out <file>", "write the CMS (DER) or JWE here instead of printing it")
    .description(
      "wrap a distributable key to a checked recipient certificate (openssl cms -decrypt / any JOSE library opens it)",
    )
    .action(
      async (id: string, opts: { certificate: string; format: "cms" | "jwe"; version?: number; out?: string }) => {
        await withServices(program, async (s, out) => {
          const result = await s.distribution.distribute(
            id,
            { certificate: readInputFile(opts.certificate, "certificate"), format: opts.format, version: opts.version },
            cliActor(),
          );
          if (opts.out) {
            const bytes = result.format === "cms" ? Buffer.from(result.data, "base64") : Buffer.from(result.data);
            writeFileSync(opts.out, bytes);
          }
          out.result(result, () =>
            opts.out
              ? `Version ${result.version} of key ${id} sealed for ${result.recipient.subject} (${result.recipient.serial}) as ${result.format.toUpperCase()} in ${opts.out}`
              : result.format === "cms"
                ? `-----BEGIN CMS-----\n${result.data.replace(/.{64}/g, "$&\n").replace(/\n?$/, "\n")}-----END CMS-----`
                : result.data,
          );
        });
      },
    );
  key
    .command("import-certificate")
    .option("--out <file>", "write the PEM chain here")
    .description("print Keyward's key-import certificate chain: seal keys to it for key import")
    .action(async (opts: { out?: string }) => {
      await withServices(program, async (s, out) => {
        const chain = await s.keyImport.importCertificate();
        const pem = chain.map((c) => certificatePem(new Uint8Array(c.rawData))).join("");
        if (opts.out) writeFileSync(opts.out, pem);
        out.result({ certificate: pem, subject: chain[0]!.subject, notAfter: chain[0]!.notAfter.toISOString() }, () =>
          opts.out ? `Import certificate chain written to ${opts.out}` : pem.trimEnd(),
        );
      });
    });
  key
    .command("import")
    .argument("<id>", "key id")
    .requiredOption("--in <file>", "the sealed key: CMS (DER or PEM) or compact JWE ('-' for stdin)")
    .addOption(new Option("--format <format>").choices(["cms", "jwe"]).default("cms"))
    .description("import (BYOK) a key version sealed to the import certificate; it becomes the primary version")
    .action(async (id: string, opts: { in: string; format: "cms" | "jwe" }) => {
      await withServices(program, async (s, out) => {
        const raw = readFileSync(opts.in === "-" ? 0 : opts.in);
        const text = raw.toString("latin1");
        const data =
          opts.format === "jwe"
            ? text.trim()
            : text.includes("-----BEGIN")
              ? text.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "")
              : raw.toString("base64");
        const k = await s.keyImport.importVersion(id, opts.format, data, cliActor());
        out.result(
          keyView(k),
          () => `Imported version ${Math.max(...k.versions.map((v) => v.version))} of ${k.name}:\n${showKey(k)}`,
        );
      });
    });
  key
    .command("distributions")
    .argument("<id>", "key id")
    .description("every distribution of the key and whether its recipient was revoked (exposed)")
    .action(async (id: string) => {
      await withServices(program, async (s, out) => {
        const items = await s.distribution.list(id);
        out.result({ items }, () =>
          items.length === 0
            ? "No distributions."
            : table([
                ["VERSION", "FORMAT", "RECIPIENT", "SERIAL", "AT", "BY", "EXPOSED"],
                ...items.map((d) => [
                  String(d.version),
                  d.format,
                  d.recipientSubject,
                  d.recipientSerial,
                  d.createdAt.toISOString(),
                  d.createdBy,
                  d.exposedAt ? d.exposedAt.toISOString() : "no",
                ]),
              ]),
        );
      });
    });
  key
    .command("block")
    .description("block a compromised key from future issuance (by SPKI SHA-256, public key or certificate file)")
    .option("--spki-sha256 <hex>")
    .option("--public-key <file>", "PEM public key")
    .option("--certificate <file>", "PEM certificate")
    .option("--revoke-all", "also revoke every unexpired certificate with this key (keyCompromise)")
    .action(async (opts: { spkiSha256?: string; publicKey?: string; certificate?: string; revokeAll?: boolean }) => {
      await withServices(program, async (s, out) => {
        const result = await s.revocation.blockKey(
          {
            spkiSha256: opts.spkiSha256,
            publicKey: opts.publicKey ? readInputFile(opts.publicKey, "public key") : undefined,
            certificate: opts.certificate ? readInputFile(opts.certificate, "certificate") : undefined,
          },
          { revokeAll: opts.revokeAll ?? false, actor: cliActor() },
        );
        for (const caId of new Set(
          await Promise.all(result.revoked.map(async (serial) => (await s.issuance.get(serial)).caId)),
        )) {
          await s.crl.generate(caId);
        }
        out.result(
          result,
          () =>
            `Blocked key sha256:${result.spkiSha256}${result.revoked.length ? `; revoked ${result.revoked.join(", ")}` : ""}.`,
        );
      });
    });

  const acmeCommand = program.command("acme").description("ACME administration");
  acmeCommand
    .command("eab")
    .description("external account binding keys")
    .command("create")
    .description("create a key id and HMAC key for one ACME account (the HMAC key is shown once)")
    .option("--name <name>", "who the binding is for", "acme-account")
    .action(async (opts: { name: string }) => {
      await withServices(program, async (s, out) => {
        const created = await s.acme.accounts.createExternalAccountKey(opts.name, cliActor());
        out.progress(`External account key for "${opts.name}"; the HMAC key is shown only once:`);
        out.result(created, () => `kid:      ${created.kid}\nhmac key: ${created.hmacKey}`);
      });
    });

  acmeCommand
    .command("renew-early")
    .description("ask ACME clients to renew now (RFC 9773 ARI), e.g. after a key compromise or before a CA rollover")
    .option("--serial <serial...>", "certificates to renew")
    .option("--ca <id>", "every unexpired certificate of this CA")
    .option("--hours <n>", "length of the renewal window from now", "1")
    .option("--explanation-url <url>", "page that tells subscribers why")
    .action(async (opts: { serial?: string[]; ca?: string; hours: string; explanationUrl?: string }) => {
      await withServices(program, async (s, out) => {
        if (!opts.serial === !opts.ca) throw new BadRequestError("give either --serial or --ca");
        const hours = Number(opts.hours);
        if (!(hours > 0 && hours <= 24 * 90)) throw new BadRequestError("--hours must be between 0 and 2160");
        const start = s.clock.now();
        const result = await s.acme.renewals.forceRenewal(
          opts.ca ? { caId: opts.ca } : { serials: opts.serial!.map(normalizeSerial) },
          {
            start,
            end: new Date(start.getTime() + hours * 3_600_000),
            explanationUrl: opts.explanationUrl,
            actor: cliActor(),
          },
        );
        out.result(
          { certificates: result.certificates, window: { start: result.window.start, end: result.window.end } },
          () =>
            `${result.certificates} certificate(s) now ask ACME clients to renew between ${result.window.start.toISOString()} and ${result.window.end.toISOString()}`,
        );
      });
    });

  const ca = program.command("ca").description("the CA hierarchy");
  ca.command("list")
    .description("list the root and intermediates")
    .action(async () => {
      await withServices(program, async (s, out) => {
        const cas = await s.ca.list();
        out.result({ items: cas.map(caView) }, () =>
          table([
            ["ID", "KIND", "KEY", "NOT AFTER", "DEFAULT", "SUBJECT"],
            ...cas.map((c) => [c.id, c.kind, c.keyType, date(c.notAfter), c.isDefault ? "yes" : "", c.subject]),
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
      await withServices(program, async (s, out) => {
        // With the offline root attached this is a ceremony (witnesses first); without it, the
        // revocation is recorded now and the root CRL is signed at the next ceremony.
        const offline = await offlineRootToken(s);
        if (offline && s.caTokens.isAttached(offline)) await ceremonyWitnesses(s, "ca.revoke", opts.witness ?? []);
        const record = await s.ca.revokeIntermediate(opts.id, REASONS[opts.reason], cliActor());
        // It issues nothing more from now on; with an offline root, its CRL waits for the ceremony.
        const crl = await s.crl.generate(record.parentId!).catch((error: Error) => error);
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
      await withServices(program, async (s, out) => {
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
            organization: s.config.ca.root.organization,
            validityDays: opts.validityDays,
          },
          { makeDefault: opts.default ?? false, nameConstraints: s.config.ca.nameConstraints },
          cliActor(),
        );
        out.result(
          caView(record),
          () =>
            `Created intermediate "${record.id}" (${record.subject}), until ${date(record.notAfter)}${record.isDefault ? ", now the default issuer" : ""}.`,
        );
      });
    });

  addEscrowCommands(program, { withServices, positiveInt, list, readInputFile });
  addCeremonyCommands(program, ca, { withServices, positiveInt });
  addBackupCommands(program, { withServices, positiveInt, list, readInputFile });
  declarePermissions(program);
  return program;
}

function positiveInt(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new BadRequestError(`${flag} must be a positive whole number, got "${value}"`);
  return n;
}

function parseDate(value: string, flag: string): Date {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw new BadRequestError(`${flag} must be an ISO-8601 date, got "${value}"`);
  return date;
}

function readInputFile(path: string, what: string): string {
  try {
    return readFileSync(path === "-" ? 0 : path, "utf8");
  } catch (error) {
    throw new BadRequestError(
      `cannot read the ${what} file ${path}: ${(error as NodeJS.ErrnoException).code ?? "error"}`,
    );
  }
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

function list(value: string): string[] {
  return value
    .split(",")
    .map((v) => v.trim())
    .filter(Boolean);
}

/** HTTPS when `tls` is configured; client certificates are accepted when they chain to our CAs. */
async function tlsOptions(services: Services): Promise<TlsOptions | undefined> {
  const tls = services.config.tls;
  if (!tls) return undefined;
  const cas = await services.ca.list();
  return {
    cert: readInputFile(tls.certFile, "TLS certificate"),
    key: readInputFile(tls.keyFile, "TLS key"),
    ca: cas.map((c) => certificatePem(c.certificate)),
  };
}
