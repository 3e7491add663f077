/** What `/ready` reports: whether this instance can serve, and why not. */
export interface Readiness {
  ready: boolean;
  database: string;
  hsm: string;
  draining?: true;
  /** Present only when the lint gate is configured off (lint.enabled: false): never silently. */
  lintGate?: "off";
}

export interface Health {
  /** Whether this instance can serve: database reachable, token usable, not shutting down. */
  readiness(): Promise<Readiness>;
  /** Shutdown has begun: readiness fails from now on so load balancers stop sending traffic. */
  beginDrain(): void;
}

/** Readiness from one check per dependency; a check throws when its dependency cannot serve. */
export function createHealth(
  checks: { database(): Promise<void>; token(): Promise<void> },
  options: { lintGateOff?: boolean } = {},
): Health {
  let draining = false;
  const outcome = (check: () => Promise<void>, failed: string) =>
    check().then(
      () => "ok",
      (error: Error) => `${failed}: ${error.message}`,
    );
  return {
    async readiness() {
      const [database, hsm] = await Promise.all([
        outcome(checks.database, "unreachable"),
        outcome(checks.token, "unavailable"),
      ]);
      const lint = options.lintGateOff ? { lintGate: "off" as const } : {};
      if (draining) return { ready: false, database, hsm, draining: true, ...lint };
      return { ready: database === "ok" && hsm === "ok", database, hsm, ...lint };
    },
    beginDrain() {
      draining = true;
    },
  };
}
