import { Router } from "express";
import { z } from "zod";
import { type SshService, SSH_REVOCATION_REASONS, sshCertificateView } from "../../ssh/index.js";
import type { Clock } from "../../clock/index.js";
import type { RateWatch } from "../../metrics/index.js";
import { actorOf, principalOf } from "../middleware.js";
import { parseInput } from "../validate.js";
import type { ApiRoute } from "./api-route.js";

const SignBody = z
  .object({
    publicKey: z.string().min(1).max(16_384),
    type: z.enum(["user", "host"]),
    profile: z.string().min(1).max(64).optional(),
    principals: z.array(z.string().min(1).max(255)).min(1).max(256),
    validityHours: z.number().int().positive().optional(),
    criticalOptions: z.record(z.string().min(1).max(64), z.string().max(4096)).optional(),
    extensions: z.array(z.string().min(1).max(128)).max(64).optional(),
  })
  .strict();

const serial = z.string().regex(/^[1-9][0-9]{0,19}$/, "a decimal serial, as ssh-keygen -L prints it");
const ListQuery = z
  .object({
    principal: z.string().min(1).max(255).optional(),
    keyId: z.string().min(1).max(255).optional(),
    fingerprint: z.string().min(1).max(100).optional(),
    type: z.enum(["user", "host"]).optional(),
    status: z.enum(["valid", "revoked", "expired", "pending", "failed"]).optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
    after: serial.optional(),
  })
  .strict();
const RevokeBody = z
  .object({ reason: z.enum(SSH_REVOCATION_REASONS).default("unspecified") })
  .strict()
  .default({ reason: "unspecified" });

export interface SshRouteDeps {
  ssh: Pick<SshService, "sign" | "list" | "get" | "revoke" | "caPublicKey" | "krl">;
  clock: Clock;
  bursts: Pick<RateWatch, "record">;
}

/** The SSH CA's admin API: sign, list, show, revoke (docs/ssh.md). */
export function sshRoutes(deps: SshRouteDeps): ApiRoute[] {
  const { ssh, clock } = deps;
  return [
    {
      method: "post",
      path: "/ssh/certificates",
      permission: "ssh:sign",
      summary: "Sign an OpenSSH user or host certificate for a public key under an SSH profile",
      async handler(req, res) {
        const body = parseInput(SignBody, req.body, "request body");
        const principal = principalOf(res);
        const actor = actorOf(req, res);
        deps.bursts.record(actor.name, "ssh.sign");
        const signed = await ssh.sign(
          body,
          { name: principal.name, role: principal.role, scopes: principal.scopes },
          actor,
        );
        res.status(201).json({
          certificate: signed.certificate,
          serial: signed.serial,
          keyId: signed.keyId,
          principals: signed.principals,
          validAfter: signed.validAfter.toISOString(),
          validBefore: signed.validBefore.toISOString(),
        });
      },
    },
    {
      method: "get",
      path: "/ssh/certificates",
      permission: "ssh:read",
      summary: "List SSH certificates by principal, key ID, key fingerprint, type and status",
      async handler(req, res) {
        const q = parseInput(ListQuery, req.query, "query");
        const now = clock.now();
        const items = await ssh.list(q);
        res.json({
          items: items.map((r) => sshCertificateView(r, now)),
          next: items.length === q.limit ? items[items.length - 1]!.serial : null,
        });
      },
    },
    {
      method: "get",
      path: "/ssh/certificates/:serial",
      permission: "ssh:read",
      summary: "One SSH certificate with its status",
      async handler(req, res) {
        const s = parseInput(serial, req.params.serial, "serial");
        res.json(sshCertificateView(await ssh.get(s), clock.now()));
      },
    },
    {
      method: "post",
      path: "/ssh/certificates/:serial/revoke",
      permission: "ssh:revoke",
      summary: "Revoke an SSH certificate; the KRL at /ssh/revoked.krl lists it before this answers",
      async handler(req, res) {
        const s = parseInput(serial, req.params.serial, "serial");
        const { reason } = parseInput(RevokeBody, req.body ?? {}, "request body");
        const result = await ssh.revoke({ serial: s }, reason, actorOf(req, res));
        res.json({ serial: s, reason, krlVersion: result.krlVersion });
      },
    },
  ];
}

/** Public SSH CA material: the CA keys as OpenSSH lines and the KRL (binary, PROTOCOL.krl). */
export function sshPublicRoutes(deps: SshRouteDeps): Router {
  const router = Router();
  router.get(["/ssh/user_ca.pub", "/ssh/host_ca.pub"], async (req, res) => {
    const key = await deps.ssh.caPublicKey(req.path === "/ssh/user_ca.pub" ? "user" : "host");
    res.type("text/plain").setHeader("Cache-Control", "public, max-age=300").send(`${key.line}\n`);
  });
  router.get("/ssh/revoked.krl", async (_req, res) => {
    const krl = await deps.ssh.krl();
    res
      .type("application/octet-stream")
      .setHeader("Cache-Control", "public, max-age=60")
      .setHeader("ETag", `"krl-${krl.version}"`)
      .setHeader("Last-Modified", krl.generatedAt.toUTCString())
      .send(krl.krl);
  });
  return router;
}
