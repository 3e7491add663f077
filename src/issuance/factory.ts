import type { Logger } from "pino";
import { SYSTEM_ACTOR } from "../audit/index.js";
import { type Background, type ClaimSlot, type Clock, every } from "../clock/index.js";
import type { Config } from "../config/schema.js";
import type { CertificateAuthority } from "../signer/index.js";
import type { NameConstraints } from "./names.js";
import type { CertificateStore } from "./ports.js";
import { IssuanceService } from "./service.js";

export interface Issuance extends Background {
  issuance: IssuanceService;
}

/** The registration authority, and its sweep of intents left pending by a process that died. */
export function createIssuance(deps: {
  ca: CertificateAuthority;
  store: CertificateStore;
  profiles: Config["profiles"];
  forbiddenNames: readonly string[];
  nameConstraints?: NameConstraints;
  slots: ClaimSlot;
  clock: Clock;
  logger?: Logger;
}): Issuance {
  const issuance = new IssuanceService(deps);
  const sweep = every(
    60_000,
    () => issuance.abandonStale(SYSTEM_ACTOR),
    (error) => deps.logger?.error({ err: error }, "sweeping abandoned issuances failed"),
    { slots: deps.slots, job: "issuance-sweep" },
  );
  return { issuance, ...sweep };
}
