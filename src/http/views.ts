import * as x509 from "@peculiar/x509";
import type { StoredAuditEvent } from "../audit/index.js";
import type { CertificateRecord } from "../issuance/index.js";
import { certificatePem } from "../pki/pem.js";
import { type RevocationResult, reasonName } from "../revocation/index.js";
import type { CaRecord } from "../signer/index.js";

export function revocationView(r: RevocationResult) {
  return {
    serial: r.serial,
    status: r.status,
    reason: r.reason,
    revokedAt: r.revokedAt?.toISOString() ?? null,
    invalidityDate: r.invalidityDate?.toISOString() ?? null,
  };
}

/** JSON shapes of the admin API (serials lowercase hex, times ISO-8601 UTC). */
export function certificateView(c: CertificateRecord, now: Date, withPem: boolean) {
  const status = c.status === "valid" && c.notAfter <= now ? "expired" : c.status;
  return {
    serial: c.serial,
    status,
    profile: c.profile,
    issuer: c.caId,
    subject: c.subject,
    names: c.names,
    keyType: c.keyType,
    spkiSha256: c.spkiSha256,
    notBefore: c.notBefore.toISOString(),
    notAfter: c.notAfter.toISOString(),
    createdAt: c.createdAt.toISOString(),
    requestedBy: c.requestedBy,
    revokedAt: c.revokedAt?.toISOString() ?? null,
    revocationReason: reasonName(c.revocationReason),
    ...(withPem ? { certificate: c.certificate ? certificatePem(c.certificate) : null } : {}),
  };
}

export function caView(ca: CaRecord) {
  return {
    id: ca.id,
    kind: ca.kind,
    parent: ca.parentId,
    default: ca.isDefault,
    subject: ca.subject,
    keyType: ca.keyType,
    keyUri: ca.keyUri,
    notBefore: ca.notBefore.toISOString(),
    notAfter: ca.notAfter.toISOString(),
    revokedAt: ca.revokedAt?.toISOString() ?? null,
    revocationReason: reasonName(ca.revocationReason),
    certificate: certificatePem(ca.certificate),
  };
}

export function auditView(e: StoredAuditEvent) {
  return {
    seq: e.seq,
    at: e.at.toISOString(),
    action: e.action,
    actor: e.actor,
    target: e.target ?? null,
    outcome: e.outcome,
    details: e.details ?? {},
    hash: e.hash,
  };
}

/** A certificate decoded for people, in the layout of `openssl x509 -text`. */
export function certificateText(der: Buffer): string {
  return new x509.X509Certificate(new Uint8Array(der)).toString("text");
}
