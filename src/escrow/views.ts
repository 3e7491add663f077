import { caCertificate } from "../keys/index.js";
import type { EscrowAgent, Recovery } from "./ports.js";

/** JSON shape of an escrow agent, with what its certificate says. */
export function agentView(a: EscrowAgent) {
  const certificate = caCertificate(a.certificate);
  return {
    id: a.id,
    name: a.name,
    userName: a.userName,
    serial: a.serial,
    subject: certificate.subject,
    notAfter: certificate.notAfter.toISOString(),
    createdAt: a.createdAt.toISOString(),
  };
}

/** JSON shape of an escrow recovery and the shares submitted so far (never the shares themselves). */
export function recoveryView(r: Recovery) {
  return {
    id: r.id,
    keyId: r.keyId,
    version: r.version,
    status: r.status,
    requestedBy: r.requestedBy,
    createdAt: r.createdAt.toISOString(),
    completedAt: r.completedAt?.toISOString() ?? null,
    submitted: r.submitted.map((s) => ({
      agentId: s.agentId,
      submittedBy: s.submittedBy,
      at: s.submittedAt.toISOString(),
    })),
  };
}
