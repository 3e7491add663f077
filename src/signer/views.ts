import { certificatePem } from "../pki/pem.js";
import { reasonName } from "../pki/reasons.js";
import type { CaRecord } from "./ports.js";

/** JSON shape of a CA for the admin API, the CLI and the approvals that create or revoke one. */
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
