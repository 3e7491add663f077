import type { Actor } from "../audit/index.js";
import type { Clock } from "../clock/index.js";
import { BadRequestError } from "../errors/index.js";
import type { CertificateRecord } from "../issuance/index.js";
import type { AcmeAccount, AcmeOrderStore } from "./ports.js";
import { AcmeError } from "./problems.js";

/** The certificates ACME asks about: looked up by serial (lowercase hex, as stored). */
export interface AcmeCertificates {
  /** The certificate with this serial; undefined when there is none. */
  findCertificate(serial: string): Promise<CertificateRecord | undefined>;
  /** The certificate with this serial; a NotFoundError (the admin API's 404) when there is none. */
  get(serial: string): Promise<CertificateRecord>;
  /** The CA's subject key identifier (hex): what its certificates carry as AKI. */
  issuerKeyIdentifier(caId: string): Promise<string | undefined>;
}

/**
 * RFC 9773 ACME Renewal Information: when a certificate should be renewed, an administrator's
 * forced window, and the `replaces` field of new orders.
 */
export class AcmeRenewals {
  constructor(
    private readonly deps: {
      store: Pick<AcmeOrderStore, "renewalWindow" | "forceRenewalWindow" | "accountOwnsCertificate" | "isReplaced">;
      certificates: AcmeCertificates;
      clock: Clock;
    },
  ) {}

  /**
   * RFC 9773 ARI: when to renew a certificate. The window sits at 2/3 to 3/4 of its lifetime; a
   * revoked certificate should be replaced now, so its window has already begun; a window an
   * administrator forced (key compromise, CA rollover) wins over both.
   */
  async renewalInfo(
    certId: string,
  ): Promise<{ suggestedWindow: { start: string; end: string }; explanationURL?: string }> {
    const record = await this.findByCertId(certId);
    if (!record) throw new AcmeError("malformed", "no certificate has that certID", undefined, 404);
    const now = this.deps.clock.now().getTime();
    const forced = await this.deps.store.renewalWindow(record.serial);
    if (forced) {
      return {
        suggestedWindow: { start: forced.start.toISOString(), end: forced.end.toISOString() },
        ...(forced.explanationUrl ? { explanationURL: forced.explanationUrl } : {}),
      };
    }
    if (record.status === "revoked") {
      return {
        suggestedWindow: { start: new Date(now - 60_000).toISOString(), end: new Date(now + 3_600_000).toISOString() },
      };
    }
    const from = record.notBefore.getTime();
    const lifetime = record.notAfter.getTime() - from;
    return {
      suggestedWindow: {
        start: new Date(from + (lifetime * 2) / 3).toISOString(),
        end: new Date(from + (lifetime * 3) / 4).toISOString(),
      },
    };
  }

  /**
   * Asks clients to renew now: the certificates' ARI window becomes [start, end] (default: the
   * next hour), for the listed serials or for every unexpired certificate of a CA.
   */
  async forceRenewal(
    target: { serials: string[] } | { caId: string },
    options: { start?: Date; end?: Date; explanationUrl?: string; actor: Actor },
  ): Promise<{ certificates: number; window: { start: Date; end: Date } }> {
    const now = this.deps.clock.now();
    const start = options.start ?? now;
    const end = options.end ?? new Date(start.getTime() + 3_600_000);
    if (end <= start) throw new BadRequestError("the renewal window must end after it starts");
    // Unknown serials or CAs are refused (404) rather than silently forcing nothing.
    if ("serials" in target) {
      for (const serial of target.serials) await this.deps.certificates.get(serial);
    } else {
      await this.deps.certificates.issuerKeyIdentifier(target.caId);
    }
    const certificates = await this.deps.store.forceRenewalWindow(
      target,
      { start, end, explanationUrl: options.explanationUrl ?? null },
      now,
      {
        action: "acme.renewal-window.force",
        actor: options.actor,
        target:
          "caId" in target
            ? { type: "ca", id: target.caId }
            : { type: "certificates", id: target.serials.join(",").slice(0, 200) },
        outcome: "success",
        details: { start: start.toISOString(), end: end.toISOString() },
        at: now,
      },
    );
    return { certificates, window: { start, end } };
  }

  /**
   * RFC 9773 §5: `replaces` names a certificate of this account that no finalized order replaced.
   * Returns its certID in canonical form, so two spellings of one certificate compare equal.
   */
  async replacement(account: AcmeAccount, replaces: string): Promise<string> {
    let record: CertificateRecord | undefined;
    try {
      record = await this.findByCertId(replaces);
    } catch (error) {
      if (error instanceof AcmeError) throw new AcmeError("malformed", `replaces: ${error.message}`);
      throw error;
    }
    if (!record) throw new AcmeError("malformed", "replaces: no certificate has that certID");
    if (!(await this.deps.store.accountOwnsCertificate(account.id, record.serial))) {
      throw new AcmeError("unauthorized", "replaces names a certificate this account did not order");
    }
    const certId = await this.canonicalCertId(record);
    if (await this.deps.store.isReplaced(certId)) {
      throw new AcmeError("alreadyReplaced", `certificate ${record.serial} was already replaced by another order`);
    }
    return certId;
  }

  private async canonicalCertId(record: { serial: string; caId: string }): Promise<string> {
    const keyId = Buffer.from((await this.deps.certificates.issuerKeyIdentifier(record.caId)) ?? "", "hex");
    // The serial's DER INTEGER content: a leading zero octet when the high bit is set.
    const serial = Buffer.from(record.serial.length % 2 ? `0${record.serial}` : record.serial, "hex");
    const content = serial[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), serial]) : serial;
    return `${keyId.toString("base64url")}.${content.toString("base64url")}`;
  }

  /**
   * RFC 9773 §4.1: certID = base64url(authority key identifier) "." base64url(serial DER value).
   * A malformed certID is refused; one that names no certificate of ours finds nothing.
   */
  private async findByCertId(certId: string): Promise<CertificateRecord | undefined> {
    const match = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(certId);
    if (!match) throw new AcmeError("malformed", "the certID must be base64url(keyIdentifier).base64url(serial)");
    const keyId = Buffer.from(match[1]!, "base64url").toString("hex");
    const serial = Buffer.from(match[2]!, "base64url")
      .toString("hex")
      .replace(/^(00)+/, "");
    const record = serial ? await this.deps.certificates.findCertificate(serial) : undefined;
    if (!record?.certificate) return undefined;
    return (await this.deps.certificates.issuerKeyIdentifier(record.caId)) === keyId ? record : undefined;
  }
}
