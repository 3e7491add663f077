export {
  type CapabilityPorts,
  checkCapabilities,
  DUE_GRACE_MS,
  type ComponentHealth,
  type ComponentStatus,
} from "./capabilities.js";
import type { ComponentHealth } from "./capabilities.js";

/** What `/ready` knows: whether this instance can serve, and each component's state with its detail. */
export interface Readiness {
  ready: boolean;
  components: ComponentHealth[];
  draining?: true;
  /** Present only when the lint gate is configured off (lint.enabled: false): never silently. */
  lintGate?: "off";
}

export interface Health {
  /** Whether this instance can serve, and why not: every capability checked now. */
  readiness(): Promise<Readiness>;
  /** Shutdown has begun: readiness fails from now on so load balancers stop sending traffic. */
  beginDrain(): void;
}

/**
 * Readiness from the capability checks: ready while no component is failing and the instance is
 * not draining. Concurrent callers (a balancer's probes, the console) share one round of checks.
 */
export function createHealth(check: () => Promise<ComponentHealth[]>, options: { lintGateOff?: boolean } = {}): Health {
  let draining = false;
  let running: Promise<ComponentHealth[]> | undefined;
  return {
    async readiness() {
      running ??= check().finally(() => {
        running = undefined;
      });
      const components = await running;
      const lint = options.lintGateOff ? { lintGate: "off" as const } : {};
      const ready = !draining && components.every((c) => c.status !== "failing");
      return { ready, components, ...(draining ? { draining: true as const } : {}), ...lint };
    },
    beginDrain() {
      draining = true;
    },
  };
}

/**
 * What anyone may see (`GET /ready`, no authentication): ok or failing per component, no detail.
 * Details (key URIs, token labels, error messages) go to authenticated operators only.
 */
export function publicReadiness(r: Readiness) {
  return {
    ready: r.ready,
    ...(r.draining ? { draining: true } : {}),
    ...(r.lintGate ? { lintGate: r.lintGate } : {}),
    components: Object.fromEntries(r.components.map((c) => [c.component, c.status === "failing" ? "failing" : "ok"])),
  };
}
