import { publicRandom } from "../pki/public-random.js";
import type { Logger } from "pino";
import type { Actor, AuditEvent } from "../audit/index.js";
import type { Clock } from "../clock/index.js";
import type { SshProfile } from "../config/schema.js";
import { BlockedKeyError, ConflictError, KeywardError, NotFoundError, PolicyError } from "../errors/index.js";
import type { KeyType } from "../pki/key-types.js";
import { spkiSha256Hex } from "../pki/spki.js";
import type { SshAuthority, SshCaKeyRecord } from "../signer/index.js";
import { certificateBody, certificateLine, type SshCertType, signedCertificate } from "./certificate.js";
import {
  caKeyBlob,
  caKeyTypeCandidates,
  caSignatureAlgorithm,
  encodeSignature,
  parsePublicKeyLine,
  publicKeyLine,
} from "./keys.js";
import { encodeKrl, sameRevocations } from "./krl.js";
import { decideSsh, type SshRequester, type SshSignRequest } from "./policy.js";
import type { SshCertificateFilter, SshCertificateRecord, SshStore, StoredKrl } from "./ports.js";

/** Reasons an SSH certificate may be revoked with; keyCompromise also blocks its key everywhere. */
export const SSH_REVOCATION_REASONS = [
  "unspecified",
  "keyCompromise",
  "affiliationChanged",
  "superseded",
  "cessationOfOperation",
] as const;
export type SshRevocationReason = (typeof SSH_REVOCATION_REASONS)[number];

/** Certificates start this much in the past so a host whose clock runs a little slow accepts them at once. */
const BACKDATE_MS = 5 * 60_000;

export interface SshServiceDeps {
  authority: Pick<SshAuthority, "createKeys" | "keys" | "caKey" | "prepare" | "sign">;
  store: SshStore;
  audit: { record(event: Omit<AuditEvent, "at">): Promise<unknown> };
  clock: Clock;
  settings: { caKeyType: KeyType | "auto"; profiles: Readonly<Record<string, SshProfile>> };
  /** Counts signatures, refusals and revocations (Prometheus). */
  count?(event: "signed" | "refused" | "revoked", type: SshCertType): void;
  logger?: Logger;
}

export interface SignedSshCertificate {
  serial: string;
  keyId: string;
  type: SshCertType;
  principals: string[];
  /** The `*-cert-v01@openssh.com` line. */
  certificate: string;
  validAfter: Date;
  validBefore: Date;
  profile: string;
}

function randomSerial(): bigint {
  for (;;) {
    const serial = publicRandom(8).readBigUInt64BE();
    if (serial !== 0n) return serial;
  }
}

/**
 * The SSH certificate authority: user and host certificates under SSH profiles, recorded before
 * they are signed by the CA keys in the token, revoked into a KRL that sshd reads.
 */
export class SshService {
  constructor(private readonly deps: SshServiceDeps) {}

  /** Creates the user and host CA keys that are missing (`keyward init`, `keyward ssh init`). */
  async init(actor: Actor): Promise<{ created: SshCaKeyRecord[]; existing: SshCaKeyRecord[] }> {
    return this.deps.authority.createKeys(caKeyTypeCandidates(this.deps.settings.caKeyType), actor);
  }

  /** The CA's public key as one OpenSSH line (for TrustedUserCAKeys, or @cert-authority in known_hosts). */
  async caPublicKey(type: SshCertType): Promise<{ line: string; keyType: KeyType }> {
    const key = await this.deps.authority.caKey(type);
    return { line: publicKeyLine(caKeyBlob(key.spki), `keyward-${type}-ca`), keyType: key.keyType };
  }

  /** Checks the request against its profile, records it, signs it in the token; every refusal is audited. */
  async sign(
    request: SshSignRequest & { publicKey: string },
    requester: SshRequester,
    actor: Actor,
  ): Promise<SignedSshCertificate> {
    try {
      return await this.signChecked(request, requester, actor);
    } catch (error) {
      if (error instanceof KeywardError && error.isClientError) {
        this.deps.count?.("refused", request.type);
        await this.deps.audit.record({
          action: "ssh.sign",
          actor,
          target: { type: "ssh-certificate", id: request.type },
          outcome: "denied",
          details: { type: request.type, profile: request.profile ?? request.type, reason: error.message },
        });
      }
      throw error;
    }
  }

  private async signChecked(
    request: SshSignRequest & { publicKey: string },
    requester: SshRequester,
    actor: Actor,
  ): Promise<SignedSshCertificate> {
    const key = parsePublicKeyLine(request.publicKey);
    const decision = decideSsh(request, key, requester, this.deps.settings.profiles);
    const spkiSha256 = spkiSha256Hex(key.spki);

    const ca = await this.deps.authority.caKey(request.type);
    const now = this.deps.clock.now();
    const serial = randomSerial();
    const keyId = `${requester.name}:${serial}`;
    const validAfter = new Date(Math.floor((now.getTime() - BACKDATE_MS) / 1000) * 1000);
    const validBefore = new Date(Math.floor(now.getTime() / 1000) * 1000 + decision.validityHours * 3_600_000);
    const body = certificateBody({
      key,
      serial,
      type: request.type,
      keyId,
      principals: decision.principals,
      validAfter,
      validBefore,
      criticalOptions: decision.criticalOptions,
      extensions: decision.extensions,
      signatureKey: caKeyBlob(ca.spki),
    });
    const algorithm = caSignatureAlgorithm(ca.keyType);
    const prepared = await this.deps.authority.prepare(request.type, body, algorithm.signing);
    const record: SshCertificateRecord = {
      serial: serial.toString(),
      type: request.type,
      keyId,
      principals: decision.principals,
      profile: decision.profile,
      keyAlgorithm: key.algorithm,
      fingerprint: key.fingerprint,
      spkiSha256,
      publicKey: key.blob,
      validAfter,
      validBefore,
      status: "pending",
      body: prepared.body,
      certificate: null,
      requestedBy: actor.name,
      createdAt: now,
      revokedAt: null,
      revocationReason: null,
    };
    // Record, then sign: a crash in between leaves an intent, never a certificate storage does not know.
    // The database refuses the intent of a blocked key (migration 0029): no read precedes it.
    const refusedIfBlocked = (error: unknown) => {
      if (error instanceof BlockedKeyError)
        throw new PolicyError(`publicKey: this key (${key.fingerprint}) is blocked after a key compromise`);
      throw error;
    };
    await this.deps.store
      .recordIntent(record, {
        action: "ssh.sign",
        actor,
        target: { type: "ssh-certificate", id: record.serial },
        outcome: "success",
        details: {
          type: request.type,
          profile: decision.profile,
          keyId,
          principals: decision.principals,
          fingerprint: key.fingerprint,
          validBefore: validBefore.toISOString(),
          ...(Object.keys(decision.criticalOptions).length
            ? { criticalOptions: Object.keys(decision.criticalOptions) }
            : {}),
        },
        at: now,
      })
      .catch(refusedIfBlocked);
    let certificate: Buffer;
    try {
      const signature = encodeSignature(ca.keyType, await this.deps.authority.sign(prepared));
      certificate = signedCertificate(body, signature);
    } catch (error) {
      await this.deps.store.markFailed(record.serial).catch(() => undefined);
      throw error;
    }
    await this.deps.store.markIssued(record.serial, certificate);
    this.deps.count?.("signed", request.type);
    return {
      serial: record.serial,
      keyId,
      type: request.type,
      principals: decision.principals,
      certificate: certificateLine(certificate, keyId),
      validAfter,
      validBefore,
      profile: decision.profile,
    };
  }

  async get(serial: string): Promise<SshCertificateRecord> {
    const record = await this.deps.store.get(serial);
    if (!record) throw new NotFoundError(`no SSH certificate with serial ${serial}`);
    return record;
  }

  list(filter: Omit<SshCertificateFilter, "now">): Promise<SshCertificateRecord[]> {
    return this.deps.store.list({ ...filter, now: this.deps.clock.now() });
  }

  /**
   * Revokes by serial or key ID (every certificate with it), durably and audited, then publishes
   * a new KRL before answering. keyCompromise also blocks the key: no certificate, SSH or X.509, for it again.
   */
  async revoke(
    target: { serial: string } | { keyId: string },
    reason: SshRevocationReason,
    actor: Actor,
  ): Promise<{ revoked: string[]; krlVersion: string }> {
    const what = "serial" in target ? `serial ${target.serial}` : `key ID "${target.keyId}"`;
    if ("serial" in target) await this.get(target.serial);
    const at = this.deps.clock.now();
    const revoked = await this.deps.store.revoke(
      target,
      { at, reason, blockKey: reason === "keyCompromise", by: actor.name },
      (serials) =>
        serials.length
          ? {
              action: "ssh.revoke",
              actor,
              target: { type: "ssh-certificate", id: "serial" in target ? target.serial : target.keyId },
              outcome: "success",
              details: { serials, reason },
              at,
            }
          : undefined,
    );
    if (!revoked.length)
      throw new ConflictError(`no valid SSH certificate with ${what} (already revoked or never issued)`);
    for (const serial of revoked) {
      const record = await this.deps.store.get(serial);
      if (record) this.deps.count?.("revoked", record.type);
    }
    const krl = await this.refreshKrl();
    return { revoked, krlVersion: krl.version.toString() };
  }

  /** The current KRL (generated when there is none yet). */
  async krl(): Promise<StoredKrl> {
    return (await this.deps.store.currentKrl()) ?? this.refreshKrl();
  }

  /**
   * Generates and stores a new KRL: revoked serials per CA key, and the blocked keys of our
   * certificates. `onlyIfChanged` (after X.509 revocations, and the periodic sweep that catches
   * keys blocked without one) keeps the current KRL when the new one would revoke nothing more.
   */
  async refreshKrl(options: { onlyIfChanged?: boolean } = {}): Promise<StoredKrl> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = await this.deps.store.currentKrl();
      const now = this.deps.clock.now();
      const version = (current?.version ?? 0n) + 1n;
      const revoked = await this.deps.store.revokedUnexpired(now);
      const keys = await this.deps.authority.keys();
      const krl = encodeKrl({
        version,
        generatedAt: now,
        comment: "Keyward SSH KRL",
        certificates: keys.map((k) => ({
          caKey: caKeyBlob(k.spki),
          serials: revoked.filter((r) => r.type === k.type).map((r) => BigInt(r.serial)),
          keyIds: [],
        })),
        keys: await this.deps.store.blockedKeyBlobs(),
      });
      if (options.onlyIfChanged && current && sameRevocations(current.krl, krl)) return current;
      const stored = { version, generatedAt: now, krl };
      if (await this.deps.store.storeKrl(stored)) return stored;
    }
    throw new ConflictError("the SSH KRL changed under us five times; try again");
  }
}
