import { caView } from "../signer/index.js";
import type { Overview } from "./service.js";

/** JSON shape of the console's overview: the hierarchy's health, OCSP, approvals, audit, warnings. */
export function overviewView(o: Overview) {
  return {
    at: o.at.toISOString(),
    cas: o.cas.map((h) => {
      const { certificate: _pem, ...ca } = caView(h.ca);
      return {
        ...ca,
        daysLeft: h.daysLeft,
        crl: h.crl && {
          number: h.crl.number,
          thisUpdate: h.crl.thisUpdate.toISOString(),
          nextUpdate: h.crl.nextUpdate.toISOString(),
          fresh: h.crl.fresh,
        },
        key: h.key,
        ocspResponder: h.responder && {
          serial: h.responder.serial,
          keyUri: h.responder.keyUri,
          notAfter: h.responder.notAfter.toISOString(),
          daysLeft: h.responder.daysLeft,
        },
      };
    }),
    ocsp: o.ocsp,
    approvals: o.approvals.map((a) => ({
      id: a.id,
      operation: a.operation,
      summary: a.summary,
      requestedBy: a.requestedBy.name,
      requestedById: a.requestedBy.id,
      approverRole: a.approverRole,
      requiredApprovals: a.requiredApprovals,
      votes: a.votes.length,
      expiresAt: a.expiresAt.toISOString(),
    })),
    audit: o.audit,
    warnings: o.warnings,
  };
}
