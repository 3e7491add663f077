import { reasonName } from "../pki/reasons.js";
import type { CompromiseOutcome } from "./compromised-keys.js";
import type { OcspAnswerSummary } from "./ocsp-der.js";
import type { RevocationRecord } from "./ports.js";
import type { RevocationResult } from "./service.js";

/** JSON shape of a revocation or release for the admin API and the CLI. */
export function revocationView(r: RevocationResult) {
  return {
    serial: r.serial,
    status: r.status,
    reason: r.reason,
    revokedAt: r.revokedAt?.toISOString() ?? null,
    invalidityDate: r.invalidityDate?.toISOString() ?? null,
  };
}

/** JSON shape of one entry of the revocation list. */
export function revocationRecordView(r: RevocationRecord) {
  return {
    serial: r.serial,
    issuer: r.caId,
    reason: reasonName(r.reason),
    revokedAt: r.revokedAt.toISOString(),
    invalidityDate: r.invalidityDate?.toISOString() ?? null,
  };
}

/** What OCSP answers for a certificate now, as the console's certificate details show it. */
export function ocspAnswerView(a: OcspAnswerSummary | undefined) {
  return a
    ? {
        status: a.status,
        producedAt: a.producedAt?.toISOString() ?? null,
        thisUpdate: a.thisUpdate?.toISOString() ?? null,
        nextUpdate: a.nextUpdate?.toISOString() ?? null,
        revokedAt: a.revokedAt?.toISOString() ?? null,
        reason: reasonName(a.reason),
      }
    : null;
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
