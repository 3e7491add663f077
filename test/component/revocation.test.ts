import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  opensslAsync,
  opensslCsr,
  openssl,
  opensslOutput,
  startKeyward,
  type TestKeyward,
  writeFile,
} from "../helpers/keyward.js";

let kw: TestKeyward;
let rootFile: string;
let chainFile: string;

beforeAll(async () => {
  kw = await startKeyward({ overrides: { revocation: { crlDebounceMs: 100 } } });
  rootFile = writeFile(kw.dir, "root.pem", await (await fetch(`${kw.url}/ca/root.pem`)).text());
  chainFile = writeFile(kw.dir, "chain.pem", await (await fetch(`${kw.url}/ca/chain.pem`)).text());
});

afterAll(async () => {
  await kw?.close();
});

interface Issued {
  serial: string;
  certificate: string;
  certFile: string;
  keyFile: string;
}

async function issue(name: string, keyFile?: string, profile = "server"): Promise<Issued> {
  const csrArgs = keyFile
    ? (() => {
        const csrFile = join(kw.dir, `${name}.csr`);
        execFileSync("openssl", [
          "req",
          "-new",
          "-key",
          keyFile,
          "-subj",
          `/CN=${name}.example.com`,
          "-addext",
          `subjectAltName=DNS:${name}.example.com`,
          "-out",
          csrFile,
        ]);
        return { csr: readFileSync(csrFile, "utf8"), keyFile };
      })()
    : opensslCsr(kw.dir, name);
  const res = await kw.api("/api/v1/certificates", { body: { csr: csrArgs.csr, profile } });
  const body = (await res.json()) as { serial: string; certificate: string; detail?: string };
  if (res.status !== 201) throw new Error(`issue failed: ${res.status} ${body.detail}`);
  return { ...body, certFile: writeFile(kw.dir, `${name}.pem`, body.certificate), keyFile: csrArgs.keyFile };
}

function revoke(serial: string, reason: string, extra: Record<string, unknown> = {}) {
  return kw.api(`/api/v1/certificates/${serial}/revoke`, { body: { reason, ...extra } });
}

/** `openssl ocsp` against our responder over HTTP POST, with a nonce as openssl sends by default. */
/** `openssl ocsp` against our responder over HTTP, verifying the answer up to our root. */
function ocsp(args: string[]): Promise<string> {
  return opensslAsync([
    "ocsp",
    "-issuer",
    chainFile,
    ...args,
    "-url",
    `${kw.url}/ocsp`,
    "-CAfile",
    rootFile,
    "-verify_other",
    chainFile,
  ]);
}

/** The same for one certificate, with a nonce as openssl sends by default. */
function ocspPost(certFile: string, extra: string[] = []): Promise<string> {
  return ocsp(["-cert", certFile, ...extra]);
}

/** Parses an OCSP response with pkijs (not our code): response status and each cert status. */
function parseOcsp(der: Buffer): { status: number; certStatus: string[] } {
  const response = pkijs.OCSPResponse.fromBER(new Uint8Array(der));
  const status = response.responseStatus.valueBlock.valueDec;
  if (!response.responseBytes) return { status, certStatus: [] };
  const basic = pkijs.BasicOCSPResponse.fromBER(
    new Uint8Array(response.responseBytes.response.valueBlock.valueHexView),
  );
  const certStatus = basic.tbsResponseData.responses.map((r) => {
    const tag = (r.certStatus as asn1js.BaseBlock).idBlock.tagNumber;
    return ["good", "revoked", "unknown"][tag]!;
  });
  return { status, certStatus };
}

function requestDer(certFile: string, issuerFile = chainFile, extra: string[] = []): Buffer {
  const out = join(kw.dir, `req-${Math.random().toString(36).slice(2)}.der`);
  openssl(["ocsp", "-issuer", issuerFile, "-cert", certFile, "-reqout", out, "-no_nonce", ...extra]);
  return readFileSync(out);
}

async function ocspGet(der: Buffer) {
  return fetch(`${kw.url}/ocsp/${encodeURIComponent(der.toString("base64"))}`);
}

async function crlText(): Promise<string> {
  const der = Buffer.from(await (await fetch(`${kw.url}/crl/intermediate.crl`)).arrayBuffer());
  return openssl(["crl", "-inform", "DER", "-noout", "-text"], der);
}

async function waitFor(check: () => Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("OCSP with openssl as the client", () => {
  it("says good, then revoked with the reason after revocation (POST, with openssl's nonce)", async () => {
    const leaf = await issue("ocsp-post");
    const before = await ocspPost(leaf.certFile);
    expect(before).toContain("Response verify OK");
    expect(before).toContain(`${leaf.certFile}: good`);

    const res = await revoke(leaf.serial, "keyCompromise");
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ serial: leaf.serial, status: "revoked", reason: "keyCompromise" });

    const after = await ocspPost(leaf.certFile);
    expect(after).toContain("Response verify OK");
    expect(after).toContain(`${leaf.certFile}: revoked`);
    expect(after).toContain("Reason: keyCompromise");
  });

  it("answers the GET form from the cache with RFC 5019 caching headers", async () => {
    const leaf = await issue("ocsp-get");
    const der = requestDer(leaf.certFile);
    const res = await ocspGet(der);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/ocsp-response");
    expect(res.headers.get("cache-control")).toMatch(/^public, max-age=\d+, no-transform, must-revalidate$/);
    const maxAge = Number(/max-age=(\d+)/.exec(res.headers.get("cache-control")!)![1]);
    expect(maxAge).toBeGreaterThan(71 * 3600);
    // Caches must not keep the answer past its nextUpdate (Expires).
    const expires = Date.parse(res.headers.get("expires")!);
    expect(maxAge).toBeLessThanOrEqual((expires - Date.parse(res.headers.get("date")!)) / 1000);
    expect(res.headers.get("etag")).toMatch(/^"[0-9a-f]{40}"$/);
    expect(Date.parse(res.headers.get("last-modified")!)).toBeLessThanOrEqual(Date.now());
    const body = Buffer.from(await res.arrayBuffer());
    expect(Number(res.headers.get("content-length"))).toBe(body.length);
    const respFile = writeFile(kw.dir, "get-resp.der", body);
    const checked = opensslOutput([
      "ocsp",
      "-respin",
      respFile,
      "-issuer",
      chainFile,
      "-cert",
      leaf.certFile,
      "-CAfile",
      rootFile,
      "-verify_other",
      chainFile,
      "-no_nonce",
    ]);
    expect(checked).toContain("Response verify OK");
    expect(checked).toContain(`${leaf.certFile}: good`);

    // The same request again is the same pre-signed answer, and a conditional GET gets 304.
    const again = Buffer.from(await (await ocspGet(der)).arrayBuffer());
    expect(again.equals(body)).toBe(true);
    const conditional = await fetch(`${kw.url}/ocsp/${encodeURIComponent(der.toString("base64"))}`, {
      headers: { "if-none-match": res.headers.get("etag")! },
    });
    expect(conditional.status).toBe(304);
    expect(conditional.headers.get("etag")).toBe(res.headers.get("etag"));
    expect((await conditional.arrayBuffer()).byteLength).toBe(0);
  });

  it("answers the very same request bytes revoked at once after a revocation (GET and POST)", async () => {
    const leaf = await issue("repeated");
    const der = requestDer(leaf.certFile);
    const post = () =>
      fetch(`${kw.url}/ocsp`, {
        method: "POST",
        headers: { "content-type": "application/ocsp-request" },
        body: new Uint8Array(der),
      });
    // Seen twice each: from then on answered from memory by their bytes.
    for (let i = 0; i < 2; i++) {
      expect(parseOcsp(Buffer.from(await (await ocspGet(der)).arrayBuffer())).certStatus).toEqual(["good"]);
      expect(parseOcsp(Buffer.from(await (await post()).arrayBuffer())).certStatus).toEqual(["good"]);
    }
    await revoke(leaf.serial, "keyCompromise");
    expect(parseOcsp(Buffer.from(await (await ocspGet(der)).arrayBuffer())).certStatus).toEqual(["revoked"]);
    expect(parseOcsp(Buffer.from(await (await post()).arrayBuffer())).certStatus).toEqual(["revoked"]);
  });

  it("answers SHA-256 CertIDs and several CertIDs in one request", async () => {
    const a = await issue("multi-a");
    const b = await issue("multi-b");
    await revoke(b.serial, "superseded");
    const sha256 = await ocsp(["-sha256", "-cert", a.certFile]);
    expect(sha256).toContain(`${a.certFile}: good`);
    const both = await ocsp(["-cert", a.certFile, "-cert", b.certFile]);
    expect(both).toContain("Response verify OK");
    expect(both).toContain(`${a.certFile}: good`);
    expect(both).toContain(`${b.certFile}: revoked`);
    expect(both).toContain("Reason: superseded");
  });

  it("says unknown for a serial we never issued and unauthorized for another CA", async () => {
    const leaf = await issue("ocsp-unknown");
    const unknown = await ocsp(["-serial", "0x0123456789abcdef"]);
    expect(unknown).toContain("Response verify OK");
    expect(unknown).toContain("0x0123456789abcdef: unknown");

    const otherKey = join(kw.dir, "other.key");
    const otherCa = join(kw.dir, "other.pem");
    openssl([
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      otherKey,
      "-subj",
      "/CN=Other CA",
      "-days",
      "1",
      "-out",
      otherCa,
    ]);
    const foreign = await ocspGet(requestDer(leaf.certFile, otherCa));
    expect(parseOcsp(Buffer.from(await foreign.arrayBuffer())).status).toBe(6);
  });

  it("echoes nothing and still verifies when nonces are ignored (the default)", async () => {
    const leaf = await issue("nonce");
    const out = await ocspPost(leaf.certFile);
    expect(out).toContain("Response verify OK");
    expect(out).toMatch(/WARNING: no nonce in response/);
  });
});

describe("bad OCSP input", () => {
  it("gives malformedRequest for garbage and truncated DER, 415 and 413 problems for the wrong type and size", async () => {
    const leaf = await issue("bad-ocsp");
    const der = requestDer(leaf.certFile);
    const post = (body: Uint8Array | string, type = "application/ocsp-request") =>
      fetch(`${kw.url}/ocsp`, {
        method: "POST",
        headers: { "content-type": type },
        body: typeof body === "string" ? body : new Uint8Array(body),
      });

    for (const body of [der.subarray(0, der.length - 3), Buffer.from("hello"), Buffer.alloc(0)]) {
      const res = await post(body);
      expect(res.status, `body of ${body.length} bytes: ${res.status === 200 ? "" : await res.clone().text()}`).toBe(
        200,
      );
      expect(parseOcsp(Buffer.from(await res.arrayBuffer()))).toEqual({ status: 1, certStatus: [] });
    }
    const wrongType = await post(der, "application/json");
    expect(wrongType.status).toBe(415);
    expect(await wrongType.json()).toMatchObject({
      detail: "OCSP requests must be application/ocsp-request, got application/json",
    });
    const huge = await post(Buffer.alloc(1024 * 1024, 0x30));
    expect(huge.status).toBe(413);
    expect(huge.headers.get("content-type")).toContain("application/problem+json");

    for (const path of ["%%%", "not*base64", encodeURIComponent(Buffer.from("junk").toString("base64"))]) {
      const res = await fetch(`${kw.url}/ocsp/${path}`);
      expect(res.status).toBe(200);
      expect(parseOcsp(Buffer.from(await res.arrayBuffer())).status).toBe(1);
    }
    // ...and the responder keeps serving.
    const ok = await post(der);
    expect(parseOcsp(Buffer.from(await ok.arrayBuffer()))).toEqual({ status: 0, certStatus: ["good"] });
  });
});

describe("CRLs", () => {
  it("publishes a v2 CRL that openssl verifies, regenerated after a revocation with reason and invalidity date", async () => {
    const good = await issue("crl-good");
    const bad = await issue("crl-bad");
    const before = await crlText();
    const numberBefore = Number(/X509v3 CRL Number:\s*\n\s*(\d+)/.exec(before)![1]);
    expect(before).toContain("Version 2 (0x1)");
    expect(before).toContain("Issuer: O = Keyward, CN = Keyward Intermediate CA");
    expect(before).toContain("X509v3 Authority Key Identifier");
    expect(before).toMatch(
      /X509v3 Issuing Distribution Point: critical\s+Full Name:\s+URI:http:\/\/127\.0\.0\.1:\d+\/crl\/intermediate\.crl\s+Only User Certificates/,
    );

    const invalidity = new Date(Date.now() - 86_400_000);
    expect((await revoke(bad.serial, "keyCompromise", { invalidityDate: invalidity.toISOString() })).status).toBe(200);
    await waitFor(async () => (await crlText()).includes(bad.serial.toUpperCase()));
    const after = await crlText();
    expect(Number(/X509v3 CRL Number:\s*\n\s*(\d+)/.exec(after)![1])).toBeGreaterThan(numberBefore);
    const entry = after.slice(after.indexOf(`Serial Number: ${bad.serial.toUpperCase()}`));
    expect(entry).toMatch(/X509v3 CRL Reason Code:\s+Key Compromise/);
    expect(entry).toMatch(/Invalidity Date:\s+\w+ +\d+ \d\d:\d\d:\d\d \d{4} GMT/);

    const res = await fetch(`${kw.url}/crl/intermediate.crl`);
    expect(res.headers.get("content-type")).toBe("application/pkix-crl");
    expect(res.headers.get("etag")).toMatch(/^"intermediate-\d+"$/);
    expect(res.headers.get("cache-control")).toMatch(/max-age=\d+/);
    const crlDer = writeFile(kw.dir, "int.crl", Buffer.from(await res.arrayBuffer()));
    const crlPem = join(kw.dir, "int.crl.pem");
    openssl(["crl", "-inform", "DER", "-in", crlDer, "-out", crlPem]);
    const bundle = writeFile(kw.dir, "bundle.pem", readFileSync(chainFile, "utf8") + readFileSync(rootFile, "utf8"));
    expect(openssl(["crl", "-in", crlPem, "-CAfile", bundle, "-noout", "-verify"]).trim()).toBe("");
    // openssl verify -crl_check: the revoked leaf is rejected, the good one accepted.
    const check = (cert: string) =>
      opensslOutput(["verify", "-crl_check", "-CRLfile", crlPem, "-CAfile", rootFile, "-untrusted", chainFile, cert]);
    expect(check(good.certFile)).toContain(": OK");
    expect(check(bad.certFile)).toContain("certificate revoked");
  });

  it("answers 304 to a conditional CRL request and 404 for a CA that does not exist", async () => {
    const res = await fetch(`${kw.url}/crl/intermediate.crl`);
    const again = await fetch(`${kw.url}/crl/intermediate.crl`, {
      headers: { "if-none-match": res.headers.get("etag")! },
    });
    expect(again.status).toBe(304);
    expect((await fetch(`${kw.url}/crl/nope.crl`)).status).toBe(404);
  });
});

describe("revocation rules", () => {
  it("refuses to revoke twice (409), unknown serials (404) and unknown reasons (400)", async () => {
    const leaf = await issue("twice");
    expect((await revoke(leaf.serial, "superseded")).status).toBe(200);
    const again = await revoke(leaf.serial, "keyCompromise");
    expect(again.status).toBe(409);
    expect(((await again.json()) as { detail: string }).detail).toMatch(
      new RegExp(`^certificate ${leaf.serial} is already revoked \\(superseded at `),
    );
    expect((await revoke("00ff00ff", "superseded")).status).toBe(404);
    const badReason = await revoke(leaf.serial, "stolen");
    expect(badReason.status).toBe(400);
    expect(((await badReason.json()) as { detail: string }).detail).toMatch(
      /^unknown revocation reason "stolen"; reasons are unspecified, keyCompromise/,
    );
    const removeFromCrl = await revoke(leaf.serial, "removeFromCRL");
    expect(((await removeFromCrl.json()) as { detail: string }).detail).toContain("only releases a certificateHold");
  });

  it("refuses certificateHold and aACompromise for a server certificate (BR §7.2.2), naming the allowed reasons", async () => {
    const leaf = await issue("br-reasons");
    for (const reason of ["certificateHold", "aACompromise", "cACompromise"]) {
      const res = await revoke(leaf.serial, reason);
      expect(res.status, reason).toBe(400);
      expect(await res.json()).toMatchObject({
        type: "urn:keyward:problem:badRequest",
        detail: `profile "server" does not allow the revocation reason ${reason}; allowed: unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn`,
        allowedReasons: [
          "unspecified",
          "keyCompromise",
          "affiliationChanged",
          "superseded",
          "cessationOfOperation",
          "privilegeWithdrawn",
        ],
      });
    }
    // Nothing was recorded: OCSP still says good, and an allowed reason still works.
    expect(await ocspPost(leaf.certFile)).toContain(`${leaf.certFile}: good`);
    expect((await revoke(leaf.serial, "privilegeWithdrawn")).status).toBe(200);
  });

  // A client certificate: private profiles may still put a certificate on hold (the server profile may not).
  it("puts a client certificate on hold and releases it", async () => {
    const leaf = await issue("hold", undefined, "client");
    expect((await revoke(leaf.serial, "certificateHold")).status).toBe(200);
    expect(await ocspPost(leaf.certFile)).toContain("Reason: certificateHold");
    const released = await kw.api(`/api/v1/certificates/${leaf.serial}/release`, { method: "POST" });
    expect(released.status).toBe(200);
    expect(await released.json()).toMatchObject({ status: "valid" });
    expect(await ocspPost(leaf.certFile)).toContain(`${leaf.certFile}: good`);
    const notHeld = await kw.api(`/api/v1/certificates/${leaf.serial}/release`, { method: "POST" });
    expect(notHeld.status).toBe(409);
    // A hold can also become permanent.
    await revoke(leaf.serial, "certificateHold");
    expect((await revoke(leaf.serial, "cessationOfOperation")).status).toBe(200);
  });

  it("lists revocations with filters", async () => {
    const res = await kw.api("/api/v1/revocations?reason=keyCompromise");
    const body = (await res.json()) as { items: Array<{ reason: string; serial: string }> };
    expect(body.items.length).toBeGreaterThan(0);
    expect(body.items.every((i) => i.reason === "keyCompromise")).toBe(true);
  });
});

describe("compromised keys", () => {
  it("refuses new certificates for a key revoked with keyCompromise", async () => {
    const first = await issue("stolen-1");
    await revoke(first.serial, "keyCompromise");
    const csrFile = join(kw.dir, "stolen-2.csr");
    execFileSync("openssl", [
      "req",
      "-new",
      "-key",
      first.keyFile,
      "-subj",
      "/CN=stolen-2.example.com",
      "-out",
      csrFile,
    ]);
    const res = await kw.api("/api/v1/certificates", {
      body: { csr: readFileSync(csrFile, "utf8"), profile: "server" },
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { detail: string }).detail).toMatch(
      /^the CSR's public key \(SPKI SHA-256 [0-9a-f]{64}\) is blocked since .* \(keyCompromise\); use a new key$/,
    );
  });

  it("blocks a key by certificate and revokes every sibling with revokeAll", async () => {
    const a = await issue("sibling-a");
    const b = await issue("sibling-b", a.keyFile);
    const c = await issue("sibling-c", a.keyFile);
    const other = await issue("not-a-sibling");
    const res = await kw.api("/api/v1/keys/blocked", { body: { certificate: a.certificate, revokeAll: true } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { spkiSha256: string; revoked: string[] };
    expect(body.revoked.sort()).toEqual([a.serial, b.serial, c.serial].sort());
    for (const leaf of [a, b, c]) expect(await ocspPost(leaf.certFile)).toContain(`${leaf.certFile}: revoked`);
    expect(await ocspPost(other.certFile)).toContain(`${other.certFile}: good`);
    const bad = await kw.api("/api/v1/keys/blocked", { body: { spkiSha256: "xyz" } });
    expect(bad.status).toBe(400);
    const both = await kw.api("/api/v1/keys/blocked", {
      body: { spkiSha256: body.spkiSha256, certificate: a.certificate },
    });
    expect(((await both.json()) as { detail: string }).detail).toBe(
      "name the key by exactly one of spkiSha256, publicKey or certificate",
    );
  });
});

describe("concurrency", () => {
  it("200 parallel revocations with OCSP requests in flight: all revoked in OCSP and in the next CRL", async () => {
    const { csr } = opensslCsr(kw.dir, "bulk");
    const issued: Array<{ serial: string; certificate: string }> = [];
    for (let i = 0; i < 200; i += 20) {
      const batch = await Promise.all(
        Array.from({ length: 20 }, () =>
          kw
            .api("/api/v1/certificates", { body: { csr, profile: "server" } })
            .then((r) => r.json() as Promise<{ serial: string; certificate: string }>),
        ),
      );
      issued.push(...batch);
    }
    const requests = issued.map((c, i) => requestDer(writeFile(kw.dir, `bulk-${i}.pem`, c.certificate)));
    const results = await Promise.all([
      ...issued.map((c) => revoke(c.serial, "cessationOfOperation").then((r) => r.status)),
      ...requests.map((der) => ocspGet(der).then((r) => r.status)),
    ]);
    expect(results.every((s) => s === 200)).toBe(true);

    const statuses = await Promise.all(
      requests.map(async (der) => parseOcsp(Buffer.from(await (await ocspGet(der)).arrayBuffer())).certStatus[0]),
    );
    expect(statuses.filter((s) => s === "revoked")).toHaveLength(200);

    await waitFor(async () => {
      const text = await crlText();
      return issued.every((c) => text.includes(c.serial.toUpperCase()));
    }, 10_000);
  });
});
