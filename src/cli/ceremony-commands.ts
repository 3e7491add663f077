import { writeFileSync } from "node:fs";
import { type Command, Option } from "commander";
import type { Services } from "../compose.js";
import { BadRequestError, ForbiddenError } from "../errors/index.js";
import { parsePkcs11Uri } from "../hsm/index.js";
import { caView } from "../signer/index.js";
import { KEY_TYPES, type KeyType } from "../pki/key-types.js";
import { certificatePem } from "../pki/pem.js";
import { cliActor } from "./actor.js";
import type { Output } from "./output.js";

interface Helpers {
  withServices(program: Command, work: (services: Services, out: Output) => Promise<void>): Promise<void>;
  positiveInt(value: string, flag: string): number;
}

/** The token that holds the root key, from the key's pkcs11: URI. */
async function rootToken(s: Services): Promise<string> {
  const root = await s.ca.root();
  return parsePkcs11Uri(root.keyUri).token ?? s.config.hsm.token;
}

/** The offline token that holds the root key, or undefined when the root is on the online token. */
export async function offlineRootToken(s: Services): Promise<string | undefined> {
  const label = await rootToken(s);
  return label === s.config.hsm.token ? undefined : label;
}

/**
 * Before a command uses an offline root key: the token must be attached (checked first, so the
 * error names what is missing) and the ceremony's witnesses present. Online root: no ceremony.
 */
export async function ceremonyWitnesses(
  s: Services,
  operation: "ca.create" | "ca.revoke" | undefined,
  given: string[],
): Promise<{ rootToken?: string; witnesses: string[] }> {
  const token = await offlineRootToken(s);
  if (!token) return { witnesses: [] };
  await s.caTokens.attach(token);
  return { rootToken: token, witnesses: await checkWitnesses(s, operation, given) };
}

/**
 * Checks the ceremony's witnesses: distinct people, each proving presence with a fresh TOTP code,
 * at least `ceremony.minWitnesses`, and at least the quorum configured for the operation (of its role).
 */
export async function checkWitnesses(
  s: Services,
  operation: "ca.create" | "ca.revoke" | undefined,
  given: string[],
): Promise<string[]> {
  const quorum = operation ? s.config.access.quorum[operation] : undefined;
  const needed = Math.max(s.config.ceremony.minWitnesses, quorum?.approvals ?? 0);
  const people = await s.users.list();
  const witnesses = given.map((entry) => {
    const at = entry.lastIndexOf(":");
    if (at < 1) {
      throw new BadRequestError(
        `--witness takes NAME:OTP (the person's current one-time code), got "${entry.split(":")[0]}"`,
      );
    }
    const name = entry.slice(0, at);
    const person = people.find((p) => p.name === name);
    if (!person) throw new BadRequestError(`witness "${name}" is not a Keyward user (keyward user create)`);
    if (person.role === "requester") {
      throw new ForbiddenError(`witness "${name}" is a requester; witnesses hold an operator role`);
    }
    if (quorum && person.role !== quorum.role && person.role !== "admin") {
      throw new ForbiddenError(
        `witness "${name}" has role ${person.role}; ${operation} needs witnesses with role ${quorum.role}`,
      );
    }
    return { person, otp: entry.slice(at + 1) };
  });
  const names = witnesses.map((w) => w.person.name);
  if (new Set(names).size !== names.length) throw new BadRequestError("witnesses must be distinct people");
  // Counted before any code is checked: a refused ceremony does not burn the witnesses' codes.
  if (names.length < needed) {
    throw new ForbiddenError(
      `this ceremony needs ${needed} witness(es)${quorum ? ` with role ${quorum.role}` : ""} (ceremony.minWitnesses` +
        `${quorum ? `, access.quorum.${operation}` : ""}); got ${names.length}: add --witness NAME:OTP for each`,
    );
  }
  for (const { person, otp } of witnesses) await s.users.stepUp(person.id, otp);
  return names;
}

/** `keyward ca sign-intermediate`: the offline-root ceremony's signing step. */
export function addCeremonyCommands(program: Command, ca: Command, h: Helpers): void {
  ca.command("sign-intermediate")
    .description(
      "at a root ceremony: generate a new intermediate key in the online token and sign its certificate with the root key on the attached root token",
    )
    .requiredOption("--id <id>", "new CA id (lowercase letters, digits, dashes)")
    .addOption(new Option("--key <type>", "key type (default: the configured intermediate's)").choices(KEY_TYPES))
    .option("--cn <name>", "common name")
    .option("--validity-days <days>", "validity (default: the configured intermediate's)", (v) =>
      h.positiveInt(v, "--validity-days"),
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
        await h.withServices(program, async (s, out) => {
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
              organization: s.config.ca.root.organization,
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

  ca.command("set-default")
    .description("make an existing intermediate the default issuer (the switch of a rollover); needs no root key")
    .requiredOption("--id <id>", "intermediate CA id")
    .action(async (opts: { id: string }) => {
      await h.withServices(program, async (s, out) => {
        const record = await s.ca.setDefault(opts.id, cliActor());
        out.result(
          caView(record),
          () => `"${record.id}" is now the default issuer; restart serving instances so they pick it up.`,
        );
      });
    });
}
