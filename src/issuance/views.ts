import * as x509 from "@peculiar/x509";
import { certificatePem } from "../pki/pem.js";
import { reasonName } from "../pki/reasons.js";
import type { CertificateRecord } from "./ports.js";

/** JSON shape of a certificate for the admin API and the CLI (serials lowercase hex, times ISO-8601 UTC). */
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
    invalidityDate: c.invalidityDate?.toISOString() ?? null,
    ...(withPem ? { certificate: c.certificate ? certificatePem(c.certificate) : null } : {}),
  };
}

/** A certificate decoded for people, in the layout of `openssl x509 -text`. */
export function certificateText(der: Buffer): string {
  return new x509.X509Certificate(new Uint8Array(der)).toString("text");
}
