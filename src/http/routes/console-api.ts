import { z } from "zod";
import { type AuditLog, auditView } from "../../audit/index.js";
import type { Clock } from "../../clock/index.js";
import { certificateText, certificateView, type IssuanceService } from "../../issuance/index.js";
import type { Readiness } from "../../health/index.js";
import { type OverviewService, overviewView } from "../../overview/index.js";
import { certificatePem } from "../../pki/pem.js";
import { type CompromisedKeys, type OcspResponder, ocspAnswerView } from "../../revocation/index.js";
import type { CertificateAuthority } from "../../signer/index.js";
import { parseInput } from "../validate.js";
import { type ApiRoute, type ApprovalDeps, runOrRequestApproval } from "./api-route.js";

const StatsQuery = z.object({ days: z.coerce.number().int().min(1).max(90).default(30) }).strict();

const KeyReferenceBody = z
  .object({
    spkiSha256: z.string().max(100).optional(),
    publicKey: z.string().max(16_384).optional(),
    certificate: z.string().max(32_768).optional(),
  })
  .strict();

const CompromiseBody = z
  .object({ spkiSha256: z.string().regex(/^[0-9a-f]{64}$/, "64 lowercase hex characters (from the lookup)") })
  .strict();

export interface ConsoleRouteDeps extends ApprovalDeps {
  readiness(): Promise<Readiness>;
  overview: Pick<OverviewService, "overview" | "dailyActivity">;
  compromisedKeys: Pick<CompromisedKeys, "find">;
  issuance: Pick<IssuanceService, "get">;
  ca: Pick<CertificateAuthority, "chain">;
  audit: Pick<AuditLog, "search">;
  ocsp: Pick<OcspResponder, "answerFor">;
  clock: Clock;
}

/** What the admin console reads beyond the plain resources: overview, activity, details, the compromised-key flow. */
export function consoleRoutes(deps: ConsoleRouteDeps): ApiRoute[] {
  const { overview, compromisedKeys, issuance, clock } = deps;
  return [
    {
      method: "get",
      path: "/health",
      permission: "overview:read",
      summary:
        "Readiness with details: each component (database, token, CA keys, OCSP responder keys, CRLs, audit signer, KMS signer) ok, warning or failing, and why",
      async handler(_req, res) {
        // A report, not a probe: 200 whatever it says (`ready` says whether the instance can serve).
        res.json(await deps.readiness());
      },
    },
    {
      method: "get",
      path: "/overview",
      permission: "overview:read",
      summary:
        "The hierarchy with days left, CRL freshness and OCSP responders; OCSP coverage; pending approvals; audit chain state; warnings",
      async handler(_req, res) {
        const o = await overview.overview();
        res.json(overviewView(o));
      },
    },
    {
      method: "get",
      path: "/stats",
      permission: "overview:read",
      summary: "Certificates issued and revoked per UTC day over the last `days` days (default 30)",
      async handler(req, res) {
        const { days } = parseInput(StatsQuery, req.query, "query");
        res.json({ days: await overview.dailyActivity(days) });
      },
    },
    {
      method: "get",
      path: "/certificates/:serial/details",
      permission: "certificates:read",
      summary: "One certificate decoded, with its chain, what OCSP answers for it now and its history",
      async handler(req, res) {
        const record = await issuance.get(String(req.params.serial));
        // Up to and including the root: the operator sees the whole path.
        const chain = await deps.ca.chain(record.caId);
        const decoded = record.certificate ? certificateText(record.certificate) : null;
        const history = await deps.audit.search({ targetId: record.serial, limit: 200 });
        res.json({
          ...certificateView(record, clock.now(), true),
          decoded,
          chain: chain.map((c) => ({
            subject: c.subject,
            issuer: c.issuer,
            serial: c.serialNumber.toLowerCase(),
            notAfter: c.notAfter.toISOString(),
            certificate: certificatePem(new Uint8Array(c.rawData)),
          })),
          ocsp: record.certificate ? ocspAnswerView(await deps.ocsp.answerFor(record.serial)) : null,
          history: history.map(auditView).map((e) => ({
            seq: e.seq,
            at: e.at,
            action: e.action,
            actor: e.actor.name,
            outcome: e.outcome,
            details: e.details,
          })),
        });
      },
    },
    {
      method: "post",
      path: "/public-keys/lookup",
      permission: "certificates:read",
      summary:
        "Every certificate with a public key (named by certificate, PEM public key or SPKI SHA-256), and whether it is blocked",
      async handler(req, res) {
        const reference = parseInput(KeyReferenceBody, req.body, "request body");
        const found = await compromisedKeys.find(reference);
        const now = clock.now();
        res.json({
          spkiSha256: found.spkiSha256,
          blocked: found.blocked && {
            at: found.blocked.blockedAt.toISOString(),
            by: found.blocked.blockedBy,
            reason: found.blocked.reason,
          },
          certificates: found.certificates.map((c) => certificateView(c, now, false)),
          truncated: found.truncated,
        });
      },
    },
    {
      method: "post",
      path: "/public-keys/compromised",
      permission: "keys:block",
      stepUp: true,
      summary:
        "Block a compromised key and revoke all its certificates (keyCompromise); returns new CRL numbers and OCSP answers (step-up, quorum key.block)",
      async handler(req, res) {
        const { spkiSha256 } = parseInput(CompromiseBody, req.body, "request body");
        const found = await compromisedKeys.find({ spkiSha256 });
        const open = found.certificates.filter((c) => c.status === "valid").length;
        await runOrRequestApproval(
          deps,
          req,
          res,
          "key.block",
          { spkiSha256 },
          `block key ${spkiSha256.slice(0, 16)}… and revoke its ${open} valid certificate(s) (keyCompromise)`,
        );
      },
    },
  ];
}
