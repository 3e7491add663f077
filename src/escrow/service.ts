import { createHash, randomBytes, randomUUID } from "node:crypto";
import type { Logger } from "pino";
import { combine, split } from "shamir-secret-sharing";
import type { Actor, AuditEvent } from "../audit/index.js";
import type { Clock } from "../clock/index.js";
import { BadRequestError, ConflictError, ForbiddenError, NotFoundError } from "../errors/index.js";
import {
  checkRecipient,
  isKeyPair,
  type KeyLifecycle,
  keyPairNeverLeaves,
  type ManagedKey,
  type RecipientTrust,
  secretAlgorithm,
} from "../keys/index.js";
import { sealToCertificate } from "../pki/cms.js";
import type { SecretKeys, Wrapping } from "../hsm/index.js";
import { certificatePem } from "../pki/pem.js";
import type { EscrowAgent, EscrowPolicy, EscrowStore, KeyEscrow, Recovery } from "./ports.js";

/** What escrow needs of the HSM's wrapping facet: versions wrapped under a one-time escrow secret. */
export type EscrowWrapping = Pick<Wrapping, "wrapSecretKeyUnder" | "unwrapSecretKeyUnder">;

/** What escrow needs of the HSM's secret-key facet: a recovery's sealing key for submitted shares. */
export type EscrowSecretKeys = Pick<
  SecretKeys,
  "generateSecretKey" | "aesGcmEncrypt" | "aesGcmDecrypt" | "destroySecretKey"
>;

const MAX_AGENTS = 16;

/**
 * Key escrow with M-of-N recovery (issue 7). Each escrowed version is wrapped in the token under a
 * fresh 256-bit escrow secret; the secret is split with Shamir's scheme (shamir-secret-sharing,
 * independently audited) and each share sealed (CMS) to one agent's certificate. Only the shares
 * leave Keyward; the secret exists in process memory only while it is split or recombined.
 * Recovery: a request (sensitive: step-up and quorum), M agents decrypt their share offline and
 * submit it, and the version is unwrapped into the token again — a new token after a disaster.
 */
export class EscrowService {
  constructor(
    private readonly deps: {
      store: EscrowStore;
      keys: Pick<KeyLifecycle, "get" | "list" | "replaceVersionObject">;
      secretKeys: EscrowSecretKeys;
      wrapping: EscrowWrapping;
      trust: RecipientTrust;
      clock: Clock;
      audit: { record(event: Omit<AuditEvent, "at">): Promise<unknown> };
      logger?: Logger;
    },
  ) {}

  async addAgent(
    request: { name: string; certificate: string; userName?: string },
    actor: Actor,
  ): Promise<EscrowAgent> {
    if (!/^[a-z0-9][a-z0-9._-]{0,63}$/.test(request.name)) {
      throw new BadRequestError("agent names are 1-64 lowercase letters, digits, dots, dashes or underscores");
    }
    const checked = await checkRecipient(request.certificate, this.deps.trust, this.deps.clock.now());
    const agent: EscrowAgent = {
      id: randomUUID(),
      name: request.name,
      userName: request.userName ?? null,
      certificate: checked.der,
      serial: checked.serial,
      createdAt: this.deps.clock.now(),
    };
    if ((await this.deps.store.agents()).some((a) => a.name === agent.name)) {
      throw new ConflictError(`an escrow agent named "${agent.name}" already exists`);
    }
    await this.deps.store.addAgent(
      agent,
      this.event("escrow.agent.add", { type: "escrow-agent", id: agent.id }, actor, {
        name: agent.name,
        serial: agent.serial,
        ...(agent.userName ? { userName: agent.userName } : {}),
      }),
    );
    return agent;
  }

  agents(): Promise<EscrowAgent[]> {
    return this.deps.store.agents();
  }

  policies(): Promise<EscrowPolicy[]> {
    return this.deps.store.policies();
  }

  /** Requires M-of-N escrow for a key or a tag, then escrows the versions that now need it. */
  async setPolicy(
    request: { keyId?: string; tag?: string; agents: string[]; threshold: number },
    actor: Actor,
  ): Promise<{ policy: EscrowPolicy; escrowed: number }> {
    if ((request.keyId === undefined) === (request.tag === undefined)) {
      throw new BadRequestError("an escrow policy names exactly one of keyId or tag");
    }
    const all = await this.deps.store.agents();
    const agents = [...new Set(request.agents)].map((ref) => {
      const agent = all.find((a) => a.id === ref || a.name === ref);
      if (!agent) throw new BadRequestError(`no escrow agent "${ref}"`);
      return agent;
    });
    if (agents.length < 2 || agents.length > MAX_AGENTS) {
      throw new BadRequestError(`escrow needs 2 to ${MAX_AGENTS} distinct agents, got ${agents.length}`);
    }
    if (!Number.isInteger(request.threshold) || request.threshold < 2 || request.threshold > agents.length) {
      throw new BadRequestError(`the threshold must be between 2 and the number of agents (${agents.length})`);
    }
    if (request.keyId !== undefined) {
      const key = await this.deps.keys.get(request.keyId);
      requireEscrowable(key);
    }
    const policy: EscrowPolicy = {
      id: randomUUID(),
      keyId: request.keyId ?? null,
      tag: request.tag ?? null,
      agentIds: agents.map((a) => a.id),
      threshold: request.threshold,
      createdAt: this.deps.clock.now(),
    };
    await this.deps.store.savePolicy(
      policy,
      this.event("escrow.policy", { type: "escrow-policy", id: policy.id }, actor, {
        ...(policy.keyId ? { keyId: policy.keyId } : { tag: policy.tag! }),
        agents: agents.map((a) => a.name),
        threshold: policy.threshold,
      }),
    );
    return { policy, escrowed: await this.escrowPending(actor) };
  }

  /**
   * Escrows every live version that its key's policy requires and that is not escrowed yet: after
   * a new version (create, rotate, import), after a policy change, and on the scheduler.
   */
  async escrowPending(actor: Actor, keyId?: string): Promise<number> {
    const policies = await this.deps.store.policies();
    if (policies.length === 0) return 0;
    const done = new Set((await this.deps.store.escrowedVersions()).map((e) => `${e.keyId}/${e.version}`));
    let count = 0;
    const keys = keyId ? [await this.deps.keys.get(keyId)] : await this.deps.keys.list();
    for (const key of keys) {
      const policy = policyFor(key, policies);
      // A tag policy may match a key pair, which never leaves the token: nothing to escrow.
      if (!policy || isKeyPair(key)) continue;
      for (const version of key.versions) {
        if (version.state === "destroyed" || done.has(`${key.id}/${version.version}`)) continue;
        await this.escrowVersion(key, version.version, policy, actor);
        count++;
      }
    }
    return count;
  }

  async escrowOf(keyId: string, version: number): Promise<KeyEscrow> {
    const escrow = await this.deps.store.escrow(keyId, version);
    if (!escrow) throw new NotFoundError(`version ${version} of key ${keyId} is not escrowed`);
    return escrow;
  }

  /** Opens a recovery of one escrowed version: agents may then submit their shares. */
  async openRecovery(keyId: string, version: number, actor: Actor): Promise<Recovery> {
    const key = await this.deps.keys.get(keyId);
    await this.escrowOf(key.id, version);
    if (
      (await this.deps.store.recoveries()).some(
        (r) => r.status === "open" && r.keyId === key.id && r.version === version,
      )
    ) {
      throw new ConflictError(`a recovery of version ${version} of key ${key.name} is already open`);
    }
    const id = randomUUID();
    // Submitted shares wait at rest sealed under a token key of this recovery, destroyed at its end.
    const sealingKeyUri = await this.deps.secretKeys.generateSecretKey("AES-256", `escrow-recovery-${id.slice(0, 8)}`, {
      extractable: false,
    });
    const recovery: Recovery = {
      id,
      keyId: key.id,
      version,
      status: "open",
      sealingKeyUri,
      requestedBy: actor.name,
      createdAt: this.deps.clock.now(),
      completedAt: null,
      submitted: [],
    };
    await this.deps.store.openRecovery(
      recovery,
      this.event("escrow.recovery.open", { type: "key", id: key.id }, actor, { recovery: id, version, name: key.name }),
    );
    return recovery;
  }

  recoveries(): Promise<Recovery[]> {
    return this.deps.store.recoveries();
  }

  async recovery(id: string): Promise<Recovery> {
    const recovery = await this.deps.store.recovery(id);
    if (!recovery) throw new NotFoundError(`no escrow recovery ${id}`);
    return recovery;
  }

  /**
   * One agent's decrypted share. It is recognised against the hash recorded at escrow time (a wrong
   * or altered share is refused at once); with the threshold reached the version is recovered.
   */
  async submitShare(
    recoveryId: string,
    agentRef: string,
    share: Buffer,
    actor: Actor,
  ): Promise<{ recovery: Recovery; submitted: number; threshold: number; recovered: boolean }> {
    const recovery = await this.recovery(recoveryId);
    if (recovery.status !== "open") throw new ConflictError(`escrow recovery ${recoveryId} is ${recovery.status}`);
    const agent = (await this.deps.store.agents()).find((a) => a.id === agentRef || a.name === agentRef);
    if (!agent) throw new BadRequestError(`no escrow agent "${agentRef}"`);
    if (actor.kind !== "cli" && !(actor.kind === "user" && actor.name === agent.userName)) {
      throw new ForbiddenError(
        `only ${agent.userName ? `the person ${agent.userName}` : "the local operator"} may submit agent ${agent.name}'s share`,
      );
    }
    const escrow = await this.escrowOf(recovery.keyId, recovery.version);
    const expected = escrow.shares.find((s) => s.agentId === agent.id);
    if (!expected) throw new BadRequestError(`agent ${agent.name} holds no share of this key version`);
    if (shareHash(recovery.keyId, recovery.version, agent.id, share) !== expected.shareHash) {
      await this.deps.audit.record({
        ...this.event("escrow.share.submit", { type: "key", id: recovery.keyId }, actor, {
          recovery: recovery.id,
          agent: agent.name,
        }),
        outcome: "failure",
      });
      throw new BadRequestError(
        `this is not agent ${agent.name}'s share of version ${recovery.version} of key ${recovery.keyId}: it is wrong or altered`,
      );
    }
    const iv = randomBytes(12);
    const sealed = await this.deps.secretKeys.aesGcmEncrypt(
      recovery.sealingKeyUri!,
      iv,
      Buffer.from(`${recovery.id}/${agent.id}`),
      share,
    );
    const added = await this.deps.store.addShare(
      recovery.id,
      {
        agentId: agent.id,
        sealed: Buffer.concat([iv, sealed]),
        submittedBy: actor.name,
        submittedAt: this.deps.clock.now(),
      },
      this.event("escrow.share.submit", { type: "key", id: recovery.keyId }, actor, {
        recovery: recovery.id,
        agent: agent.name,
      }),
    );
    if (!added) throw new ConflictError(`agent ${agent.name} already submitted a share to this recovery`);
    const current = await this.recovery(recovery.id);
    let recovered = false;
    if (current.submitted.length >= escrow.threshold) {
      await this.complete(current, escrow, actor);
      recovered = true;
    }
    return {
      recovery: await this.recovery(recovery.id),
      submitted: current.submitted.length,
      threshold: escrow.threshold,
      recovered,
    };
  }

  async cancel(recoveryId: string, actor: Actor): Promise<Recovery> {
    const recovery = await this.recovery(recoveryId);
    if (
      !(await this.deps.store.finishRecovery(
        recovery.id,
        "cancelled",
        this.deps.clock.now(),
        this.event("escrow.recovery.cancel", { type: "key", id: recovery.keyId }, actor, { recovery: recovery.id }),
      ))
    ) {
      throw new ConflictError(`escrow recovery ${recoveryId} is ${recovery.status}`);
    }
    await this.destroySealingKey(recovery);
    return this.recovery(recoveryId);
  }

  private async complete(recovery: Recovery, escrow: KeyEscrow, actor: Actor): Promise<void> {
    const key = await this.deps.keys.get(recovery.keyId);
    const shares: Buffer[] = [];
    let secret: Uint8Array | undefined;
    try {
      for (const s of recovery.submitted) {
        shares.push(
          await this.deps.secretKeys.aesGcmDecrypt(
            recovery.sealingKeyUri!,
            s.sealed.subarray(0, 12),
            Buffer.from(`${recovery.id}/${s.agentId}`),
            s.sealed.subarray(12),
          ),
        );
      }
      secret = await combine(shares.map((s) => new Uint8Array(s)));
      const uri = await this.deps.wrapping.unwrapSecretKeyUnder(escrow.wrapped, Buffer.from(secret), {
        algorithm: secretAlgorithm(key, "recovered from escrow"),
        label: `kms-${key.name}-v${recovery.version}-${randomBytes(3).toString("hex")}`,
        extractable: key.distributable,
      });
      await this.deps.keys.replaceVersionObject(key.id, recovery.version, uri, actor, `escrow recovery ${recovery.id}`);
    } finally {
      for (const s of shares) s.fill(0);
      secret?.fill(0);
    }
    await this.deps.store.finishRecovery(
      recovery.id,
      "completed",
      this.deps.clock.now(),
      this.event("escrow.recovery.complete", { type: "key", id: key.id }, actor, {
        recovery: recovery.id,
        version: recovery.version,
        agents: recovery.submitted.length,
      }),
    );
    await this.destroySealingKey(recovery);
  }

  /**
   * A recovery's sealing key is destroyed when it ends. The recovery is already recorded as ended,
   * so a token failure here is logged, not reported: the submitted shares it sealed were deleted
   * with the recovery's end, so the key left in the token (non-extractable) protects nothing.
   */
  private async destroySealingKey(recovery: Recovery): Promise<void> {
    if (!recovery.sealingKeyUri) return;
    try {
      await this.deps.secretKeys.destroySecretKey(recovery.sealingKeyUri);
    } catch (error) {
      this.deps.logger?.warn(
        { err: error, recovery: recovery.id, keyUri: recovery.sealingKeyUri },
        "an ended escrow recovery's sealing key could not be destroyed; it is left in the token, protecting nothing",
      );
    }
  }

  private async escrowVersion(key: ManagedKey, version: number, policy: EscrowPolicy, actor: Actor): Promise<void> {
    requireEscrowable(key);
    const v = key.versions.find((x) => x.version === version)!;
    const all = await this.deps.store.agents();
    const agents = policy.agentIds.map((id) => all.find((a) => a.id === id)!);
    // Agents' certificates are checked like any distribution recipient, each time.
    for (const agent of agents)
      await checkRecipient(certificatePem(agent.certificate), this.deps.trust, this.deps.clock.now());
    const secret = randomBytes(32);
    let shares: Uint8Array[] = [];
    try {
      const wrapped = await this.deps.wrapping.wrapSecretKeyUnder(v.keyUri, secret);
      shares = await split(new Uint8Array(secret), agents.length, policy.threshold);
      const escrow: KeyEscrow = {
        keyId: key.id,
        version,
        threshold: policy.threshold,
        wrapped,
        createdAt: this.deps.clock.now(),
        shares: agents.map((agent, i) => ({
          agentId: agent.id,
          cms: sealToCertificate(agent.certificate, Buffer.from(shares[i]!)),
          shareHash: shareHash(key.id, version, agent.id, Buffer.from(shares[i]!)),
        })),
      };
      await this.deps.store.saveEscrow(
        escrow,
        this.event("escrow.create", { type: "key", id: key.id }, actor, {
          name: key.name,
          version,
          threshold: policy.threshold,
          agents: agents.map((a) => a.name),
        }),
      );
    } finally {
      secret.fill(0);
      for (const s of shares) s.fill(0);
    }
  }

  private event(
    action: string,
    target: { type: string; id: string },
    actor: Actor,
    details: Record<string, string | number | string[]>,
  ): AuditEvent {
    return { action, actor, target, outcome: "success", details, at: this.deps.clock.now() };
  }
}

function requireEscrowable(key: ManagedKey): void {
  if (isKeyPair(key)) throw new ConflictError(keyPairNeverLeaves(key, "escrowed"));
  if (!key.distributable) {
    throw new ConflictError(
      `key ${key.name} is not distributable: its versions are non-extractable and cannot be wrapped for escrow (create escrowed keys with distributable: true)`,
    );
  }
}

/** A key's own policy, else the first policy for one of its tags. */
export function policyFor(key: ManagedKey, policies: EscrowPolicy[]): EscrowPolicy | undefined {
  return policies.find((p) => p.keyId === key.id) ?? policies.find((p) => p.tag !== null && key.tags.includes(p.tag));
}

/** Recognises a share without revealing it: SHA-256 over a label, its place and the share. */
function shareHash(keyId: string, version: number, agentId: string, share: Buffer): string {
  return createHash("sha256")
    .update(`keyward-escrow-share:${keyId}/${version}/${agentId}:`)
    .update(share)
    .digest("hex");
}
