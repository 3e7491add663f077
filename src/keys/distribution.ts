import { createHash, createPublicKey, randomUUID } from "node:crypto";
import { CompactEncrypt } from "jose";
import type { Actor } from "../audit/index.js";
import type { Clock } from "../clock/index.js";
import { BadRequestError, ConflictError, ForbiddenError } from "../errors/index.js";
import { cmsRecipientOf, envelopedData, kariSharedInfo } from "../pki/cms.js";
import { isKeyPair, keyPairNeverLeaves } from "./key-pairs.js";
import { USES } from "./lifecycle.js";
import type { Distribution, DistributionStore, KeyVersion, KeyWrappingOps, ManagedKey } from "./ports.js";
import { type CheckedRecipient, checkRecipient, type RecipientTrust } from "./recipients.js";
import type { KeyLifecycle } from "./lifecycle-service.js";
import { keyEvent, primaryVersion } from "./versions.js";

export interface DistributeRequest {
  /** The recipient certificate, PEM. */
  certificate: string;
  format: "cms" | "jwe";
  /** Defaults to the primary version; an older active or deactivated one may be sent for old data. */
  version?: number;
}

export interface DistributionResult {
  id: string;
  format: "cms" | "jwe";
  /** Base64 DER ContentInfo for cms, compact JWE for jwe. */
  data: string;
  keyId: string;
  version: number;
  /** The `kid` that ciphertexts from `encrypt` under this version carry. */
  kid: string;
  recipient: { serial: string; subject: string; notAfter: string };
  /** Where the key was encrypted for the recipient: "token" (CMS) or "process" (JWE, see docs/keys.md). */
  sealedIn: "token" | "process";
  createdAt: string;
}

/**
 * Distribution of key versions by wrapping them to certificates (DESIGN.md §5), the exposure
 * record of every distribution, and what revoking a recipient does to the keys it received.
 */
export class KeyDistribution {
  constructor(
    private readonly deps: {
      /** Reads keys, and applies a key's onRecipientRevoked policy (state changes, rotation). */
      keys: Pick<KeyLifecycle, "get" | "changeState" | "rotate">;
      store: DistributionStore;
      token: KeyWrappingOps;
      trust: RecipientTrust;
      clock: Clock;
      /** JWE needs the key in process memory on tokens without AES-GCM key wrapping (SoftHSM 2.6). */
      allowJwe: boolean;
      onUse?: (use: { keyId: string; operation: string; actor: Actor }) => void;
    },
  ) {}

  async distribute(id: string, request: DistributeRequest, actor: Actor): Promise<DistributionResult> {
    const key = await this.deps.keys.get(id);
    if (isKeyPair(key)) throw new ForbiddenError(keyPairNeverLeaves(key, "distributed (share its public key instead)"));
    if (!key.distributable) {
      throw new ForbiddenError(
        `key ${key.name} is not distributable: its versions are non-extractable in the token and can never leave it`,
      );
    }
    if (request.format === "jwe" && !this.deps.allowJwe) {
      throw new BadRequestError(
        "JWE distribution is disabled on this server (kms.allowJweDistribution: false); use format cms",
      );
    }
    const version = this.chooseVersion(key, request.version);
    const now = this.deps.clock.now();
    const recipient = await checkRecipient(request.certificate, this.deps.trust, now);
    const kid = `${key.id}/${version.version}`;
    const data =
      request.format === "cms" ? await this.sealCms(version, recipient) : await this.sealJwe(version, recipient, kid);
    const distribution: Distribution = {
      id: randomUUID(),
      keyId: key.id,
      version: version.version,
      format: request.format,
      recipientSerial: recipient.serial,
      recipientSubject: recipient.subject,
      recipientSpkiSha256: recipient.spkiSha256,
      recipientNotAfter: recipient.notAfter,
      createdAt: now,
      createdBy: actor.name,
      exposedAt: null,
      exposureReason: null,
    };
    await this.deps.store.record(
      distribution,
      keyEvent("key.distribute", key, actor, now, {
        version: version.version,
        format: request.format,
        distribution: distribution.id,
        recipientSerial: recipient.serial,
        recipientSpkiSha256: recipient.spkiSha256,
      }),
    );
    this.deps.onUse?.({ keyId: key.id, operation: "distribute", actor });
    return {
      id: distribution.id,
      format: request.format,
      data,
      keyId: key.id,
      version: version.version,
      kid,
      recipient: { serial: recipient.serial, subject: recipient.subject, notAfter: recipient.notAfter.toISOString() },
      sealedIn: request.format === "cms" ? "token" : "process",
      createdAt: now.toISOString(),
    };
  }

  /**
   * The raw key of the primary version, to a client authenticated by its certificate (KMIP Get):
   * recorded as a distribution to that certificate, so revoking it marks the key exposed like any
   * other recipient. Only distributable keys.
   */
  async exportToClient(
    id: string,
    client: { serial: string; subject: string; spkiSha256: string; notAfter: Date },
    actor: Actor,
  ): Promise<{ key: ManagedKey; version: number; value: Buffer }> {
    const key = await this.deps.keys.get(id);
    if (!key.distributable) {
      throw new ForbiddenError(
        `key ${key.name} is not distributable: its versions are non-extractable in the token and can never leave it`,
      );
    }
    const version = this.chooseVersion(key, undefined);
    const now = this.deps.clock.now();
    const value = await this.deps.token.exportSecretKey(version.keyUri);
    const distribution: Distribution = {
      id: randomUUID(),
      keyId: key.id,
      version: version.version,
      format: "kmip",
      recipientSerial: client.serial,
      recipientSubject: client.subject,
      recipientSpkiSha256: client.spkiSha256,
      recipientNotAfter: client.notAfter,
      createdAt: now,
      createdBy: actor.name,
      exposedAt: null,
      exposureReason: null,
    };
    try {
      await this.deps.store.record(
        distribution,
        keyEvent("key.distribute", key, actor, now, {
          version: version.version,
          format: "kmip",
          distribution: distribution.id,
          recipientSerial: client.serial,
          recipientSpkiSha256: client.spkiSha256,
        }),
      );
    } catch (error) {
      value.fill(0);
      throw error;
    }
    this.deps.onUse?.({ keyId: key.id, operation: "distribute", actor });
    return { key, version: version.version, value };
  }

  async list(id: string): Promise<Distribution[]> {
    const key = await this.deps.keys.get(id);
    return this.deps.store.list(key.id);
  }

  /**
   * Flags the distributions whose recipient certificate was revoked since, and applies each key's
   * onRecipientRevoked policy. Runs after every revocation and on the scheduler as a backstop.
   */
  async processRevokedRecipients(actor: Actor): Promise<{ flagged: number; rotated: number; compromised: number }> {
    const counts = { flagged: 0, rotated: 0, compromised: 0 };
    for (const d of await this.deps.store.toRevokedRecipients()) {
      const key = await this.deps.keys.get(d.keyId);
      const now = this.deps.clock.now();
      const reason = `recipient certificate ${d.recipientSerial} was revoked`;
      const flagged = await this.deps.store.markExposed(
        d.id,
        now,
        reason,
        keyEvent("key.exposed", key, actor, now, {
          version: d.version,
          distribution: d.id,
          recipientSerial: d.recipientSerial,
          policy: key.onRecipientRevoked,
        }),
      );
      if (!flagged) continue;
      counts.flagged++;
      const version = key.versions.find((v) => v.version === d.version);
      if (!version || version.state === "destroyed") continue;
      if (key.onRecipientRevoked === "compromise" && version.state !== "compromised") {
        await this.deps.keys.changeState(key.id, { to: "compromised", version: d.version, reason }, actor);
        counts.compromised++;
      }
      if (key.onRecipientRevoked === "rotate" || key.onRecipientRevoked === "compromise") {
        // A replacement once per exposed primary: new data must not be protected by a leaked version.
        if (primaryVersion(key)?.version === d.version) {
          await this.deps.keys.rotate(key.id, actor);
          counts.rotated++;
        }
        if (key.onRecipientRevoked === "rotate" && version.state === "active") {
          await this.deps.keys.changeState(key.id, { to: "deactivated", version: d.version, reason }, actor);
        }
      }
    }
    return counts;
  }

  private chooseVersion(key: ManagedKey, requested: number | undefined): KeyVersion {
    if (requested === undefined) {
      const primary = primaryVersion(key);
      if (!primary) throw new ConflictError(`key ${key.name} has no active version to distribute`);
      return primary;
    }
    const version = key.versions.find((v) => v.version === requested);
    if (!version) throw new BadRequestError(`key ${key.name} has no version ${requested}`);
    if (!USES[version.state].process) {
      throw new ConflictError(`version ${requested} of key ${key.name} is ${version.state}: it cannot be distributed`);
    }
    return version;
  }

  /** CMS EnvelopedData whose content is the raw key: sealed entirely by the token (see sealForCms). */
  private async sealCms(version: KeyVersion, recipient: CheckedRecipient): Promise<string> {
    const sealed = await this.deps.token.sealKeyForCms(version.keyUri, recipient.publicKey, kariSharedInfo());
    return envelopedData({ recipient: cmsRecipientOf(recipient.der), ...sealed }).toString("base64");
  }

  /**
   * Compact JWE whose plaintext is the raw key: RSA-OAEP-256 or ECDH-ES+A256KW with A256GCM.
   * The key is in process memory for the duration of this call (docs/keys.md explains why) and
   * is zeroed afterwards.
   */
  private async sealJwe(version: KeyVersion, recipient: CheckedRecipient, kid: string): Promise<string> {
    const publicKey = createPublicKey({ key: recipient.spki, format: "der", type: "spki" });
    const value = await this.deps.token.exportSecretKey(version.keyUri);
    try {
      return await new CompactEncrypt(value)
        .setProtectedHeader({
          alg: recipient.publicKey.type === "rsa" ? "RSA-OAEP-256" : "ECDH-ES+A256KW",
          enc: "A256GCM",
          cty: "application/octet-stream",
          "x5t#S256": createHash("sha256").update(recipient.der).digest("base64url"),
          "kw-kid": kid,
        })
        .encrypt(publicKey);
    } finally {
      value.fill(0);
    }
  }
}
