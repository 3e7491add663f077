import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openssl, opensslCsr, startKeyward, type TestKeyward } from "../helpers/keyward.js";
import { createPerson, type Person, SteppingClock } from "../helpers/people.js";

// The routes the admin console adds: the compromised-key flow (step-up, quorum), the overview's
// warnings and the daily activity, on a real token and database.

const DAY = 86_400_000;
const clock = new SteppingClock();
let kw: TestKeyward;
let ada: Person;
let bob: Person;
const serials: string[] = [];
let spkiSha256: string;

interface Problem {
  status: number;
  detail: string;
}

beforeAll(async () => {
  kw = await startKeyward({
    clock,
    overrides: { access: { sessionMinutes: 1440, quorum: { "key.block": { approvals: 1, role: "admin" } } } },
  });
  ada = await createPerson(kw, clock, "ada", "admin");
  bob = await createPerson(kw, clock, "bob", "admin");
  const first = opensslCsr(kw.dir, "twin-a");
  const second = execFileSync(
    "openssl",
    [
      "req",
      "-new",
      "-key",
      first.keyFile,
      "-subj",
      "/CN=twin-b.example.com",
      "-addext",
      "subjectAltName=DNS:twin-b.example.com",
    ],
    { encoding: "utf8" },
  );
  for (const csr of [first.csr, second]) {
    const res = await kw.api("/api/v1/certificates", { body: { csr, profile: "server" } });
    serials.push(((await res.json()) as { serial: string }).serial);
  }
});

afterAll(async () => {
  await kw?.close();
});

describe("public key lookup", () => {
  it("finds every certificate with a key, by certificate or SPKI hash, and names bad input precisely", async () => {
    const pem = ((await (await kw.api(`/api/v1/certificates/${serials[0]}`)).json()) as { certificate: string })
      .certificate;
    const byCertificate = await kw.api("/api/v1/public-keys/lookup", { body: { certificate: pem } });
    expect(byCertificate.status).toBe(200);
    const found = (await byCertificate.json()) as {
      spkiSha256: string;
      blocked: null;
      certificates: { serial: string }[];
    };
    expect(found.certificates.map((c) => c.serial).sort()).toEqual([...serials].sort());
    expect(found.blocked).toBeNull();
    spkiSha256 = found.spkiSha256;
    // The hash openssl computes over the certificate's SPKI is the one we report.
    const spkiDer = execFileSync("openssl", ["x509", "-pubkey", "-noout"], { input: pem });
    const opensslHash = execFileSync("openssl", ["pkey", "-pubin", "-outform", "DER"], { input: spkiDer });
    const digest = openssl(["dgst", "-sha256", "-r"], opensslHash).split(" ")[0];
    expect(spkiSha256).toBe(digest);

    const bad = await kw.api("/api/v1/public-keys/lookup", { body: { spkiSha256: "xyz" } });
    expect(bad.status).toBe(400);
    expect(bad.headers.get("content-type")).toContain("application/problem+json");
    expect(((await bad.json()) as Problem).detail).toBe("spkiSha256 must be 64 hexadecimal characters");
    const none = await kw.api("/api/v1/public-keys/lookup", { body: {} });
    expect(((await none.json()) as Problem).detail).toContain("exactly one of spkiSha256, publicKey or certificate");
    const notPem = await kw.api("/api/v1/public-keys/lookup", { body: { certificate: "hello" } });
    expect(((await notPem.json()) as Problem).detail).toBe('certificate must be a PEM "CERTIFICATE"');
  });
});

describe("the compromised-key flow over the API", () => {
  it("needs a person with a fresh code, files for approval under quorum, and runs once approved", async () => {
    const path = "/api/v1/public-keys/compromised";
    // An API token cannot do it, whatever its role.
    const byToken = await kw.api(path, { body: { spkiSha256 } });
    expect(byToken.status).toBe(403);
    expect(((await byToken.json()) as Problem).detail).toContain("needs a person");
    const session = await ada.login();
    const noCode = await kw.api(path, { token: session, body: { spkiSha256 } });
    expect(noCode.status).toBe(401);
    expect(((await noCode.json()) as Problem).detail).toContain("X-Keyward-OTP");
    const badBody = await kw.api(path, {
      token: session,
      body: { spkiSha256: "ab" },
      headers: { "x-keyward-otp": ada.otp() },
    });
    expect(badBody.status).toBe(400);

    const filed = await kw.api(path, { token: session, body: { spkiSha256 }, headers: { "x-keyward-otp": ada.otp() } });
    expect(filed.status).toBe(202);
    const approval = (await filed.json()) as { id: string; summary: string; status: string };
    expect(approval.status).toBe("pending");
    expect(approval.summary).toContain("revoke its 2 valid certificate(s)");
    // Nothing happened yet.
    for (const serial of serials) {
      expect(((await (await kw.api(`/api/v1/certificates/${serial}`)).json()) as { status: string }).status).toBe(
        "valid",
      );
    }

    const approved = await kw.api(`/api/v1/approvals/${approval.id}/approve`, {
      token: await bob.login(),
      headers: { "x-keyward-otp": bob.otp() },
      body: {},
    });
    expect(approved.status).toBe(200);
    const done = (await approved.json()) as {
      status: string;
      result: {
        revoked: string[];
        crls: { issuer: string; number: number }[];
        certificates: { serial: string; ocsp: { status: string; reason: string } }[];
      };
    };
    expect(done.status).toBe("executed");
    expect(done.result.revoked.sort()).toEqual([...serials].sort());
    expect(done.result.certificates.map((c) => c.ocsp)).toEqual([
      expect.objectContaining({ status: "revoked", reason: "keyCompromise" }),
      expect.objectContaining({ status: "revoked", reason: "keyCompromise" }),
    ]);
    // The CRL number reported is the CRL served, and openssl finds both serials on it.
    const crl = openssl(
      ["crl", "-inform", "DER", "-noout", "-text"],
      Buffer.from(await (await fetch(`${kw.url}/crl/intermediate.crl`)).arrayBuffer()),
    );
    expect(done.result.crls).toHaveLength(1);
    expect(crl).toMatch(new RegExp(`CRL Number: \\s*${done.result.crls[0]!.number}\\b`));
    for (const serial of serials) expect(crl.toUpperCase()).toContain(serial.toUpperCase());
    const lookup = (await (await kw.api("/api/v1/public-keys/lookup", { body: { spkiSha256 } })).json()) as {
      blocked: { by: string } | null;
    };
    expect(lookup.blocked?.by).toBe("ada");
  });
});

describe("the overview", () => {
  type Overview = {
    cas: { id: string; kind: string; daysLeft: number; crl: { fresh: boolean } | null; ocspResponder: unknown }[];
    ocsp: { certificates: number; answered: number };
    audit: { ok: boolean };
    warnings: { level: string; code: string; message: string }[];
  };
  const overview = async () => (await (await kw.api("/api/v1/overview")).json()) as Overview;
  type Stats = { days: { day: string; issued: number; revoked: number }[] };
  const stats = async (days: number) => (await (await kw.api(`/api/v1/stats?days=${days}`)).json()) as Stats;

  it("shows the hierarchy's health and counts activity per day", async () => {
    const o = await overview();
    const intermediate = o.cas.find((c) => c.kind === "intermediate")!;
    expect(intermediate.crl?.fresh).toBe(true);
    expect(intermediate.ocspResponder).not.toBeNull();
    expect(intermediate.daysLeft).toBeGreaterThan(1000);
    expect(o.audit.ok).toBe(true);
    expect(o.ocsp.answered).toBe(o.ocsp.certificates);
    expect(o.warnings).toEqual([]);

    const week = await stats(7);
    expect(week.days).toHaveLength(7);
    const today = week.days[6]!;
    expect(today.day).toBe(clock.now().toISOString().slice(0, 10));
    expect(today.revoked).toBe(2);
    expect(today.issued).toBeGreaterThanOrEqual(2);
    expect(week.days.slice(0, 6).every((d) => d.issued === 0 && d.revoked === 0)).toBe(true);
    const details = (await (await kw.api(`/api/v1/certificates/${serials[0]}/details`)).json()) as {
      decoded: string;
      chain: { subject: string }[];
      ocsp: { status: string; reason: string };
      history: { action: string; actor: string }[];
    };
    expect(details.decoded).toContain("DNS: twin-a.example.com");
    expect(details.chain.map((c) => c.subject)).toEqual([
      expect.stringContaining("Intermediate"),
      expect.stringContaining("Root"),
    ]);
    expect(details.ocsp).toMatchObject({ status: "revoked", reason: "keyCompromise" });
    expect(details.history.map((e) => `${e.action}:${e.actor}`)).toEqual([
      "certificate.issue:test-admin",
      "certificate.revoke:ada",
    ]);
    const bad = await kw.api("/api/v1/stats?days=0");
    expect(bad.status).toBe(400);
  });

  it("warns when a CRL goes stale, a CA nears its end, and the audit chain breaks", async () => {
    // A day and more later, with no scheduler running, the CRL has passed its nextUpdate.
    const revokedOn = clock.now().toISOString().slice(0, 10);
    clock.advance(DAY + 3_600_000);
    let o = await overview();
    expect(o.warnings).toContainEqual(expect.objectContaining({ level: "critical", code: "crl-stale" }));
    // The revocations stay in their day's bucket, now in the past (one or two days back near midnight UTC).
    const week = await stats(7);
    expect(week.days.find((d) => d.day === revokedOn)?.revoked).toBe(2);
    expect(week.days[6]!.revoked).toBe(0);

    const intermediate = o.cas.find((c) => c.kind === "intermediate")!;
    clock.advance((intermediate.daysLeft - 20) * DAY);
    o = await overview();
    expect(o.warnings).toContainEqual(
      expect.objectContaining({
        level: "critical",
        code: "ca-expiring",
        message: expect.stringMatching(/intermediate CA "intermediate" expires in (19|20) day/),
      }),
    );

    await kw.services.database.db
      .updateTable("audit_events")
      .set({ actor_name: "mallory" })
      .where("seq", "=", 2)
      .execute();
    o = await overview();
    expect(o.audit.ok).toBe(false);
    expect(o.warnings).toContainEqual(expect.objectContaining({ level: "critical", code: "audit-chain-broken" }));
  });
});
