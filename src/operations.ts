import type { EscrowService } from "./escrow/index.js";
import type { KeyLifecycle } from "./keys/index.js";
import type { UserService } from "./access/index.js";
import type { Actor } from "./audit/index.js";
import type { CaSettings, Config } from "./config/index.js";
import { caView } from "./http/views.js";
import {
  type CompromiseOutcome,
  type CompromisedKeys,
  type CrlPublisher,
  REASONS,
  reasonName,
} from "./revocation/index.js";
import type { CertificateAuthority } from "./signer/index.js";

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
        const crl = await deps.crl.generate(record.parentId!).catch(() => undefined);
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

/** JSON of the compromised-key flow's result (what the approval records and the console shows). */
export function compromiseView(o: CompromiseOutcome) {
  return {
    spkiSha256: o.spkiSha256,
    revoked: o.revoked,
    crls: o.crls.map((c) => ({
      issuer: c.issuer,
      number: c.number,
      thisUpdate: c.thisUpdate.toISOString(),
      nextUpdate: c.nextUpdate.toISOString(),
    })),
    certificates: o.certificates.map((c) => ({
      serial: c.serial,
      issuer: c.issuer,
      ocsp: c.ocsp && {
        status: c.ocsp.status,
        thisUpdate: c.ocsp.thisUpdate?.toISOString() ?? null,
        nextUpdate: c.ocsp.nextUpdate?.toISOString() ?? null,
        revokedAt: c.ocsp.revokedAt?.toISOString() ?? null,
        reason: reasonName(c.ocsp.reason),
      },
    })),
  };
}
