import type { Logger } from "pino";
import type { EscrowService } from "./escrow/index.js";
import type { KeyLifecycle } from "./keys/index.js";
import type { UserService } from "./access/index.js";
import type { Actor } from "./audit/index.js";
import type { CaSettings, Config } from "./config/index.js";
import { ConflictError } from "./errors/index.js";
import { type CompromisedKeys, type CrlPublisher, compromiseView, REASONS } from "./revocation/index.js";
import { type CertificateAuthority, caView } from "./signer/index.js";

/** An operation that may need step-up and quorum; params are JSON, stored as-is with an approval. */
export type Operation = (params: Record<string, unknown>, actor: Actor) => Promise<unknown>;

/**
 * The sensitive operations, by name: the same code runs whether the request was executed at once
 * or after M approvals, and the result it returns is what the approval records (JSON, no secrets).
 */
export function sensitiveOperations(deps: {
  ca: CertificateAuthority;
  crl: CrlPublisher;
  users: UserService;
  keys: KeyLifecycle;
  escrow: EscrowService;
  compromisedKeys: CompromisedKeys;
  config: Config;
  logger?: Logger;
}): Map<string, Operation> {
  return new Map<string, Operation>([
    [
      "ca.create",
      async (p, actor) => {
        const { makeDefault, ...settings } = p as CaSettings & { makeDefault: boolean };
        const record = await deps.ca.createIntermediate(
          settings,
          { makeDefault, nameConstraints: deps.config.ca.nameConstraints },
          actor,
        );
        return caView(record);
      },
    ],
    [
      "ca.revoke",
      async (p, actor) => {
        const { id, reason } = p as { id: string; reason: keyof typeof REASONS };
        const record = await deps.ca.revokeIntermediate(id, REASONS[reason], actor);
        // The parent's CRL names the revoked CA; the root's needs `keyward crl root` when offline.
        // The revocation stands either way, so a CRL that cannot be signed now is logged and the
        // result says crlNumber: null rather than failing an operation that took effect.
        const crl = await deps.crl.generate(record.parentId!, actor).catch((error: unknown) => {
          if (error instanceof ConflictError) {
            deps.logger?.warn({ ca: record.id, parent: record.parentId }, `${error.message}; then: keyward crl root`);
          } else {
            deps.logger?.error(
              { err: error, ca: record.id, parent: record.parentId },
              "CA revoked; its parent's CRL was not signed",
            );
          }
          return undefined;
        });
        return { ...caView(record), crlNumber: crl?.number ?? null };
      },
    ],
    [
      "escrow.recover",
      async (p, actor) => {
        const { keyId, version } = p as { keyId: string; version: number };
        const recovery = await deps.escrow.openRecovery(keyId, version, actor);
        return { recovery: recovery.id, keyId, version, status: recovery.status };
      },
    ],
    [
      "key.destroy",
      async (p, actor) => {
        const { keyId, version } = p as { keyId: string; version: number };
        const key = await deps.keys.scheduleDestroy(keyId, version, actor);
        const v = key.versions.find((x) => x.version === version)!;
        return { key: key.name, version, destroyAfter: v.destroyAfter?.toISOString() ?? null };
      },
    ],
    [
      "key.compromise",
      async (p, actor) => {
        const { keyId, version, reason } = p as { keyId: string; version?: number; reason: string };
        const key = await deps.keys.changeState(keyId, { to: "compromised", version, reason }, actor);
        return { key: key.name, versions: key.versions.map((v) => ({ version: v.version, state: v.state })) };
      },
    ],
    [
      "key.block",
      async (p, actor) => {
        const outcome = await deps.compromisedKeys.blockAndRevokeAll({ spkiSha256: String(p.spkiSha256) }, actor);
        return compromiseView(outcome);
      },
    ],
    [
      "user.role",
      async (p, actor) => {
        const { userId, role } = p as { userId: string; role: string };
        const user = await deps.users.setRole(userId, role, actor);
        return { id: user.id, name: user.name, role: user.role };
      },
    ],
  ]);
}
