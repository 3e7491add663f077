import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { opensslCsr, startKeyward, type TestKeyward } from "../helpers/keyward.js";

let kw: TestKeyward;

beforeAll(async () => {
  kw = await startKeyward({
    overrides: { monitoring: { bursts: { "certificate.issue": { count: 2, perSeconds: 60 } } } },
  });
});

afterAll(async () => {
  await kw?.close();
});

/** The value of one sample line of the Prometheus text format, or undefined when absent. */
function sample(text: string, name: string, labels: string): number | undefined {
  const line = text
    .split("\n")
    .find((l) => l.startsWith(`${name}{${labels}}`) || (labels === "" && l.startsWith(`${name} `)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

describe("monitoring", () => {
  it("counts issuance, revocation, OCSP, denied requests and HSM latency in /metrics", async () => {
    const serials: string[] = [];
    for (const name of ["m1", "m2", "m3"]) {
      const res = await kw.api("/api/v1/certificates", {
        body: { csr: opensslCsr(kw.dir, name).csr, profile: "server" },
      });
      serials.push(((await res.json()) as { serial: string }).serial);
    }
    await kw.api(`/api/v1/certificates/${serials[0]}/revoke`, { body: { reason: "superseded" } });
    await kw.api("/api/v1/certificates", { token: "kw_wrong" });
    const ocsp = await fetch(`${kw.url}/ocsp`, {
      method: "POST",
      headers: { "content-type": "application/ocsp-request" },
      body: Buffer.from([0x30, 0x03, 0x02, 0x01, 0x00]),
    });
    expect(ocsp.status).toBe(200);
    const key = (await (await kw.api("/api/v1/keys", { body: { name: "metered" } })).json()) as { id: string };
    const plaintext = Buffer.from("x").toString("base64");
    expect((await kw.api(`/api/v1/keys/${key.id}/encrypt`, { body: { plaintext } })).status).toBe(200);

    expect((await fetch(`${kw.url}/no-such-page/${serials[1]}`)).status).toBe(404);

    const res = await fetch(`${kw.url}/metrics`);
    expect(res.headers.get("content-type")).toContain("text/plain");
    const text = await res.text();
    expect(sample(text, "keyward_certificates_issued_total", 'profile="server",source="api"')).toBe(3);
    expect(sample(text, "keyward_certificates_revoked_total", 'reason="superseded"')).toBe(1);
    expect(sample(text, "keyward_ocsp_requests_total", 'method="POST",result="malformed"')).toBe(1);
    expect(
      sample(text, "keyward_denied_requests_total", 'permission="certificates:read",reason="unauthenticated"'),
    ).toBe(1);
    expect(
      sample(text, "keyward_hsm_operation_duration_seconds_count", 'operation="sign",mechanism="pkcs11"'),
    ).toBeGreaterThanOrEqual(6);
    // Three issues in a minute against a limit of two: one anomaly, logged in the audit trail too.
    expect(sample(text, "keyward_anomalies_total", 'operation="certificate.issue"')).toBe(1);
    expect(sample(text, "keyward_key_operations_total", 'operation="encrypt"')).toBe(1);
    // Request latency by route pattern (never the path: serials and ids would be unbounded labels).
    expect(
      sample(
        text,
        "keyward_http_request_duration_seconds_count",
        'route="/api/v1/certificates",method="POST",status="201"',
      ),
    ).toBe(3);
    expect(
      sample(
        text,
        "keyward_http_request_duration_seconds_count",
        'route="/api/v1/certificates/:serial/revoke",method="POST",status="200"',
      ),
    ).toBe(1);
    expect(
      sample(text, "keyward_http_request_duration_seconds_count", 'route="(no route)",method="GET",status="404"'),
    ).toBe(1);
    expect(text).not.toContain(`route="/api/v1/certificates/${serials[0]}`);
    // The public endpoint names neither keys nor people (issue 22) unless monitoring.detailedLabels.
    expect(text).not.toContain(key.id);
    expect(text).not.toContain("test-admin");
    const anomalies = await kw.services.audit.search({ action: "anomaly.burst", limit: 10 });
    expect(anomalies).toHaveLength(1);
    expect(anomalies[0]!.details).toMatchObject({ limit: 2, perSeconds: 60 });
  });

  it("is ready while the database and token answer, and not once the token is gone", async () => {
    const ready = await fetch(`${kw.url}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ ready: true, components: { database: "ok", token: "ok" } });
    await kw.services.hsm.close();
    const gone = await fetch(`${kw.url}/ready`);
    expect(gone.status).toBe(503);
    expect(await gone.json()).toMatchObject({ ready: false, components: { database: "ok", token: "failing" } });
  });
});
