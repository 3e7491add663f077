import type { Services } from "../compose.js";
import { BadRequestError, ForbiddenError } from "../errors/index.js";
import { parsePkcs11Uri } from "../hsm/index.js";

/* Root ceremonies: the commands that use an offline root key (ca sign-intermediate, ca revoke,
   crl root) check here that its token is attached and its witnesses present. */

/** The token that holds the root key, from the key's pkcs11: URI. */
export async function rootToken(s: Services): Promise<string> {
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
