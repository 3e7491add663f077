import type { Approval } from "../access/index.js";
import type { Clock } from "../clock/index.js";
import type { StoredCrl } from "../revocation/index.js";
import type { CaRecord } from "../signer/index.js";
import { type ComponentHealth, type ComponentStatus, DUE_GRACE_MS } from "../health/index.js";
import type { DailyCount, OverviewStore } from "./ports.js";

const DAY_MS = 86_400_000;

export interface Warning {
  level: "critical" | "warning";
  code:
    | "ca-expiring"
    | "ca-expired"
    | "crl-stale"
    | "crl-missing"
    | "audit-chain-broken"
    | "ocsp-responder-expired"
    | "ocsp-unanswered"
    | "crl-due"
    | "ca-key-missing"
    | "key-missing"
    | "health";
  message: string;
  /** What the warning is about, for the console to link: a CA, a certificate, a key in the token. */
  caId?: string;
  keyUri?: string;
  /** Certificates it names (the first few), each linked to its page. */
  serials?: string[];
}

export interface ResponderInfo {
  serial: string;
  keyUri: string;
  notAfter: Date;
}

export interface CaHealth {
  ca: CaRecord;
  daysLeft: number;
  crl: (Pick<StoredCrl, "number" | "thisUpdate" | "nextUpdate"> & { fresh: boolean }) | null;
  responder: (ResponderInfo & { daysLeft: number }) | null;
  /** Whether the CA's key is in its token now (health's ca-key component). */
  key: { status: ComponentStatus; detail: string; online: boolean } | null;
}

export interface Overview {
  at: Date;
  cas: CaHealth[];
  ocsp: { certificates: number; answered: number; dueForRefresh: number; unanswered: number };
  approvals: Approval[];
  audit: { ok: boolean; events: number; problem?: unknown };
  warnings: Warning[];
}

export interface OverviewSettings {
  /** A CA with fewer days left than this is a warning (critical under a third of it). */
  caWarningDays: number;
  /** OCSP answers are re-signed once this much of their validity has passed. */
  ocspValidityHours: number;
  /** Profiles only Keyward issues (its own service keys): not counted in OCSP coverage. */
  internalProfiles: readonly string[];
}

/**
 * What an operator needs to see first: the hierarchy and its health (days left, CRL freshness,
 * OCSP coverage), pending approvals, the audit chain's state, and what needs attention now.
 */
export class OverviewService {
  constructor(
    private readonly deps: {
      store: OverviewStore;
      clock: Clock;
      cas: () => Promise<CaRecord[]>;
      currentCrl: (caId: string) => Promise<StoredCrl | undefined>;
      responder: (caId: string) => Promise<ResponderInfo | undefined>;
      pendingApprovals: () => Promise<Approval[]>;
      verifyAudit: () => Promise<{ ok: boolean; events: number; problem?: unknown }>;
      /** CAs whose CRL lacks a revocation (durable mark, cleared when the CRL is signed). */
      dueCrls: () => Promise<Array<{ caId: string; since: Date }>>;
      /** Health's capability checks: keys present in the token, token and database up. */
      capabilities: () => Promise<ComponentHealth[]>;
      settings: OverviewSettings;
    },
  ) {}

  async overview(): Promise<Overview> {
    const now = this.deps.clock.now();
    const daysUntil = (d: Date) => Math.floor((d.getTime() - now.getTime()) / DAY_MS);
    const warnings: Warning[] = [];
    const cas: CaHealth[] = [];
    const capabilities = await this.deps.capabilities();
    warnings.push(...capabilityWarnings(capabilities));
    for (const ca of await this.deps.cas()) {
      const key = capabilities.find((c) => c.component === `ca-key:${ca.id}`);
      const crl = await this.deps.currentCrl(ca.id);
      const responder = ca.kind === "intermediate" ? await this.deps.responder(ca.id) : undefined;
      const health: CaHealth = {
        ca,
        daysLeft: daysUntil(ca.notAfter),
        crl: crl
          ? { number: crl.number, thisUpdate: crl.thisUpdate, nextUpdate: crl.nextUpdate, fresh: crl.nextUpdate > now }
          : null,
        responder: responder ? { ...responder, daysLeft: daysUntil(responder.notAfter) } : null,
        key: key ? { status: key.status, detail: key.detail, online: !key.offline } : null,
      };
      cas.push(health);
      if (ca.revokedAt === null) warnings.push(...this.caWarnings(health, now));
    }
    // The minute sweep signs due CRLs whose key is online; one still due after two minutes keeps
    // failing. An offline root's waits for the next ceremony: said at once, until it is signed.
    for (const due of await this.deps.dueCrls()) {
      const ca = cas.find((c) => c.ca.id === due.caId);
      const offline = ca?.key?.online === false;
      if (!offline && now.getTime() - due.since.getTime() < DUE_GRACE_MS) continue;
      const root = ca?.ca.kind === "root";
      warnings.push({
        level: "warning",
        code: "crl-due",
        message: `the ${due.caId} CRL lacks revocations made since ${due.since.toISOString()}${
          root ? ": sign it at the next root ceremony (keyward crl root)" : ""
        }`,
      });
    }
    const refreshBefore = new Date(now.getTime() - (this.deps.settings.ocspValidityHours * 3_600_000) / 2);
    const coverage = await this.deps.store.ocspCoverage(now, refreshBefore, this.deps.settings.internalProfiles);
    const unanswered = coverage.certificates - coverage.answered;
    if (unanswered > 0) {
      // Not an outage (the responder signs on demand) but every such request costs an HSM signature.
      const named = coverage.unansweredSerials;
      warnings.push({
        level: "warning",
        code: "ocsp-unanswered",
        message: `${unanswered} unexpired certificate(s) have no pre-signed OCSP answer: ${named.join(", ")}${unanswered > named.length ? ", …" : ""}`,
        serials: named,
      });
    }
    const audit = await this.deps.verifyAudit();
    if (!audit.ok) {
      warnings.push({
        level: "critical",
        code: "audit-chain-broken",
        message: "the audit chain does not verify: an event was altered or removed",
      });
    }
    return {
      at: now,
      cas,
      ocsp: {
        certificates: coverage.certificates,
        answered: coverage.answered,
        dueForRefresh: coverage.due,
        unanswered,
      },
      approvals: await this.deps.pendingApprovals(),
      audit,
      warnings,
    };
  }

  /** Issued and revoked certificates per UTC day for the last `days` days, today included, zeros filled in. */
  async dailyActivity(days: number): Promise<Array<{ day: string; issued: number; revoked: number }>> {
    const today = new Date(Math.floor(this.deps.clock.now().getTime() / DAY_MS) * DAY_MS);
    const since = new Date(today.getTime() - (days - 1) * DAY_MS);
    const byDay = (counts: DailyCount[]) => new Map(counts.map((c) => [c.day, c.count]));
    const issued = byDay(await this.deps.store.issuedPerDay(since));
    const revoked = byDay(await this.deps.store.revokedPerDay(since));
    return Array.from({ length: days }, (_, i) => {
      const day = new Date(since.getTime() + i * DAY_MS).toISOString().slice(0, 10);
      return { day, issued: issued.get(day) ?? 0, revoked: revoked.get(day) ?? 0 };
    });
  }

  private caWarnings(h: CaHealth, now: Date): Warning[] {
    const warnings: Warning[] = [];
    const { ca } = h;
    const limit = this.deps.settings.caWarningDays;
    if (h.daysLeft < 0) {
      warnings.push({ level: "critical", code: "ca-expired", message: `${ca.kind} CA "${ca.id}" has expired` });
    } else if (h.daysLeft < limit) {
      warnings.push({
        level: h.daysLeft < limit / 3 ? "critical" : "warning",
        code: "ca-expiring",
        message: `${ca.kind} CA "${ca.id}" expires in ${h.daysLeft} day(s) (${ca.notAfter.toISOString().slice(0, 10)})`,
      });
    }
    // The root's CRL is signed offline (`keyward crl root`); only a published one can go stale.
    if (h.crl && !h.crl.fresh) {
      warnings.push({
        level: "critical",
        code: "crl-stale",
        message: `the CRL of "${ca.id}" (number ${h.crl.number}) passed its nextUpdate at ${h.crl.nextUpdate.toISOString()}`,
      });
    } else if (!h.crl && ca.kind === "intermediate") {
      warnings.push({ level: "warning", code: "crl-missing", message: `no CRL has been signed for "${ca.id}" yet` });
    }
    if (h.responder && h.responder.notAfter <= now) {
      warnings.push({
        level: "critical",
        code: "ocsp-responder-expired",
        message: `the OCSP responder certificate of "${ca.id}" has expired`,
      });
    }
    return warnings;
  }
}

/**
 * The health components the overview does not already judge itself (CRL freshness and responder
 * expiry it does): a CA key, responder key or service key missing, the token or database down.
 */
function capabilityWarnings(components: ComponentHealth[]): Warning[] {
  return components
    .filter((c) => c.status !== "ok" && !c.component.startsWith("crl:"))
    .filter((c) => !c.component.startsWith("ocsp-responder:") || c.keyUri !== undefined)
    .map((c) => ({
      level: c.status === "failing" ? ("critical" as const) : ("warning" as const),
      code: c.component.startsWith("ca-key:")
        ? ("ca-key-missing" as const)
        : c.keyUri
          ? ("key-missing" as const)
          : ("health" as const),
      message: `${c.component}: ${c.detail}`,
      ...(c.caId ? { caId: c.caId } : {}),
      ...(c.keyUri ? { keyUri: c.keyUri } : {}),
    }));
}
