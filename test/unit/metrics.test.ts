import { describe, expect, it } from "vitest";
import { type BurstEvent, Metrics, RateWatch } from "../../src/metrics/index.js";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the text exposition format into samples so assertions do not depend on label order. */
function parseExposition(body: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of body.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`unparseable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[pair[1]!] = pair[2]!.replace(/\\n/g, "\n").replace(/\\(.)/g, "$1");
    }
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

function sampleValue(samples: Sample[], name: string, labels: Record<string, string>): number | undefined {
  const wanted = Object.entries(labels).sort();
  const found = samples.filter(
    (s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === JSON.stringify(wanted),
  );
  if (found.length > 1) throw new Error(`several samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

async function samplesOf(metrics: Metrics): Promise<Sample[]> {
  return parseExposition((await metrics.render()).body);
}

describe("Metrics", () => {
  it("renders counters with their label values after increments", async () => {
    const metrics = new Metrics();
    metrics.certificatesIssued.inc({ profile: "server", source: "api" });
    metrics.certificatesIssued.inc({ profile: "server", source: "api" });
    metrics.certificatesIssued.inc({ profile: "client", source: "acme" });
    metrics.countOcsp("POST", "hit");
    metrics.deniedRequests.inc({ permission: "keys:sign", reason: "mfa" });
    metrics.httpRequestSeconds.observe({ route: "/api/v1/certificates", method: "POST", status: "201" }, 0.02);

    const { contentType, body } = await metrics.render();
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(body.split("\n")).toContain('keyward_certificates_issued_total{profile="server",source="api"} 2');

    const samples = parseExposition(body);
    expect(sampleValue(samples, "keyward_certificates_issued_total", { profile: "server", source: "api" })).toBe(2);
    expect(sampleValue(samples, "keyward_certificates_issued_total", { profile: "client", source: "acme" })).toBe(1);
    expect(sampleValue(samples, "keyward_certificates_issued_total", { profile: "client", source: "cli" })).toBe(
      undefined,
    );
    expect(sampleValue(samples, "keyward_ocsp_requests_total", { method: "POST", result: "hit" })).toBe(1);
    expect(sampleValue(samples, "keyward_denied_requests_total", { permission: "keys:sign", reason: "mfa" })).toBe(1);
    const route = { route: "/api/v1/certificates", method: "POST", status: "201" };
    expect(sampleValue(samples, "keyward_http_request_duration_seconds_count", route)).toBe(1);
    expect(sampleValue(samples, "keyward_http_request_duration_seconds_bucket", { ...route, le: "0.025" })).toBe(1);
    expect(sampleValue(samples, "keyward_http_request_duration_seconds_bucket", { ...route, le: "0.01" })).toBe(0);
  });

  it("declares every metric under the keyward_ prefix", async () => {
    const { body } = await new Metrics().render();
    const declared = [...body.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => `${m[1]} ${m[2]}`);
    expect(declared.sort()).toEqual(
      [
        "keyward_acme_order_transitions_total counter",
        "keyward_anomalies_total counter",
        "keyward_certificates_issued_total counter",
        "keyward_certificates_revoked_total counter",
        "keyward_crl_requests_total counter",
        "keyward_denied_requests_total counter",
        "keyward_hsm_errors_total counter",
        "keyward_hsm_operation_duration_seconds histogram",
        "keyward_http_request_duration_seconds histogram",
        "keyward_key_operations_total counter",
        "keyward_ocsp_requests_total counter",
        "keyward_ssh_certificates_total counter",
      ].sort(),
    );
  });

  it("keeps separate counts per instance", async () => {
    const a = new Metrics();
    const b = new Metrics();
    a.certificatesRevoked.inc({ reason: "keyCompromise" }, 3);
    b.certificatesRevoked.inc({ reason: "keyCompromise" });

    expect(sampleValue(await samplesOf(a), "keyward_certificates_revoked_total", { reason: "keyCompromise" })).toBe(3);
    expect(sampleValue(await samplesOf(b), "keyward_certificates_revoked_total", { reason: "keyCompromise" })).toBe(1);
    expect(sampleValue(await samplesOf(new Metrics()), "keyward_certificates_revoked_total", {})).toBe(undefined);
  });

  it("adds process metrics only when asked", async () => {
    const withDefaults = new Metrics({ defaultMetrics: true });
    const another = new Metrics({ defaultMetrics: true });
    expect((await withDefaults.render()).body).toMatch(/^process_cpu_user_seconds_total \d/m);
    expect((await another.render()).body).toMatch(/^process_cpu_user_seconds_total \d/m);
    expect((await new Metrics().render()).body).not.toMatch(/^process_/m);
  });

  describe("timeHsm", () => {
    it("observes the latency and returns the result", async () => {
      const metrics = new Metrics();
      await expect(metrics.timeHsm("sign", "CKM_ECDSA", async () => "signature")).resolves.toBe("signature");

      const samples = await samplesOf(metrics);
      const labels = { operation: "sign", mechanism: "CKM_ECDSA" };
      expect(sampleValue(samples, "keyward_hsm_operation_duration_seconds_count", labels)).toBe(1);
      expect(sampleValue(samples, "keyward_hsm_operation_duration_seconds_bucket", { ...labels, le: "+Inf" })).toBe(1);
      expect(samples.filter((s) => s.name === "keyward_hsm_errors_total")).toEqual([]);
    });

    it("counts a failure by its code, still observes the latency, and rethrows the same error", async () => {
      const metrics = new Metrics();
      const hsmError = Object.assign(new Error("key not found"), { ckr: "CKR_KEY_HANDLE_INVALID" });
      const systemError = Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
      const numericCode = Object.assign(new Error("raw pkcs11"), { code: 0x60 });

      await expect(
        metrics.timeHsm("sign", "CKM_ECDSA", async () => {
          throw hsmError;
        }),
      ).rejects.toBe(hsmError);
      await expect(metrics.timeHsm("decrypt", "CKM_RSA_PKCS_OAEP", () => Promise.reject(systemError))).rejects.toBe(
        systemError,
      );
      await expect(metrics.timeHsm("decrypt", "CKM_RSA_PKCS_OAEP", () => Promise.reject(numericCode))).rejects.toBe(
        numericCode,
      );
      await expect(metrics.timeHsm("unwrap", "CKM_AES_KEY_WRAP", () => Promise.reject("plain string"))).rejects.toBe(
        "plain string",
      );

      const samples = await samplesOf(metrics);
      const errors = (operation: string, code: string) =>
        sampleValue(samples, "keyward_hsm_errors_total", { operation, code });
      expect(errors("sign", "CKR_KEY_HANDLE_INVALID")).toBe(1);
      expect(errors("decrypt", "ECONNRESET")).toBe(1);
      expect(errors("decrypt", "error")).toBe(1);
      expect(errors("unwrap", "error")).toBe(1);
      const count = (operation: string, mechanism: string) =>
        sampleValue(samples, "keyward_hsm_operation_duration_seconds_count", { operation, mechanism });
      expect(count("sign", "CKM_ECDSA")).toBe(1);
      expect(count("decrypt", "CKM_RSA_PKCS_OAEP")).toBe(2);
    });
  });
});

class FakeClock {
  // A multiple of every window used below, so the tests start at a fixed-window boundary.
  private ms = Date.UTC(2025, 0, 1);
  now(): Date {
    return new Date(this.ms);
  }
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

function watch(options: { maxKeys?: number } = {}) {
  const clock = new FakeClock();
  const events: BurstEvent[] = [];
  const rateWatch = new RateWatch({
    clock,
    limits: { sign: { count: 5, perSeconds: 10 }, decrypt: { count: 2, perSeconds: 60 } },
    onBurst: (event) => events.push(event),
    ...options,
  });
  return { clock, events, rateWatch };
}

function repeat(times: number, fn: () => void): void {
  for (let i = 0; i < times; i++) fn();
}

describe("RateWatch", () => {
  it("stays silent at or below the limit", () => {
    const { clock, events, rateWatch } = watch();
    repeat(5, () => rateWatch.record("alice", "sign"));
    clock.advance(9);
    repeat(2, () => rateWatch.record("alice", "decrypt"));
    expect(events).toEqual([]);
  });

  it("raises exactly one event when the limit is crossed, and none while the burst goes on", () => {
    const { clock, events, rateWatch } = watch();
    repeat(5, () => rateWatch.record("alice", "sign"));
    clock.advance(1);
    rateWatch.record("alice", "sign");
    expect(events).toEqual([
      { principal: "alice", operation: "sign", count: 6, limit: 5, perSeconds: 10, at: clock.now() },
    ]);

    // A sustained burst straddling the next fixed window must still count as the same burst.
    for (let i = 0; i < 30; i++) {
      clock.advance(0.5);
      rateWatch.record("alice", "sign");
    }
    expect(events).toHaveLength(1);
  });

  it("counts principals and operations separately", () => {
    const { events, rateWatch } = watch();
    repeat(5, () => rateWatch.record("alice", "sign"));
    repeat(5, () => rateWatch.record("bob", "sign"));
    repeat(2, () => rateWatch.record("alice", "decrypt"));
    expect(events).toEqual([]);
    rateWatch.record("bob", "sign");
    rateWatch.record("alice", "decrypt");
    expect(events.map((e) => `${e.principal}/${e.operation}`)).toEqual(["bob/sign", "alice/decrypt"]);
  });

  it("detects a burst spanning two fixed windows", () => {
    const { clock, events, rateWatch } = watch();
    clock.advance(9);
    repeat(5, () => rateWatch.record("alice", "sign"));
    clock.advance(1.5);
    rateWatch.record("alice", "sign");
    expect(events).toHaveLength(1);
  });

  it("raises again once the window has drained and a new burst starts", () => {
    const { clock, events, rateWatch } = watch();
    repeat(6, () => rateWatch.record("alice", "sign"));
    expect(events).toHaveLength(1);

    clock.advance(25);
    repeat(5, () => rateWatch.record("alice", "sign"));
    expect(events).toHaveLength(1);
    rateWatch.record("alice", "sign");
    expect(events).toHaveLength(2);
    expect(events[1]!.at).toEqual(clock.now());
  });

  it("warns at most once per window when the rate hovers around the limit", () => {
    const { clock, events, rateWatch } = watch();
    clock.advance(9);
    repeat(6, () => rateWatch.record("alice", "sign"));
    expect(events).toHaveLength(1);

    // By t=12 the estimate has decayed under the limit, so one more operation crosses it again.
    clock.advance(3);
    rateWatch.record("alice", "sign");
    expect(events).toHaveLength(1);
  });

  it("ignores operations without a configured limit", () => {
    const { events, rateWatch } = watch();
    repeat(1000, () => rateWatch.record("alice", "verify"));
    expect(events).toEqual([]);
    expect(rateWatch.size).toBe(0);
  });

  it("never tracks more pairs than the cap, dropping the least recently active", () => {
    const { events, rateWatch } = watch({ maxKeys: 100 });
    repeat(5, () => rateWatch.record("hot", "sign"));
    for (let i = 0; i < 250; i++) {
      rateWatch.record(`principal-${i}`, "sign");
      rateWatch.record("hot", "sign");
      expect(rateWatch.size).toBeLessThanOrEqual(100);
    }
    expect(rateWatch.size).toBe(100);
    // The busy pair kept its state through the churn: it warned once, not once per re-creation.
    expect(events.map((e) => e.principal)).toEqual(["hot"]);
  });

  it("forgets pairs that have been idle for two windows", () => {
    const { clock, rateWatch } = watch();
    for (let i = 0; i < 50; i++) rateWatch.record(`principal-${i}`, "sign");
    rateWatch.record("slow", "decrypt");
    expect(rateWatch.size).toBe(51);

    clock.advance(20);
    rateWatch.record("alice", "sign");
    expect(rateWatch.size).toBe(2);

    clock.advance(120);
    rateWatch.record("alice", "sign");
    expect(rateWatch.size).toBe(1);
  });

  it("rejects nonsensical limits", () => {
    const base = { clock: new FakeClock(), onBurst: () => {} };
    expect(() => new RateWatch({ ...base, limits: { sign: { count: -1, perSeconds: 10 } } })).toThrow(RangeError);
    expect(() => new RateWatch({ ...base, limits: { sign: { count: 5, perSeconds: 0 } } })).toThrow(RangeError);
    expect(() => new RateWatch({ ...base, limits: {}, maxKeys: 0 })).toThrow(RangeError);
  });
  it("labels key operations and anomalies by key and principal only when asked to", async () => {
    for (const detailedLabels of [false, true]) {
      const metrics = new Metrics({ detailedLabels });
      metrics.countKeyOperation("key-1234", "decrypt");
      metrics.countAnomaly("alice", "key.decrypt");
      const { body } = await metrics.render();
      expect(body.includes('key="key-1234"')).toBe(detailedLabels);
      expect(body.includes('principal="alice"')).toBe(detailedLabels);
      expect(body).toMatch(/keyward_key_operations_total\{.*operation="decrypt"\} 1/);
    }
  });
});
