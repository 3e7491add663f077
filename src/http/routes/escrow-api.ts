import { z } from "zod";
import { agentView, type EscrowService, recoveryView } from "../../escrow/index.js";
import type { KeyLifecycle } from "../../keys/index.js";
import { actorOf } from "../middleware.js";
import { parseInput } from "../validate.js";
import { type ApiRoute, type ApprovalDeps, runOrRequestApproval } from "./api-route.js";

const AgentBody = z
  .object({
    name: z.string().min(1).max(64),
    certificate: z.string().min(1).max(20_000),
    userName: z.string().min(1).max(64).optional(),
  })
  .strict();
const PolicyBody = z
  .object({
    keyId: z.string().min(1).max(64).optional(),
    tag: z.string().min(1).max(64).optional(),
    agents: z.array(z.string().min(1).max(64)).min(2).max(16),
    threshold: z.number().int().min(2).max(16),
  })
  .strict();
const ShareBody = z
  .object({
    agent: z.string().min(1).max(64),
    share: z
      .string()
      .min(1)
      .max(200)
      .regex(/^[A-Za-z0-9+/]*={0,2}$/, "base64"),
  })
  .strict();
const VersionParam = z.coerce.number().int().min(1);

export interface EscrowRouteDeps extends ApprovalDeps {
  escrow: Pick<
    EscrowService,
    "agents" | "addAgent" | "policies" | "setPolicy" | "escrowOf" | "recoveries" | "submitShare" | "cancel"
  >;
  keys: Pick<KeyLifecycle, "get">;
}

/** Key escrow (M-of-N) and recovery; see docs/keys.md. */
export function escrowRoutes(deps: EscrowRouteDeps): ApiRoute[] {
  const { escrow, keys } = deps;
  return [
    {
      method: "get",
      path: "/escrow/agents",
      permission: "keys:read",
      summary: "Escrow agents and their certificates",
      async handler(_req, res) {
        res.json({ items: (await escrow.agents()).map(agentView) });
      },
    },
    {
      method: "post",
      path: "/escrow/agents",
      permission: "keys:manage",
      summary: "Add an escrow agent by its certificate (checked like a distribution recipient)",
      async handler(req, res) {
        const body = parseInput(AgentBody, req.body, "request body");
        res.status(201).json(agentView(await escrow.addAgent(body, actorOf(req, res))));
      },
    },
    {
      method: "get",
      path: "/escrow/policies",
      permission: "keys:read",
      summary: "Escrow policies (per key or per tag)",
      async handler(_req, res) {
        res.json({ items: await escrow.policies() });
      },
    },
    {
      method: "post",
      path: "/escrow/policies",
      permission: "keys:manage",
      summary: "Require M-of-N escrow for a key or a tag; escrows the versions that now need it",
      async handler(req, res) {
        const body = parseInput(PolicyBody, req.body, "request body");
        res.status(201).json(await escrow.setPolicy(body, actorOf(req, res)));
      },
    },
    {
      method: "get",
      path: "/keys/:id/versions/:version/escrow",
      permission: "keys:read",
      summary: "A version's escrow: threshold and each agent's share as CMS sealed to the agent",
      async handler(req, res) {
        const key = await keys.get(String(req.params.id));
        const version = parseInput(VersionParam, req.params.version, "version");
        const found = await escrow.escrowOf(key.id, version);
        const agents = await escrow.agents();
        res.json({
          keyId: key.id,
          version,
          threshold: found.threshold,
          createdAt: found.createdAt.toISOString(),
          shares: found.shares.map((s) => ({
            agent: agents.find((a) => a.id === s.agentId)?.name ?? s.agentId,
            cms: s.cms.toString("base64"),
          })),
        });
      },
    },
    {
      method: "post",
      path: "/keys/:id/versions/:version/recoveries",
      permission: "keys:manage",
      stepUp: true,
      summary: "Open an escrow recovery of a version (sensitive: step-up, quorum)",
      async handler(req, res) {
        const key = await keys.get(String(req.params.id));
        const version = parseInput(VersionParam, req.params.version, "version");
        await runOrRequestApproval(
          deps,
          req,
          res,
          "escrow.recover",
          { keyId: key.id, version },
          `recover version ${version} of key ${key.name} from escrow`,
        );
      },
    },
    {
      method: "get",
      path: "/escrow/recoveries",
      permission: "keys:read",
      summary: "Escrow recoveries and the shares submitted so far",
      async handler(_req, res) {
        res.json({ items: (await escrow.recoveries()).map(recoveryView) });
      },
    },
    {
      method: "post",
      path: "/escrow/recoveries/:id/shares",
      permission: "self",
      summary: "Submit an agent's decrypted share (only the person linked to that agent)",
      async handler(req, res) {
        const body = parseInput(ShareBody, req.body, "request body");
        const result = await escrow.submitShare(
          String(req.params.id),
          body.agent,
          Buffer.from(body.share, "base64"),
          actorOf(req, res),
        );
        res.json({ ...result, recovery: recoveryView(result.recovery) });
      },
    },
    {
      method: "post",
      path: "/escrow/recoveries/:id/cancel",
      permission: "keys:manage",
      summary: "Cancel an open recovery; its submitted shares are deleted",
      async handler(req, res) {
        res.json(recoveryView(await escrow.cancel(String(req.params.id), actorOf(req, res))));
      },
    },
  ];
}
