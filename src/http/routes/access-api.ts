import { z } from "zod";
import {
  type ApprovalService,
  approvalView,
  type Permission,
  PERMISSIONS,
  ROLES,
  roleAllows,
  type TotpEnrolment,
  totpQrDataUrl,
  type UserService,
  userView,
} from "../../access/index.js";
import { BadRequestError } from "../../errors/index.js";
import { actorOf, principalOf } from "../middleware.js";
import { parseInput } from "../validate.js";
import { type ApiRoute, type ApprovalDeps, runOrRequestApproval } from "./api-route.js";

const Scopes = z
  .object({
    profiles: z.array(z.string().min(1).max(64)).max(100).optional(),
    names: z.array(z.string().min(1).max(255)).max(1000).optional(),
    keys: z.array(z.string().min(1).max(128)).max(1000).optional(),
  })
  .strict();

const UserBody = z
  .object({
    name: z.string().min(2).max(64),
    role: z.enum(ROLES),
    password: z.string().min(1).max(1024),
    scopes: Scopes.optional(),
  })
  .strict();

const RoleBody = z.object({ role: z.enum(ROLES) }).strict();
const ApprovalQuery = z
  .object({
    status: z.enum(["pending", "executed", "rejected", "expired", "failed"]).optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
  })
  .strict();

export const LoginBody = z
  .object({
    name: z.string().min(1).max(64),
    password: z.string().min(1).max(1024),
    otp: z.string().max(16).optional(),
    recoveryCode: z.string().max(64).optional(),
  })
  .strict();

const ConfirmBody = z.object({ otp: z.string().regex(/^[0-9]{6}$/, "6 digits") }).strict();

export interface AccessRouteDeps extends ApprovalDeps {
  users: Pick<UserService, "logout" | "list" | "create" | "get">;
  totpEnrolment: Pick<TotpEnrolment, "begin" | "confirm" | "force">;
  approvals: Pick<ApprovalService, "needsApproval" | "request" | "list" | "get" | "approve" | "reject">;
}

/** People, sessions and approvals. Login itself is the one public API route (app.ts). */
export function accessRoutes(deps: AccessRouteDeps): ApiRoute[] {
  const { users, approvals } = deps;
  return [
    {
      method: "get",
      path: "/me",
      permission: "self",
      summary: "Who the bearer token belongs to, with its role and the permissions the role grants",
      async handler(_req, res) {
        const p = principalOf(res);
        const permissions = (Object.keys(PERMISSIONS) as Permission[]).filter((x) => roleAllows(p.role, x));
        res.json({ id: p.id, name: p.name, role: p.role, kind: p.kind, permissions });
      },
    },
    {
      method: "post",
      path: "/auth/logout",
      permission: "self",
      summary: "End the caller's session (people's session tokens)",
      async handler(req, res) {
        const p = principalOf(res) as { kind: string; sessionId?: string };
        if (p.kind !== "user" || !p.sessionId) throw new BadRequestError("only a person's session can be logged out");
        await users.logout(p.sessionId, actorOf(req, res));
        res.status(204).end();
      },
    },
    {
      method: "post",
      path: "/auth/totp/enrol",
      permission: "self",
      summary:
        "Start enrolling a new authenticator (after a recovery-code login, or any time): a new seed in the token, its otpauth URI and QR code, shown once",
      async handler(req, res) {
        const p = principalOf(res);
        if (p.kind !== "user") throw new BadRequestError("only a person enrols an authenticator");
        const { otpauthUri } = await deps.totpEnrolment.begin(p.id, actorOf(req, res));
        res.status(201).json({ otpauthUri, qrCode: await totpQrDataUrl(otpauthUri) });
      },
    },
    {
      method: "post",
      path: "/auth/totp/confirm",
      permission: "self",
      summary: "Finish enrolling: the first code of the new authenticator; it replaces the old one",
      async handler(req, res) {
        const p = principalOf(res);
        if (p.kind !== "user") throw new BadRequestError("only a person enrols an authenticator");
        const { otp } = parseInput(ConfirmBody, req.body, "request body");
        const user = await deps.totpEnrolment.confirm(p.id, otp, actorOf(req, res));
        res.json(userView(user));
      },
    },
    {
      method: "post",
      path: "/users/:id/reset-totp",
      permission: "users:manage",
      stepUp: true,
      summary: "Make a person enrol a new authenticator at their next login (a lost or shared phone)",
      async handler(req, res) {
        res.json(userView(await deps.totpEnrolment.force(String(req.params.id), actorOf(req, res))));
      },
    },
    {
      method: "get",
      path: "/users",
      permission: "users:manage",
      summary: "List people and their roles",
      async handler(_req, res) {
        res.json({ items: (await users.list()).map(userView) });
      },
    },
    {
      method: "post",
      path: "/users",
      permission: "users:manage",
      stepUp: true,
      summary: "Create a person: returns the TOTP enrolment URI and recovery codes, once",
      async handler(req, res) {
        const body = parseInput(UserBody, req.body, "request body");
        const created = await users.create(body, actorOf(req, res));
        res.status(201).json({
          ...userView(created.user),
          otpauthUri: created.otpauthUri,
          recoveryCodes: created.recoveryCodes,
        });
      },
    },
    {
      method: "post",
      path: "/users/:id/role",
      permission: "users:manage",
      stepUp: true,
      summary: "Change a person's role (sensitive: step-up, and quorum when configured)",
      async handler(req, res) {
        const { role } = parseInput(RoleBody, req.body, "request body");
        const user = await users.get(String(req.params.id));
        await runOrRequestApproval(
          deps,
          req,
          res,
          "user.role",
          { userId: user.id, role },
          `change the role of ${user.name} from ${user.role} to ${role}`,
        );
      },
    },
    {
      method: "get",
      path: "/approvals",
      permission: "approvals:read",
      summary: "Approval requests for sensitive operations (newest first), with their votes",
      async handler(req, res) {
        const q = parseInput(ApprovalQuery, req.query, "query");
        res.json({ items: (await approvals.list(q)).map(approvalView) });
      },
    },
    {
      method: "get",
      path: "/approvals/:id",
      permission: "approvals:read",
      summary: "One approval request",
      async handler(req, res) {
        res.json(approvalView(await approvals.get(String(req.params.id))));
      },
    },
    {
      method: "post",
      path: "/approvals/:id/approve",
      permission: "approvals:decide",
      stepUp: true,
      summary: "Approve a request; the operation runs when the last required approval arrives",
      async handler(req, res) {
        const approval = await approvals.approve(String(req.params.id), {
          actor: actorOf(req, res),
          role: principalOf(res).role,
        });
        res.json(approvalView(approval));
      },
    },
    {
      method: "post",
      path: "/approvals/:id/reject",
      permission: "approvals:decide",
      stepUp: true,
      summary: "Reject a request (or withdraw your own); it will not run",
      async handler(req, res) {
        const approval = await approvals.reject(String(req.params.id), {
          actor: actorOf(req, res),
          role: principalOf(res).role,
        });
        res.json(approvalView(approval));
      },
    },
  ];
}
