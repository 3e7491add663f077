import type { HsmReport } from "../../hsm/index.js";
import type { ApiRoute } from "./api-route.js";

export interface HsmRouteDeps {
  /** The token's capability profile, with the live probes run now. */
  hsm: { probe(): Promise<{ report(): HsmReport }> };
}

/** What the token can do and how Keyward uses it: the same report as `keyward hsm check --json`. */
export function hsmRoutes(deps: HsmRouteDeps): ApiRoute[] {
  return [
    {
      method: "get",
      path: "/hsm",
      permission: "hsm:read",
      summary:
        "The token's capability profile: module and token, key types, and per feature whether Keyward does it natively, by a fallback or not at all (with the reason)",
      async handler(_req, res) {
        res.json((await deps.hsm.probe()).report());
      },
    },
  ];
}
