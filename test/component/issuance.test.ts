import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { opensslCsr, openssl, startKeyward, type TestKeyward, writeFile } from "../helpers/keyward.js";
import { certificatePem } from "../../src/pki/pem.js";
import { createPerson, SteppingClock } from "../helpers/people.js";

const clock = new SteppingClock();

let kw: TestKeyward;
let rootPem: string;
let chainPem: string;

beforeAll(async () => {
  kw = await startKeyward({ clock });
  rootPem = await (await fetch(`${kw.url}/ca/root.pem`)).text();
  chainPem = await (await fetch(`${kw.url}/ca/chain.pem`)).text();
  writeFile(kw.dir, "root.pem", rootPem);
  writeFile(kw.dir, "chain.pem", chainPem);
});

afterAll(async () => {
  await kw?.close();
});

async function issue(name: string, options: Parameters<typeof opensslCsr>[2] = {}, profile = "server") {
  const { csr } = opensslCsr(kw.dir, name, options);
  const res = await kw.api("/api/v1/certificates", { body: { csr, profile } });
  return { res, body: (await res.json()) as { serial: string; certificate: string; chain: string; notAfter: string } };
}

function verify(leafPem: string, name: string): string {
  const leaf = writeFile(kw.dir, `${name}.pem`, leafPem);
  return openssl(["verify", "-CAfile", `${kw.dir}/root.pem`, "-untrusted", `${kw.dir}/chain.pem`, leaf]);
}

describe("CA material", () => {
  it("serves a self-signed root and an intermediate chain that openssl accepts", () => {
    const root = openssl(["x509", "-noout", "-text"], rootPem);
    expect(root).toContain("Issuer: O = Keyward, CN = Keyward Root CA");
    expect(root).toContain("Subject: O = Keyward, CN = Keyward Root CA");
    expect(root).toMatch(/Basic Constraints: critical\s+CA:TRUE, pathlen:1/);
    expect(root).toMatch(/Key Usage: critical\s+Certificate Sign, CRL Sign/);
    expect(root).toContain("ecdsa-with-SHA384");
    const intermediate = openssl(["x509", "-noout", "-text"], chainPem);
    expect(intermediate).toMatch(/Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    expect(intermediate).toContain("ASN1 OID: prime256v1");
    expect(intermediate).toContain(`CA Issuers - URI:${kw.url}/ca/root.crt`);
    expect(openssl(["verify", "-CAfile", `${kw.dir}/root.pem`, `${kw.dir}/chain.pem`])).toContain(": OK");
  });

  it("serves each CA certificate as DER at its caIssuers URL", async () => {
    const res = await fetch(`${kw.url}/ca/intermediate.crt`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/pkix-cert");
    const der = Buffer.from(await res.arrayBuffer());
    const pemOut = openssl(["x509", "-inform", "DER", "-outform", "PEM"], der);
    expect(pemOut.replace(/\s/g, "")).toBe(chainPem.replace(/\s/g, ""));
    expect((await fetch(`${kw.url}/ca/nope.crt`)).status).toBe(404);
  });

  it("answers /health", async () => {
    const res = await fetch(`${kw.url}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "ok" });
  });
});

describe("POST /api/v1/certificates", () => {
  it("issues a server certificate that openssl verify accepts, with the expected extensions", async () => {
    const { res, body } = await issue("www", {
      san: "DNS:www.example.com,DNS:API.example.com,IP:10.1.2.3",
      subj: "/CN=www.example.com",
    });
    expect(res.status).toBe(201);
    expect(Object.keys(body).sort()).toEqual(["certificate", "chain", "notAfter", "serial"]);
    expect(body.serial).toMatch(/^[0-9a-f]{32}$/);
    expect(body.chain.replace(/\s/g, "")).toBe(chainPem.replace(/\s/g, ""));
    expect(verify(body.certificate!, "www")).toContain(": OK");

    const text = openssl(["x509", "-noout", "-text"], body.certificate);
    expect(text).toContain("Subject: CN = www.example.com");
    expect(text).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature\n/);
    expect(text).toMatch(/Extended Key Usage:\s+TLS Web Server Authentication/);
    expect(text).toContain("DNS:www.example.com, DNS:api.example.com, IP Address:10.1.2.3");
    expect(text).toContain(`OCSP - URI:${kw.url}/ocsp`);
    expect(text).toContain(`CA Issuers - URI:${kw.url}/ca/intermediate.crt`);
    expect(text).toContain(`URI:${kw.url}/crl/intermediate.crl`);
    // Issue 20: no SKI in TLS subscriber certificates (BR §7.1.2.7.6 NOT RECOMMENDED; LE tlsserver).
    expect(text).not.toContain("X509v3 Subject Key Identifier");
    expect(text).toContain("X509v3 Authority Key Identifier");
    const serialOut = openssl(["x509", "-noout", "-serial"], body.certificate);
    expect(serialOut.trim()).toBe(`serial=${body.serial.toUpperCase()}`);
    const days = (Date.parse(body.notAfter!) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(89.9);
    expect(days).toBeLessThan(90.1);
  });

  it("issues for RSA-2048 keys (digitalSignature only), and for Ed25519 keys where a profile allows them", async () => {
    const rsa = await issue("rsa", { key: ["-newkey", "rsa:2048"] });
    expect(rsa.res.status).toBe(201);
    expect(verify(rsa.body.certificate!, "rsa")).toContain(": OK");
    // Issue 20: the shipped `server` profile dropped keyEncipherment for RSA, as LE's tlsserver
    // (it serves only TLS 1.2 RSA key transport, which has no forward secrecy).
    expect(openssl(["x509", "-noout", "-text"], rsa.body.certificate)).toMatch(
      /Key Usage: critical\s+Digital Signature\n/,
    );
    // Ed25519 is off for `server` (BR §6.1.5, browsers); the client profile keeps it.
    const ed = await issue("ed", { key: ["-newkey", "ed25519"] }, "client");
    expect(ed.res.status).toBe(201);
    expect(verify(ed.body.certificate!, "ed")).toContain(": OK");
  });

  it("refuses an Ed25519 key for the server profile (BR §6.1.5)", async () => {
    const { res, body } = await issue("ed-server", { key: ["-newkey", "ed25519"] });
    expect(res.status).toBe(400);
    expect(body).toMatchObject({
      type: expect.stringMatching(/policyViolation$/),
      detail: 'profile "server" does not accept ed25519 keys; it accepts p256, p384, rsa2048, rsa3072, rsa4096',
    });
  });

  it("refuses an RSA key with public exponent 3 (openssl genpkey rsa_keygen_pubexp:3), naming the exponent", async () => {
    const keyFile = `${kw.dir}/e3.key`;
    openssl([
      "genpkey",
      "-algorithm",
      "RSA",
      "-pkeyopt",
      "rsa_keygen_bits:2048",
      "-pkeyopt",
      "rsa_keygen_pubexp:3",
      "-out",
      keyFile,
    ]);
    expect(openssl(["pkey", "-in", keyFile, "-noout", "-text_pub"])).toContain("Exponent: 3 (0x3)");
    const csr = openssl([
      "req",
      "-new",
      "-key",
      keyFile,
      "-subj",
      "/CN=e3.example.com",
      "-addext",
      "subjectAltName=DNS:e3.example.com",
    ]);
    for (const profile of ["server", "client"]) {
      const res = await kw.api("/api/v1/certificates", { body: { csr, profile } });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({
        type: expect.stringMatching(/badCSR$/),
        detail:
          "the CSR's public key is refused: the RSA public exponent 3 is refused: it must be odd, at least 65537 and below 2^256",
      });
    }
  });

  it("turns a CN-only CSR into a DNS SAN", async () => {
    const { res, body } = await issue("cnonly", { san: "", subj: "/CN=cnonly.example.com" });
    expect(res.status).toBe(201);
    expect(openssl(["x509", "-noout", "-ext", "subjectAltName"], body.certificate)).toContain("DNS:cnonly.example.com");
  });

  it("issues client certificates with clientAuth and email SANs", async () => {
    const { res, body } = await issue("alice", { subj: "/CN=Alice Example", san: "email:alice@example.com" }, "client");
    expect(res.status).toBe(201);
    const text = openssl(["x509", "-noout", "-text"], body.certificate);
    expect(text).toContain("TLS Web Client Authentication");
    expect(text).toContain("email:alice@example.com");
    expect(text).toContain("Subject: CN = Alice Example");
    expect(verify(body.certificate!, "alice")).toContain(": OK");
  });

  it("issues recipient certificates with keyAgreement for EC keys", async () => {
    const { res, body } = await issue("recip", { subj: "/CN=recipient", san: "email:keys@example.com" }, "recipient");
    expect(res.status).toBe(201);
    expect(openssl(["x509", "-noout", "-text"], body.certificate)).toMatch(/Key Usage: critical\s+Key Agreement/);
  });

  it("gives 128-bit serials that are all different", async () => {
    const { csr } = opensslCsr(kw.dir, "many");
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        kw.api("/api/v1/certificates", { body: { csr, profile: "server" } }).then((r) => r.json()),
      ),
    );
    const serials = new Set(results.map((r) => (r as { serial: string }).serial));
    expect(serials.size).toBe(20);
  });
});

describe("GET /api/v1/certificates", () => {
  it("shows one certificate with status and PEM, by lowercase, uppercase or colon serial", async () => {
    const { body } = await issue("show");
    const upper = body.serial!.toUpperCase().match(/../g)!.join(":");
    for (const form of [body.serial!, upper]) {
      const res = await kw.api(`/api/v1/certificates/${form}`);
      expect(res.status).toBe(200);
      const view = (await res.json()) as Record<string, unknown>;
      expect(view).toMatchObject({
        serial: body.serial,
        status: "valid",
        profile: "server",
        issuer: "intermediate",
        names: ["dns:show.example.com"],
        keyType: "p256",
        requestedBy: "test-admin",
      });
      expect(String(view.certificate).replace(/\s/g, "")).toBe(body.certificate!.replace(/\s/g, ""));
    }
  });

  it("lists with filters and pages with a cursor", async () => {
    await issue("filter-a");
    await issue("filter-b");
    const byName = (await (await kw.api("/api/v1/certificates?name=filter-")).json()) as {
      items: Array<{ names: string[] }>;
    };
    expect(byName.items.map((i) => i.names[0]).sort()).toEqual([
      "dns:filter-a.example.com",
      "dns:filter-b.example.com",
    ]);

    const page1 = (await (await kw.api("/api/v1/certificates?limit=2")).json()) as {
      items: Array<{ serial: string }>;
      next: string;
    };
    expect(page1.items).toHaveLength(2);
    const page2 = (await (await kw.api(`/api/v1/certificates?limit=2&after=${page1.next}`)).json()) as {
      items: Array<{ serial: string }>;
    };
    expect(page2.items[0]!.serial > page1.items[1]!.serial).toBe(true);

    const soon = (await (await kw.api("/api/v1/certificates?expiresWithinDays=30&profile=server")).json()) as {
      items: unknown[];
    };
    expect(soon.items).toHaveLength(0);
    const later = (await (
      await kw.api("/api/v1/certificates?expiresWithinDays=91&profile=server&status=valid")
    ).json()) as { items: unknown[] };
    expect(later.items.length).toBeGreaterThanOrEqual(2);
    const revoked = (await (await kw.api("/api/v1/certificates?status=revoked")).json()) as { items: unknown[] };
    expect(revoked.items).toHaveLength(0);
  });

  it("answers 404 with a problem document for an unknown serial", async () => {
    const res = await kw.api("/api/v1/certificates/0123456789abcdef");
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toContain("application/problem+json");
    expect(await res.json()).toMatchObject({ status: 404, detail: "no certificate with serial 0123456789abcdef" });
  });
});

describe("CA hierarchy", () => {
  it("lists the root and intermediate, and creates a second intermediate that issues for its profile", async () => {
    const list = (await (await kw.api("/api/v1/cas")).json()) as {
      items: Array<{ id: string; kind: string; default: boolean; keyUri: string }>;
    };
    expect(list.items.map((c) => [c.id, c.kind, c.default])).toEqual([
      ["root", "root", false],
      ["intermediate", "intermediate", true],
    ]);
    expect(list.items[0]!.keyUri).toMatch(/^pkcs11:token=keyward;object=root-ca;id=/);

    // Creating a CA is sensitive: a person with a fresh TOTP code, not an API token.
    const admin = await createPerson(kw, clock, "ca-admin", "admin");
    const session = await admin.login();
    const res = await kw.api("/api/v1/cas", {
      token: session,
      body: { id: "clients-2027", commonName: "Keyward Clients CA", keyType: "p384" },
      headers: { "x-keyward-otp": admin.otp() },
    });
    expect(res.status).toBe(201);
    const created = (await res.json()) as { id: string; default: boolean; certificate: string };
    expect(created).toMatchObject({ id: "clients-2027", default: false });
    writeFile(kw.dir, "clients-ca.pem", created.certificate);
    expect(openssl(["verify", "-CAfile", `${kw.dir}/root.pem`, `${kw.dir}/clients-ca.pem`])).toContain(": OK");

    const again = await kw.api("/api/v1/cas", {
      token: session,
      body: { id: "clients-2027", commonName: "x" },
      headers: { "x-keyward-otp": admin.otp() },
    });
    expect(again.status).toBe(409);
  });
});

// Last: it adds a CA, which the CA listing above does not expect.
describe("Keyward's own certificates under a short-lived intermediate", () => {
  it("end with the issuer instead of failing to be issued", async () => {
    const short = await kw.services.ca.createIntermediate(
      { id: "short-lived", keyType: "p256", commonName: "Short-lived Issuing CA", validityDays: 30 },
      { makeDefault: false },
      { id: "t", name: "t", kind: "system" },
    );
    const { spki } = await kw.services.hsm.signingKeys.generateKeyPair("p256", "short-lived-signer");
    // The audit signer profile asks for 397 days; the issuer has 30.
    const issued = await kw.services.issuance.issueForKey({
      caId: short.id,
      profile: "audit-signer",
      spki,
      commonName: "Keyward Audit Log Signer",
      extensions: [],
    });
    expect(issued.notAfter.getTime()).toBe(short.notAfter.getTime());
    const cert = writeFile(kw.dir, "short-signer.pem", certificatePem(issued.certificate));
    writeFile(kw.dir, "short-ca.pem", certificatePem(short.certificate));
    const out = openssl(["x509", "-in", cert, "-noout", "-enddate"]);
    expect(new Date(out.trim().replace("notAfter=", "")).getTime()).toBe(short.notAfter.getTime());
    // At the test clock's time (earlier tests step it ahead of the wall clock).
    const at = String(Math.floor(clock.now().getTime() / 1000));
    const chain = ["-CAfile", `${kw.dir}/root.pem`, "-untrusted", `${kw.dir}/short-ca.pem`];
    expect(openssl(["verify", "-attime", at, ...chain, cert])).toContain(": OK");
  });
});
