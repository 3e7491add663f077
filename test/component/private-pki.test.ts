import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { opensslAsync, opensslCsr, openssl, startKeyward, type TestKeyward, writeFile } from "../helpers/keyward.js";

/** A Keyward set up for a private PKI: name-constrained intermediates and OCSP nonces honoured. */
let kw: TestKeyward;
let rootFile: string;
let chainFile: string;

beforeAll(async () => {
  kw = await startKeyward({
    overrides: {
      ca: {
        nameConstraints: {
          permittedDns: ["example.com"],
          excludedDns: ["secret.example.com"],
          permittedIp: ["10.0.0.0/8"],
        },
      },
      revocation: { ocspNonce: "echo" },
    },
  });
  rootFile = writeFile(kw.dir, "root.pem", await (await fetch(`${kw.url}/ca/root.pem`)).text());
  chainFile = writeFile(kw.dir, "chain.pem", await (await fetch(`${kw.url}/ca/chain.pem`)).text());
});

afterAll(async () => {
  await kw?.close();
});

async function issue(name: string, san: string) {
  const { csr } = opensslCsr(kw.dir, name, { subj: `/CN=${name}`, san });
  const res = await kw.api("/api/v1/certificates", { body: { csr, profile: "server" } });
  return { status: res.status, body: (await res.json()) as { certificate: string; detail: string } };
}

describe("name constraints", () => {
  it("puts critical name constraints in the intermediate", () => {
    const text = openssl(["x509", "-in", chainFile, "-noout", "-text"]);
    expect(text).toMatch(
      /X509v3 Name Constraints: critical\s+Permitted:\s+DNS:example\.com\s+IP:10\.0\.0\.0\/255\.0\.0\.0\s+Excluded:\s+DNS:secret\.example\.com/,
    );
  });

  it("issues inside the constraints (openssl verify accepts) and refuses names outside them", async () => {
    const inside = await issue("www.example.com", "DNS:www.example.com,IP:10.1.2.3");
    expect(inside.status).toBe(201);
    const leaf = writeFile(kw.dir, "inside.pem", inside.body.certificate);
    expect(openssl(["verify", "-CAfile", rootFile, "-untrusted", chainFile, leaf])).toContain(": OK");

    const outside = await issue("www.example.org", "DNS:www.example.org");
    expect(outside.status).toBe(400);
    expect(outside.body.detail).toBe(`dns name "www.example.org" is outside the issuing CA's permitted names`);
    const excluded = await issue("a.secret.example.com", "DNS:a.secret.example.com");
    expect(excluded.body.detail).toBe(
      `dns name "a.secret.example.com" is excluded by the issuing CA's name constraints`,
    );
    const ip = await issue("ip.example.com", "DNS:ip.example.com,IP:192.168.1.1");
    expect(ip.body.detail).toBe(`ip name "192.168.1.1" is outside the issuing CA's permitted names`);
  });
});

describe("OCSP with nonces honoured", () => {
  it("signs a fresh answer that echoes openssl's nonce", async () => {
    const { body } = await issue("nonce.example.com", "DNS:nonce.example.com");
    const leaf = writeFile(kw.dir, "nonce.pem", body.certificate);
    const out = await opensslAsync([
      "ocsp",
      "-issuer",
      chainFile,
      "-cert",
      leaf,
      "-url",
      `${kw.url}/ocsp`,
      "-CAfile",
      rootFile,
      "-verify_other",
      chainFile,
    ]);
    expect(out).toContain("Response verify OK");
    expect(out).toContain(`${leaf}: good`);
    expect(out).not.toContain("WARNING: no nonce in response");
  });
});
