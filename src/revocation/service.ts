import type { Actor, AuditEvent } from "../audit/index.js";
import { createHash } from "node:crypto";
import * as x509 from "@peculiar/x509";
import type { Logger } from "pino";
import type { Clock } from "../clock/index.js";
import { BadRequestError, ConflictError, NotFoundError, RevocationReasonError } from "../errors/index.js";
import { pemBlocks } from "../pki/pem.js";
import { normalizeSerial } from "../pki/serial.js";
import { spkiFromDer } from "../pki/spki.js";
import type { CrlPublisher } from "./crl.js";
import type { CertificateLookup, OcspResponder } from "./ocsp.js";
import type { RevocationFilter, RevocationRecord, RevocationStore } from "./ports.js";
import { REASONS, reasonCode, reasonName, SUBSCRIBER_REASONS } from "../pki/reasons.js";

export interface RevokeRequest {
  serial: string;
  reason: string;
  invalidityDate?: Date;
  actor: Actor;
}

export interface RevocationResult {
  serial: string;
  status: "revoked" | "valid";
  reason: string | null;
  revokedAt: Date | null;
  invalidityDate: Date | null;
}

/** How a key to block is named: exactly one of these. */
export interface KeyReference {
  spkiSha256?: string;
  publicKey?: string;
  certificate?: string;
}

/**
 * Revocation: durable before it answers, OCSP re-signed at once, CRL regenerated shortly after.
 * keyCompromise also blocks the key from future issuance.
 */
export class RevocationService {
  constructor(
    private readonly deps: {
      store: RevocationStore;
      certificates: CertificateLookup;
      ocsp: OcspResponder;
      crl: CrlPublisher;
      clock: Clock;
      /** The reasons each profile allows (config `profiles.*.revocationReasons`). */
      profiles: Readonly<Record<string, { revocationReasons: readonly string[] }>>;
      logger?: Logger;
    },
  ) {}

  private readonly revokedListeners: Array<(serial: string) => Promise<unknown>> = [];

  /**
   * Runs after each revocation is stored (not for certificateHold): the KMS flags keys the
   * certificate received. The explicit port for modules built after revocation that depend on it.
   */
  onRevoked(listener: (serial: string) => Promise<unknown>): void {
    this.revokedListeners.push(listener);
  }

  async revoke(request: RevokeRequest): Promise<RevocationResult> {
    const serial = normalizeSerial(request.serial);
    const code = reasonCode(request.reason);
    const now = this.deps.clock.now();
    if (request.invalidityDate && request.invalidityDate > now) {
      throw new BadRequestError("invalidityDate must not be in the future");
    }
    const record = await this.deps.certificates.get(serial);
    if (!record) throw new NotFoundError(`no certificate with serial ${serial}`);
    if (record.status === "pending" || record.status === "failed") {
      throw new ConflictError(`certificate ${serial} was never issued (status ${record.status})`);
    }
    // A profile no longer configured gets the BR subscriber set: valid on any CRL.
    const allowed = this.deps.profiles[record.profile]?.revocationReasons ?? SUBSCRIBER_REASONS;
    if (!allowed.includes(request.reason)) {
      throw new RevocationReasonError(
        `profile "${record.profile}" does not allow the revocation reason ${request.reason}; allowed: ${allowed.join(", ")}`,
        allowed,
      );
    }
    const onHold = record.status === "revoked" && record.revocationReason === REASONS.certificateHold;
    if (record.status === "revoked" && (!onHold || code === REASONS.certificateHold)) {
      throw new ConflictError(
        `certificate ${serial} is already revoked (${reasonName(record.revocationReason)} at ${record.revokedAt?.toISOString()})`,
      );
    }
    const revoked = await this.deps.store.revoke(
      {
        serial,
        revokedAt: now,
        reason: code,
        invalidityDate: request.invalidityDate ?? null,
        allowFromHold: true,
        blockKey:
          code === REASONS.keyCompromise
            ? { spkiSha256: record.spkiSha256, reason: "keyCompromise", by: request.actor.name }
            : undefined,
      },
      {
        action: "certificate.revoke",
        actor: request.actor,
        target: { type: "certificate", id: serial },
        outcome: "success",
        details: {
          reason: reasonName(code),
          ca: record.caId,
          ...(request.invalidityDate ? { invalidityDate: request.invalidityDate.toISOString() } : {}),
          ...(code === REASONS.keyCompromise ? { blockedKey: record.spkiSha256 } : {}),
        },
        at: now,
      },
    );
    if (!revoked) throw new ConflictError(`certificate ${serial} was revoked by another request just now`);
    await this.afterChange(serial, record.caId);
    if (code !== REASONS.certificateHold) {
      for (const listener of this.revokedListeners) {
        await listener(serial).catch((error) =>
          // The revocation stands; the scheduler's sweep applies what failed here.
          this.deps.logger?.error({ err: error, serial }, "applying a revocation to distributed keys failed"),
        );
      }
    }
    return {
      serial,
      status: "revoked",
      reason: reasonName(code),
      revokedAt: now,
      invalidityDate: request.invalidityDate ?? null,
    };
  }

  /** Ends a certificateHold: the certificate is good again and leaves the next CRL. */
  async release(serialText: string, actor: Actor): Promise<RevocationResult> {
    const serial = normalizeSerial(serialText);
    const record = await this.deps.certificates.get(serial);
    if (!record) throw new NotFoundError(`no certificate with serial ${serial}`);
    const audit: AuditEvent = {
      action: "certificate.release",
      actor,
      target: { type: "certificate", id: serial },
      outcome: "success",
      at: this.deps.clock.now(),
    };
    if (!(await this.deps.store.release(serial, audit))) {
      throw new ConflictError(`certificate ${serial} is not on hold (only certificateHold can be released)`);
    }
    await this.afterChange(serial, record.caId);
    return { serial, status: "valid", reason: null, revokedAt: null, invalidityDate: null };
  }

  /** Blocks a key by SPKI hash, public key or certificate; optionally revokes every unexpired certificate with it. */
  async blockKey(reference: KeyReference, options: { revokeAll: boolean; actor: Actor }) {
    const spkiSha256 = spkiSha256Of(reference);
    const now = this.deps.clock.now();
    await this.deps.store.blockKey(
      { spkiSha256, reason: "keyCompromise", by: options.actor.name, at: now },
      {
        action: "key.block",
        actor: options.actor,
        target: { type: "public-key", id: spkiSha256 },
        outcome: "success",
        details: { reason: "keyCompromise", revokeAll: options.revokeAll },
        at: now,
      },
    );
    const revoked: string[] = [];
    if (options.revokeAll) {
      for (const serial of await this.deps.store.unexpiredWithKey(spkiSha256, now)) {
        try {
          await this.revoke({ serial, reason: "keyCompromise", actor: options.actor });
          revoked.push(serial);
        } catch (error) {
          // Revoked by someone else in the meantime: it is revoked either way.
          if (!(error instanceof ConflictError)) throw error;
        }
      }
    }
    return { spkiSha256, blocked: true, revoked };
  }

  isKeyBlocked(spkiSha256: string) {
    return this.deps.store.isKeyBlocked(spkiSha256);
  }

  list(filter: RevocationFilter): Promise<RevocationRecord[]> {
    return this.deps.store.listRevocations(filter);
  }

  private async afterChange(serial: string, caId: string): Promise<void> {
    try {
      await this.deps.ocsp.refresh(serial);
    } catch (error) {
      // The revocation is stored; drop cached answers so OCSP cannot keep saying "good".
      await this.deps.ocsp.forget(serial);
      this.deps.logger?.error({ err: error, serial }, "re-signing OCSP after a status change failed");
    }
    this.deps.crl.scheduleRegeneration(caId);
  }
}

/** The SPKI SHA-256 (lowercase hex) a key reference names; BadRequestError when it names none. */
export function spkiSha256Of(reference: KeyReference): string {
  const given = [reference.spkiSha256, reference.publicKey, reference.certificate].filter((v) => v !== undefined);
  if (given.length !== 1)
    throw new BadRequestError("name the key by exactly one of spkiSha256, publicKey or certificate");
  if (reference.spkiSha256 !== undefined) {
    const hex = reference.spkiSha256.toLowerCase().replaceAll(":", "");
    if (!/^[0-9a-f]{64}$/.test(hex)) throw new BadRequestError("spkiSha256 must be 64 hexadecimal characters");
    return hex;
  }
  let spki: Buffer;
  if (reference.publicKey !== undefined) {
    const der = pemBlocks(reference.publicKey, "PUBLIC KEY")[0];
    if (!der) throw new BadRequestError('publicKey must be a PEM "PUBLIC KEY" (SubjectPublicKeyInfo)');
    spki = der;
  } else {
    const der = pemBlocks(reference.certificate!, "CERTIFICATE")[0];
    if (!der) throw new BadRequestError('certificate must be a PEM "CERTIFICATE"');
    try {
      spki = Buffer.from(new x509.X509Certificate(new Uint8Array(der)).publicKey.rawData);
    } catch {
      throw new BadRequestError("certificate is not a valid X.509 certificate");
    }
  }
  try {
    spkiFromDer(spki);
  } catch {
    throw new BadRequestError("the public key cannot be decoded");
  }
  return createHash("sha256").update(spki).digest("hex");
}
