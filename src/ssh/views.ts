import { certificateLine } from "./certificate.js";
import type { SshCertificateRecord } from "./ports.js";

/** An SSH certificate as the API and `keyward ssh list --json` show it. */
export function sshCertificateView(r: SshCertificateRecord, now: Date) {
  const expired = r.status === "valid" && r.validBefore.getTime() <= now.getTime();
  return {
    serial: r.serial,
    type: r.type,
    keyId: r.keyId,
    principals: r.principals,
    profile: r.profile,
    keyAlgorithm: r.keyAlgorithm,
    fingerprint: r.fingerprint,
    status: expired ? "expired" : r.status,
    validAfter: r.validAfter.toISOString(),
    validBefore: r.validBefore.toISOString(),
    requestedBy: r.requestedBy,
    createdAt: r.createdAt.toISOString(),
    revokedAt: r.revokedAt?.toISOString() ?? null,
    revocationReason: r.revocationReason,
    certificate: r.certificate ? certificateLine(r.certificate, r.keyId) : null,
  };
}
