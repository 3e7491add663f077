import { z } from "zod";
import type { AcmeRenewals, AcmeService } from "../../acme/index.js";
import { type AuditLog, auditView, treeHeadJson } from "../../audit/index.js";
import type { Clock } from "../../clock/index.js";
import type { Config } from "../../config/index.js";
import { certificateView, type IssuanceService } from "../../issuance/index.js";
import type { Metrics, RateWatch } from "../../metrics/index.js";
import { KEY_TYPES } from "../../pki/key-types.js";
import { certificatePem } from "../../pki/pem.js";
import {
  REASONS,
  REVOCATION_REASONS,
  type RevocationService,
  revocationRecordView,
  revocationView,
} from "../../revocation/index.js";
import { type CertificateAuthority, caView } from "../../signer/index.js";
import { actorOf, principalOf } from "../middleware.js";
import { parseInput } from "../validate.js";
import { type AccessRouteDeps, accessRoutes } from "./access-api.js";
import { type ApiRoute, type ApprovalDeps, runOrRequestApproval } from "./api-route.js";
import { type ConsoleRouteDeps, consoleRoutes } from "./console-api.js";
import { type EscrowRouteDeps, escrowRoutes } from "./escrow-api.js";
import { type HsmRouteDeps, hsmRoutes } from "./hsm-api.js";
import { type KeyRouteDeps, keyRoutes } from "./keys-api.js";
import { type SshRouteDeps, sshRoutes } from "./ssh-api.js";

const IssueBody = z
  .object({
    csr: z.string().min(1).max(32_768),
    profile: z.string().min(1).max(64),
    validityDays: z.number().int().positive().optional(),
  })
  .strict();

const isoDate = z.iso.datetime({ offset: true }).transform((s) => new Date(s));
const ListQuery = z
  .object({
    name: z.string().min(1).max(255).optional(),
    status: z.enum(["valid", "revoked", "expired", "pending", "failed"]).optional(),
    profile: z.string().max(64).optional(),
    issuer: z.string().max(64).optional(),
    spkiSha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/, "64 lowercase hex characters")
      .optional(),
    expiresAfter: isoDate.optional(),
    expiresBefore: isoDate.optional(),
    expiresWithinDays: z.coerce.number().int().positive().max(36_500).optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
    after: z
      .string()
      .regex(/^[0-9a-f]{1,40}$/)
      .optional(),
  })
  .strict();

const IntermediateBody = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "lowercase letters, digits and dashes"),
    keyType: z.enum(KEY_TYPES).default("p256"),
    commonName: z.string().min(1).max(64),
    organization: z.string().max(64).optional(),
    country: z
      .string()
      .regex(/^[A-Z]{2}$/, 'an ISO 3166-1 alpha-2 code in capitals, e.g. "DE"')
      .optional(),
    validityDays: z.number().int().positive().max(7305).default(1826),
    makeDefault: z.boolean().default(false),
  })
  .strict();

const CaRevokeBody = z
  .object({
    reason: z
      .enum([
        "unspecified",
        "keyCompromise",
        "cACompromise",
        "affiliationChanged",
        "superseded",
        "cessationOfOperation",
      ])
      .default("cessationOfOperation"),
  })
  .strict();

const RevokeBody = z
  .object({
    reason: z.string().min(1).max(40).default("unspecified"),
    invalidityDate: isoDate.optional(),
  })
  .strict();

const BlockKeyBody = z
  .object({
    spkiSha256: z.string().max(100).optional(),
    publicKey: z.string().max(16_384).optional(),
    certificate: z.string().max(32_768).optional(),
    revokeAll: z.boolean().default(false),
  })
  .strict();

const RevocationQuery = z
  .object({
    issuer: z.string().max(64).optional(),
    reason: z.enum(REVOCATION_REASONS).optional(),
    since: isoDate.optional(),
    until: isoDate.optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
    after: z
      .string()
      .regex(/^[0-9a-f]{1,40}$/)
      .optional(),
  })
  .strict();

const EabBody = z.object({ name: z.string().min(1).max(100).default("acme-account") }).strict();

const AuditQuery = z
  .object({
    action: z.string().min(1).max(100).optional(),
    actor: z.string().min(1).max(200).optional(),
    target: z.string().min(1).max(200).optional(),
    outcome: z.enum(["success", "denied", "failure"]).optional(),
    since: isoDate.optional(),
    until: isoDate.optional(),
    after: z.coerce.number().int().min(0).optional(),
    before: z.coerce.number().int().min(1).optional(),
    order: z.enum(["asc", "desc"]).default("asc"),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
  })
  .strict();

const positive = z.coerce.number().int().min(1);
const TreeHeadsQuery = z.object({ limit: z.coerce.number().int().min(1).max(1000).default(10) }).strict();
const InclusionQuery = z.object({ treeSize: positive.optional() }).strict();
const ConsistencyQuery = z.object({ from: positive, to: positive.optional() }).strict();

const serialHex = z.string().regex(/^[0-9a-f]{1,40}$/, "a lowercase hex serial");
const RenewalWindowBody = z
  .object({
    serials: z.array(serialHex).min(1).max(10_000).optional(),
    caId: z.string().min(1).max(100).optional(),
    start: isoDate.optional(),
    end: isoDate.optional(),
    explanationUrl: z.url().optional(),
  })
  .strict()
  .refine((b) => (b.serials === undefined) !== (b.caId === undefined), "give either serials or caId");

/** What the certificate, revocation, CA, ACME-management and audit routes below use. */
export interface CoreRouteDeps extends ApprovalDeps {
  ca: Pick<CertificateAuthority, "list" | "get">;
  issuance: Pick<IssuanceService, "issue" | "list" | "get" | "profileNames">;
  revocation: Pick<RevocationService, "revoke" | "release" | "list" | "blockKey">;
  acme: {
    accounts: Pick<AcmeService, "createExternalAccountKey">;
    renewals: Pick<AcmeRenewals, "forceRenewal">;
  };
  audit: Pick<AuditLog, "search" | "verify" | "treeHeads" | "inclusionProof" | "consistencyProof">;
  metrics: Pick<Metrics, "certificatesIssued" | "certificatesRevoked">;
  bursts: Pick<RateWatch, "record">;
  config: Pick<Config, "profiles">;
  clock: Clock;
}

export type ApiRouteDeps = CoreRouteDeps &
  AccessRouteDeps &
  KeyRouteDeps &
  EscrowRouteDeps &
  ConsoleRouteDeps &
  HsmRouteDeps &
  SshRouteDeps;

/** The admin API as a table: each route names its permission, so none can be mounted open. */
export function apiRoutes(deps: ApiRouteDeps): ApiRoute[] {
  const { ca, issuance, revocation, clock, config } = deps;
  return [
    {
      method: "post",
      path: "/certificates",
      permission: "certificates:issue",
      summary: "Issue a certificate from a PKCS#10 CSR under a profile",
      async handler(req, res) {
        const body = parseInput(IssueBody, req.body, "request body");
        const actor = actorOf(req, res);
        deps.bursts.record(actor.name, "certificate.issue");
        const issued = await issuance.issue({ ...body, actor, scope: principalOf(res).scopes });
        deps.metrics.certificatesIssued.inc({ profile: issued.profile, source: "api" });
        res.status(201).json({
          serial: issued.serial,
          certificate: certificatePem(issued.certificate),
          chain: issued.chain.map((c) => certificatePem(new Uint8Array(c.rawData))).join(""),
          notAfter: issued.notAfter.toISOString(),
        });
      },
    },
    {
      method: "get",
      path: "/certificates",
      permission: "certificates:read",
      summary: "List certificates by name, status, profile, issuer, key and expiry",
      async handler(req, res) {
        const q = parseInput(ListQuery, req.query, "query");
        const now = clock.now();
        const expiresBefore = q.expiresWithinDays
          ? new Date(now.getTime() + q.expiresWithinDays * 86_400_000)
          : q.expiresBefore;
        const items = await issuance.list({
          name: q.name,
          status: q.status,
          profile: q.profile,
          caId: q.issuer,
          spkiSha256: q.spkiSha256,
          expiresAfter: q.expiresWithinDays ? now : q.expiresAfter,
          expiresBefore,
          limit: q.limit,
          after: q.after,
        });
        const next = items.length === q.limit ? items[items.length - 1]!.serial : null;
        res.json({ items: items.map((c) => certificateView(c, now, false)), next });
      },
    },
    {
      method: "get",
      path: "/certificates/:serial",
      permission: "certificates:read",
      summary: "Show one certificate with its status",
      async handler(req, res) {
        const record = await issuance.get(String(req.params.serial));
        res.json(certificateView(record, clock.now(), true));
      },
    },
    {
      method: "post",
      path: "/certificates/:serial/revoke",
      permission: "certificates:revoke",
      summary: "Revoke a certificate with an RFC 5280 reason (certificateHold can be released)",
      async handler(req, res) {
        const body = parseInput(RevokeBody, req.body ?? {}, "request body");
        const result = await revocation.revoke({
          serial: String(req.params.serial),
          ...body,
          actor: actorOf(req, res),
        });
        deps.metrics.certificatesRevoked.inc({ reason: result.reason ?? "unspecified" });
        res.json(revocationView(result));
      },
    },
    {
      method: "post",
      path: "/certificates/:serial/release",
      permission: "certificates:revoke",
      summary: "Release a certificate from certificateHold",
      async handler(req, res) {
        res.json(revocationView(await revocation.release(String(req.params.serial), actorOf(req, res))));
      },
    },
    {
      method: "get",
      path: "/revocations",
      permission: "revocations:read",
      summary: "List revocations by issuer, reason and time",
      async handler(req, res) {
        const q = parseInput(RevocationQuery, req.query, "query");
        const items = await revocation.list({
          caId: q.issuer,
          reason: q.reason === undefined ? undefined : REASONS[q.reason],
          since: q.since,
          until: q.until,
          limit: q.limit,
          after: q.after,
        });
        const next = items.length === q.limit ? items[items.length - 1]!.serial : null;
        res.json({ items: items.map(revocationRecordView), next });
      },
    },
    {
      method: "post",
      path: "/keys/blocked",
      permission: "keys:block",
      summary:
        "Block a compromised key (by SPKI SHA-256, public key or certificate); revokeAll revokes its certificates",
      async handler(req, res) {
        const body = parseInput(BlockKeyBody, req.body, "request body");
        const { revokeAll, ...reference } = body;
        res.json(await revocation.blockKey(reference, { revokeAll, actor: actorOf(req, res) }));
      },
    },
    {
      method: "post",
      path: "/acme/eab",
      permission: "acme:manage",
      summary: "Create an ACME external account binding key id and HMAC key (the key is shown once)",
      async handler(req, res) {
        const body = parseInput(EabBody, req.body ?? {}, "request body");
        res.status(201).json(await deps.acme.accounts.createExternalAccountKey(body.name, actorOf(req, res)));
      },
    },
    {
      method: "post",
      path: "/acme/renewal-windows",
      permission: "acme:manage",
      summary: "Ask ACME clients to renew now (RFC 9773): force the ARI window of some certificates or of a CA's",
      async handler(req, res) {
        const { serials, caId, start, end, explanationUrl } = parseInput(RenewalWindowBody, req.body, "request body");
        const result = await deps.acme.renewals.forceRenewal(caId ? { caId } : { serials: serials! }, {
          start,
          end,
          explanationUrl,
          actor: actorOf(req, res),
        });
        res.json({
          certificates: result.certificates,
          window: { start: result.window.start.toISOString(), end: result.window.end.toISOString() },
        });
      },
    },
    {
      method: "get",
      path: "/cas",
      permission: "ca:read",
      summary: "List the CA hierarchy",
      async handler(_req, res) {
        res.json({ items: (await ca.list()).map(caView) });
      },
    },
    {
      method: "post",
      path: "/cas",
      permission: "ca:manage",
      stepUp: true,
      summary: "Create a new intermediate under the root (second issuer or rollover)",
      async handler(req, res) {
        const body = parseInput(IntermediateBody, req.body, "request body");
        await runOrRequestApproval(
          deps,
          req,
          res,
          "ca.create",
          body,
          `create intermediate CA "${body.id}" (${body.keyType})${body.makeDefault ? " as the default issuer" : ""}`,
        );
      },
    },
    {
      method: "post",
      path: "/cas/:id/revoke",
      permission: "ca:manage",
      stepUp: true,
      summary: "Revoke an intermediate CA (sensitive: step-up, and quorum when configured)",
      async handler(req, res) {
        const { reason } = parseInput(CaRevokeBody, req.body ?? {}, "request body");
        const target = await ca.get(String(req.params.id));
        await runOrRequestApproval(
          deps,
          req,
          res,
          "ca.revoke",
          { id: target.id, reason },
          `revoke ${target.kind} CA "${target.id}" (${reason})`,
        );
      },
    },
    {
      method: "get",
      path: "/audit",
      permission: "audit:read",
      summary:
        "Audit events in order (order=desc: newest first), filtered by action, actor, target, outcome and time; page with after=<seq> (asc) or before=<seq> (desc)",
      async handler(req, res) {
        const q = parseInput(AuditQuery, req.query, "query");
        const items = await deps.audit.search({
          action: q.action,
          actor: q.actor,
          targetId: q.target,
          outcome: q.outcome,
          since: q.since,
          until: q.until,
          afterSeq: q.after,
          beforeSeq: q.before,
          newestFirst: q.order === "desc",
          limit: q.limit,
        });
        res.json({ items: items.map(auditView) });
      },
    },
    {
      method: "get",
      path: "/audit/verify",
      permission: "audit:read",
      summary:
        "Sign a tree head over the stored events, rebuild the Merkle tree and check every signed tree head (database and witness); names the first bad event",
      async handler(_req, res) {
        res.json(await deps.audit.verify({ seal: true }));
      },
    },
    {
      method: "get",
      path: "/audit/tree-heads",
      permission: "audit:read",
      summary: "The latest signed tree heads of the audit log, newest first (limit=, default 10)",
      async handler(req, res) {
        const q = parseInput(TreeHeadsQuery, req.query, "query");
        res.json({ items: (await deps.audit.treeHeads(q.limit)).map(treeHeadJson) });
      },
    },
    {
      method: "get",
      path: "/audit/proof/inclusion/:seq",
      permission: "audit:read",
      summary:
        "RFC 9162 inclusion proof of event seq in the tree of treeSize events (default: the latest signed tree head)",
      async handler(req, res) {
        const seq = parseInput(positive, req.params.seq, "event sequence number");
        const q = parseInput(InclusionQuery, req.query, "query");
        res.json(await deps.audit.inclusionProof(seq, q.treeSize));
      },
    },
    {
      method: "get",
      path: "/audit/proof/consistency",
      permission: "audit:read",
      summary:
        "RFC 9162 consistency proof that the tree of from events is a prefix of the tree of to events (default: the latest signed tree head)",
      async handler(req, res) {
        const q = parseInput(ConsistencyQuery, req.query, "query");
        res.json(await deps.audit.consistencyProof(q.from, q.to));
      },
    },
    {
      method: "get",
      path: "/profiles",
      permission: "certificates:read",
      summary: "List the certificate profiles requesters may use",
      async handler(_req, res) {
        const items = issuance.profileNames().map((name) => {
          const p = config.profiles[name]!;
          return {
            name,
            description: p.description,
            validityDays: p.validityDays,
            maxValidityDays: p.maxValidityDays,
            keyTypes: p.keyTypes,
            sanTypes: p.sanTypes,
          };
        });
        res.json({ items });
      },
    },
    ...accessRoutes(deps),
    ...keyRoutes(deps),
    ...escrowRoutes(deps),
    ...consoleRoutes(deps),
    ...hsmRoutes(deps),
    ...sshRoutes(deps),
  ];
}

/**
 * OpenAPI 3.1 document of the admin API, generated from the same table that mounts the routes,
 * so it cannot drift from them. Each operation names its permission in `x-keyward-permission`.
 */
export function openApiDocument(routes: ApiRoute[], version: string) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const path = `/api/v1${route.path.replace(/:([a-z]+)/gi, "{$1}")}`;
    const parameters = [...route.path.matchAll(/:([a-z]+)/gi)].map((m) => ({
      name: m[1],
      in: "path",
      required: true,
      schema: { type: "string" },
    }));
    paths[path] ??= {};
    paths[path][route.method] = {
      summary: route.summary,
      security: [{ bearer: [] }],
      "x-keyward-permission": route.permission,
      ...(route.stepUp ? { "x-keyward-step-up": true } : {}),
      ...(parameters.length ? { parameters } : {}),
      responses: {
        default: { description: "success, or an RFC 7807 problem document (application/problem+json)" },
      },
    };
  }
  return {
    openapi: "3.1.0",
    info: { title: "Keyward admin API", version },
    components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
    paths,
  };
}
