import type { Clock } from "../clock/index.js";
import type { KeyProbe } from "../hsm/index.js";
import { caKeyMissing } from "../signer/missing-keys.js";
import type { CaRecord } from "../signer/ports.js";

/** failing: this capability does not work now (readiness fails); warning: it works but needs attention. */
export type ComponentStatus = "ok" | "warning" | "failing";

export interface ComponentHealth {
  /** `database`, `token`, `ca-key:<id>`, `ocsp-responder:<id>`, `crl:<id>`, `audit-signer`, `kms-signer`, … */
  component: string;
  status: ComponentStatus;
  /** For operators: what works or what is wrong, naming the key (URI) or token. */
  detail: string;
  /** The CA the component belongs to, for the console to link. */
  caId?: string;
  keyUri?: string;
  /** The key is on an offline token (an offline root): not opened by the server, by design. */
  offline?: true;
}

/** What the capability checks read; each throws when what it reads cannot answer. */
export interface CapabilityPorts {
  clock: Clock;
  database(): Promise<void>;
  /** The online token is present and logged in. */
  token(): Promise<void>;
  tokenLabel: string;
  probeKey(uri: string): Promise<KeyProbe>;
  cas(): Promise<CaRecord[]>;
  responder(caId: string): Promise<{ keyUri: string; notAfter: Date } | undefined>;
  currentCrl(caId: string): Promise<{ number: number; nextUpdate: Date } | undefined>;
  /** The CA's durable "due" mark: its CRL lacks revocations made since `since`. */
  crlDue(caId: string): Promise<{ since: Date } | undefined>;
  /** Keyward's own keys created so far (component name, what the key is for, its URI). */
  serviceKeys(): Promise<Array<{ component: string; what: string; keyUri: string }>>;
  auditSigner(): Promise<{ keyUri: string | undefined; lastSignedAt: Date | undefined; unsignedEvents: number }>;
  /** A checkpoint (signed tree head) is due this often while events arrive. */
  auditIntervalSeconds: number;
}

/** A due CRL whose key is online is signed by the minute sweep: only one due longer is a warning. */
export const DUE_GRACE_MS = 120_000;

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * Every capability the deployment has, checked now and reported separately: the database, the
 * token, each CA key, each OCSP responder key, the audit signer, the KMS signer and other service
 * keys, CRL freshness. A key gone from a working token is "missing", with its URI — never a token
 * outage.
 */
export async function checkCapabilities(ports: CapabilityPorts): Promise<ComponentHealth[]> {
  const now = ports.clock.now();
  const components: ComponentHealth[] = [];
  const outcome = async (component: string, check: () => Promise<Omit<ComponentHealth, "component">>) => {
    try {
      components.push({ component, ...(await check()) });
    } catch (error) {
      components.push({ component, status: "failing", detail: `cannot check: ${message(error)}` });
    }
  };
  const keyState = async (uri: string, what: string, missing: string): Promise<Omit<ComponentHealth, "component">> => {
    const probe = await ports.probeKey(uri);
    if (probe.state !== "offline") {
      return probe.state === "present"
        ? { status: "ok", detail: `${what} present in token ${probe.token}`, keyUri: uri }
        : { status: "failing", detail: missing, keyUri: uri };
    }
    // An offline root by design: its token is attached for ceremonies only.
    return {
      status: "ok",
      detail: `${what} on offline token ${probe.token} (${probe.attached ? "attached, not opened" : "not attached"}; used at ceremonies)`,
      keyUri: uri,
      offline: true,
    };
  };

  await outcome("database", async () => {
    await ports.database();
    return { status: "ok", detail: "reachable" };
  });
  let tokenUp = true;
  await outcome("token", async () => {
    try {
      await ports.token();
    } catch (error) {
      tokenUp = false;
      return { status: "failing", detail: `token ${ports.tokenLabel} unavailable: ${message(error)}` };
    }
    return { status: "ok", detail: `token ${ports.tokenLabel} reachable, logged in` };
  });

  let cas: CaRecord[];
  try {
    cas = (await ports.cas()).filter((ca) => ca.revokedAt === null && ca.notAfter > now);
  } catch (error) {
    components.push({ component: "ca-keys", status: "failing", detail: `cannot list the CAs: ${message(error)}` });
    cas = [];
  }
  const keysUnknown = (component: string, caId?: string) =>
    components.push({
      component,
      status: "failing",
      detail: `cannot check: token ${ports.tokenLabel} unavailable`,
      ...(caId ? { caId } : {}),
    });
  for (const ca of cas) {
    const caId = ca.id;
    if (!tokenUp) keysUnknown(`ca-key:${caId}`, caId);
    else {
      await outcome(`ca-key:${caId}`, async () => ({
        ...(await keyState(ca.keyUri, `CA key ${caId}`, `cannot sign: ${caKeyMissing(caId, ca.keyUri)}`)),
        caId,
      }));
    }
    if (ca.kind !== "intermediate") continue;
    await outcome(`ocsp-responder:${caId}`, async () => {
      const responder = await ports.responder(caId);
      if (!responder) return { status: "ok", detail: "no responder yet (created at the first OCSP answer)", caId };
      if (responder.notAfter <= now) {
        return {
          status: "failing",
          detail: `responder certificate expired at ${responder.notAfter.toISOString()}`,
          caId,
        };
      }
      if (!tokenUp) return { status: "failing", detail: `cannot check: token ${ports.tokenLabel} unavailable`, caId };
      const what = `OCSP responder key of ${caId}`;
      return {
        ...(await keyState(responder.keyUri, what, `cannot sign OCSP answers: key missing (${responder.keyUri})`)),
        caId,
      };
    });
  }
  for (const ca of cas) {
    await outcome(`crl:${ca.id}`, async () => {
      const fresh = await crlFreshness(ca);
      const due = await ports.crlDue(ca.id);
      if (!due) return fresh;
      // The minute sweep signs a due CRL within a minute when its key is online; an offline root's
      // waits for the next ceremony (a revoked intermediate), and says so until then.
      const offline = components.some((c) => c.component === `ca-key:${ca.id}` && c.offline);
      if (!offline && now.getTime() - due.since.getTime() < DUE_GRACE_MS) return fresh;
      const lacking = `lacks revocations made since ${due.since.toISOString()}`;
      return {
        status: fresh.status === "failing" ? "failing" : "warning",
        detail: `${fresh.detail}; ${
          offline
            ? `${lacking} (a revoked intermediate): sign it at the next root ceremony (keyward crl root)`
            : `${lacking}: not signed yet, the minute sweep retries`
        }`,
        caId: ca.id,
      };
    });
  }

  async function crlFreshness(ca: CaRecord): Promise<Omit<ComponentHealth, "component">> {
    const crl = await ports.currentCrl(ca.id);
    const caId = ca.id;
    if (!crl) {
      // The root's CRL is signed at ceremonies; an intermediate's appears within minutes of start.
      return ca.kind === "root"
        ? { status: "ok", detail: "none published yet (signed with `keyward crl root`)", caId }
        : { status: "warning", detail: "no CRL signed yet", caId };
    }
    if (crl.nextUpdate <= now) {
      return {
        status: ca.kind === "root" ? "warning" : "failing",
        detail: `CRL number ${crl.number} is stale: nextUpdate ${crl.nextUpdate.toISOString()} has passed`,
        caId,
      };
    }
    return { status: "ok", detail: `CRL number ${crl.number} fresh until ${crl.nextUpdate.toISOString()}`, caId };
  }

  await outcome("audit-signer", async () => {
    const signer = await ports.auditSigner();
    const last = signer.lastSignedAt;
    const age = last ? Math.round((now.getTime() - last.getTime()) / 1000) : undefined;
    const lastText = age === undefined ? "no checkpoint signed yet" : `last checkpoint signed ${age} s ago`;
    if (signer.keyUri && tokenUp) {
      const probe = await ports.probeKey(signer.keyUri);
      if (probe.state === "missing") {
        return {
          status: "failing",
          detail: `cannot sign checkpoints: key missing (${signer.keyUri}); ${lastText}`,
          keyUri: signer.keyUri,
        };
      }
    }
    const overdue = age !== undefined && signer.unsignedEvents > 0 && age > 3 * ports.auditIntervalSeconds;
    return {
      status: overdue ? "warning" : "ok",
      detail: `${lastText}; ${signer.unsignedEvents} event(s) since${overdue ? " (overdue)" : ""}`,
      ...(signer.keyUri ? { keyUri: signer.keyUri } : {}),
    };
  });

  let serviceKeys: Array<{ component: string; what: string; keyUri: string }> = [];
  try {
    serviceKeys = await ports.serviceKeys();
  } catch (error) {
    components.push({ component: "service-keys", status: "failing", detail: `cannot list them: ${message(error)}` });
  }
  for (const key of serviceKeys) {
    if (!tokenUp) keysUnknown(key.component);
    else
      await outcome(key.component, () =>
        keyState(key.keyUri, key.what, `cannot sign: ${key.what} missing (${key.keyUri})`),
      );
  }
  return components;
}
