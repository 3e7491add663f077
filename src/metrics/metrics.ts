import { performance } from "node:perf_hooks";
import { Counter, collectDefaultMetrics, Histogram, Registry } from "prom-client";

export type IssueSource = "api" | "acme" | "cli";
export type OcspMethod = "GET" | "POST";
export type OcspResult = "hit" | "miss" | "unknown" | "malformed";
export type DenyReason = "unauthenticated" | "forbidden" | "mfa" | "scope";
/** The usual HSM operations; `string & {}` keeps autocompletion while letting new ones through. */
export type HsmOperation = "sign" | "generate" | "encrypt" | "decrypt" | "wrap" | "unwrap" | "mac" | (string & {});

export interface MetricsOptions {
  /** Process and Node runtime metrics (CPU, memory, event-loop lag, GC); off by default so tests stay quiet. */
  defaultMetrics?: boolean;
  /**
   * Label series by KMS key id and by principal (`monitoring.detailedLabels`). Off by default:
   * /metrics is public, and key ids and names tell an outsider what exists and who uses it.
   */
  detailedLabels?: boolean;
  /** Statements sent to the database so far (storage's counter), exposed as a counter. */
  databaseStatements?: () => number;
}

/** PKCS#11 calls on a local token take ~0.1 ms, over a network HSM tens of ms; anything near 1 s is an incident. */
const HSM_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
const HTTP_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** OCSP requests counted for one label pair, and how many of them prom-client has been given. */
interface OcspCount {
  labels: { method: OcspMethod; result: OcspResult };
  counted: number;
  reported: number;
}

/**
 * The server's Prometheus metrics. Each instance owns its registry instead of using prom-client's
 * global one, which would reject a second registration of the same name and so forbid more than one
 * server (or test) per process.
 *
 * Label values must come from bounded sets (route patterns, not paths; CKR names, not messages):
 * every distinct combination is a time series kept for the life of the process.
 */
export class Metrics {
  readonly registry: Registry;

  readonly certificatesIssued: Counter<"profile" | "source">;
  readonly certificatesRevoked: Counter<"reason">;
  readonly sshCertificates: Counter<"event" | "type">;
  readonly ocspRequests: Counter<"method" | "result">;
  readonly crlRequests: Counter<"ca">;
  readonly hsmOperationSeconds: Histogram<"operation" | "mechanism">;
  readonly hsmErrors: Counter<"operation" | "code">;
  /** Use countKeyOperation: without detailed labels the series has no `key` label. */
  readonly keyOperations: Counter<"key" | "operation">;
  readonly deniedRequests: Counter<"permission" | "reason">;
  readonly acmeOrders: Counter<"status">;
  readonly httpRequestSeconds: Histogram<"route" | "method" | "status">;
  /** Use countAnomaly: without detailed labels the series has no `principal` label. */
  readonly anomalies: Counter<"principal" | "operation">;
  private readonly detailedLabels: boolean;
  /** A cell appears with its first request; looked up without building a key. */
  private readonly ocspCounts: Record<OcspMethod, Partial<Record<OcspResult, OcspCount>>> = { GET: {}, POST: {} };

  constructor(options: MetricsOptions = {}) {
    const registry = new Registry();
    this.registry = registry;
    this.detailedLabels = options.detailedLabels ?? false;
    // `registers` must always be given: prom-client falls back to the global registry otherwise.
    const registers = [registry];

    this.certificatesIssued = new Counter({
      name: "keyward_certificates_issued_total",
      help: "Certificates issued, by profile and by the channel that requested them (api, acme, cli).",
      labelNames: ["profile", "source"] as const,
      registers,
    });
    this.sshCertificates = new Counter({
      name: "keyward_ssh_certificates_total",
      help: "SSH certificates signed, refused and revoked, by certificate type (user, host).",
      labelNames: ["event", "type"] as const,
      registers,
    });
    this.certificatesRevoked = new Counter({
      name: "keyward_certificates_revoked_total",
      help: "Certificates revoked, by CRL reason.",
      labelNames: ["reason"] as const,
      registers,
    });
    const ocspCounts = this.ocspCounts;
    this.ocspRequests = new Counter({
      name: "keyward_ocsp_requests_total",
      help: "OCSP requests, by HTTP method and outcome (hit: known serial, miss: not issued here, unknown: unknown issuer, malformed).",
      labelNames: ["method", "result"] as const,
      registers,
      // What `countOcsp` counted since the last scrape joins the counter now.
      collect() {
        for (const cell of [...Object.values(ocspCounts.GET), ...Object.values(ocspCounts.POST)]) {
          if (cell.counted > cell.reported) this.inc(cell.labels, cell.counted - cell.reported);
          cell.reported = cell.counted;
        }
      },
    });
    this.crlRequests = new Counter({
      name: "keyward_crl_requests_total",
      help: "CRL downloads, by issuing CA.",
      labelNames: ["ca"] as const,
      registers,
    });
    this.hsmOperationSeconds = new Histogram({
      name: "keyward_hsm_operation_duration_seconds",
      help: "Latency of HSM operations, failed ones included, by operation and PKCS#11 mechanism.",
      labelNames: ["operation", "mechanism"] as const,
      buckets: HSM_BUCKETS,
      registers,
    });
    this.hsmErrors = new Counter({
      name: "keyward_hsm_errors_total",
      help: "Failed HSM operations, by operation and CKR code.",
      labelNames: ["operation", "code"] as const,
      registers,
    });
    this.keyOperations = new Counter({
      name: "keyward_key_operations_total",
      help: `Operations performed with managed keys, by ${this.detailedLabels ? "key and " : ""}operation.`,
      labelNames: (this.detailedLabels ? ["key", "operation"] : ["operation"]) as ["key", "operation"],
      registers,
    });
    this.deniedRequests = new Counter({
      name: "keyward_denied_requests_total",
      help: "Requests refused by access control, by required permission and reason.",
      labelNames: ["permission", "reason"] as const,
      registers,
    });
    this.acmeOrders = new Counter({
      name: "keyward_acme_order_transitions_total",
      help: "ACME order state transitions, by the status entered.",
      labelNames: ["status"] as const,
      registers,
    });
    this.httpRequestSeconds = new Histogram({
      name: "keyward_http_request_duration_seconds",
      help: "HTTP request latency, by route pattern, method and status code (OCSP: keyward_ocsp_requests_total).",
      labelNames: ["route", "method", "status"] as const,
      buckets: HTTP_BUCKETS,
      registers,
    });
    this.anomalies = new Counter({
      name: "keyward_anomalies_total",
      help: `Bursts of sensitive operations above the configured rate, by ${this.detailedLabels ? "principal and " : ""}operation.`,
      labelNames: (this.detailedLabels ? ["principal", "operation"] : ["operation"]) as ["principal", "operation"],
      registers,
    });

    const statements = options.databaseStatements;
    if (statements) {
      let reported = 0;
      new Counter({
        name: "keyward_db_statements_total",
        help: "Statements sent to the database (on PostgreSQL each is a round trip), transaction control included.",
        registers,
        // Storage counts with a plain increment; the counter catches up when scraped.
        collect() {
          const now = statements();
          if (now > reported) this.inc(now - reported);
          reported = now;
        },
      });
    }

    if (options.defaultMetrics) collectDefaultMetrics({ register: registry });
  }

  countKeyOperation(key: string, operation: string): void {
    this.keyOperations.inc(this.detailedLabels ? { key, operation } : { operation });
  }

  countAnomaly(principal: string, operation: string): void {
    this.anomalies.inc(this.detailedLabels ? { principal, operation } : { operation });
  }

  /**
   * Counts one OCSP request. The responder's hot path: a plain increment here, labelled for
   * prom-client only when scraped (labelling hashes the labels on every call, and allocates).
   */
  countOcsp(method: OcspMethod, result: OcspResult): void {
    const cells = this.ocspCounts[method];
    const cell = cells[result];
    if (cell) cell.counted++;
    else cells[result] = { labels: { method, result }, counted: 1, reported: 0 };
  }

  /** The exposition for the `/metrics` route. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /**
   * Runs one HSM call, recording its latency whatever the outcome (a slow failure, such as a
   * timeout, is exactly what the histogram should show) and counting failures by CKR code.
   */
  async timeHsm<T>(operation: HsmOperation, mechanism: string, fn: () => Promise<T>): Promise<T> {
    const start = performance.now();
    try {
      return await fn();
    } catch (error) {
      this.hsmErrors.inc({ operation, code: errorCode(error) });
      throw error;
    } finally {
      this.hsmOperationSeconds.observe({ operation, mechanism }, (performance.now() - start) / 1000);
    }
  }
}

/** `ckr` is what HsmError carries; a string `code` covers Node system errors (ECONNRESET from a network HSM). */
function errorCode(error: unknown): string {
  if (typeof error === "object" && error !== null) {
    const { ckr, code } = error as { ckr?: unknown; code?: unknown };
    if (typeof ckr === "string" && ckr !== "") return ckr;
    if (typeof code === "string" && code !== "") return code;
  }
  return "error";
}
