// Issue 20 findings 3, 4, 9 (leaf choices) and 10, checked with openssl: certificatePolicies on
// leaves and intermediates, the intermediate's extendedKeyUsage derived from the profiles it may
// issue, the CA subject's country, and the `server` profile's leaf after Let's Encrypt's tlsserver.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { certificatePem } from "../../src/pki/pem.js";
import {
  openssl,
  opensslAsync,
  opensslCsr,
  opensslOutput,
  startKeyward,
  type TestKeyward,
  testActor,
  writeFile,
} from "../helpers/keyward.js";

const DV = "2.23.140.1.2.1";

async function issue(kw: TestKeyward, name: string, profile: string, options: Parameters<typeof opensslCsr>[2] = {}) {
  const { csr } = opensslCsr(kw.dir, name, options);
  const res = await kw.api("/api/v1/certificates", { body: { csr, profile } });
  expect(res.status).toBe(201);
  const body = (await res.json()) as { certificate: string; chain: string };
  return { ...body, file: writeFile(kw.dir, `${name}.pem`, body.certificate) };
}

const text = (pem: string) => openssl(["x509", "-noout", "-text"], pem);

describe("the default hierarchy", () => {
  let kw: TestKeyward;
  let root: string;
  let chain: string;
  beforeAll(async () => {
    kw = await startKeyward();
    root = writeFile(kw.dir, "root.pem", await (await fetch(`${kw.url}/ca/root.pem`)).text());
    chain = writeFile(kw.dir, "chain.pem", await (await fetch(`${kw.url}/ca/chain.pem`)).text());
  });
  afterAll(() => kw?.close());

  it("gives the intermediate the policies and EKUs of the profiles it issues (BR 7.1.2.2, 7.1.2.10.6)", () => {
    const intermediate = text(openssl(["x509", "-in", chain]));
    expect(intermediate).toMatch(new RegExp(`X509v3 Certificate Policies:\\s+Policy: ${DV.replaceAll(".", "\\.")}\\n`));
    // server → serverAuth, client → clientAuth; never OCSPSigning on a CA (it would make the
    // intermediate a delegated responder for the root), and the internal profiles add nothing else.
    expect(intermediate).toMatch(
      /X509v3 Extended Key Usage:\s+TLS Web Server Authentication, TLS Web Client Authentication\n/,
    );
    expect(intermediate).not.toContain("OCSP Signing");
    // No country is shipped: none is right for everybody (ca.root.country, ca.intermediates[].country).
    expect(intermediate).toContain("Subject: O = Keyward, CN = Keyward Intermediate CA");
  });

  it("keeps policies and EKU off the root (BR 7.1.2.1)", () => {
    const rootText = text(openssl(["x509", "-in", root]));
    expect(rootText).not.toContain("Certificate Policies");
    expect(rootText).not.toContain("Extended Key Usage");
  });

  it("issues server leaves with the DV policy, no SKI and no keyEncipherment, verifying as sslserver", async () => {
    const ec = await issue(kw, "dv", "server", { subj: "/CN=dv.example.com", san: "DNS:dv.example.com" });
    const ecText = text(ec.certificate);
    expect(ecText).toMatch(new RegExp(`X509v3 Certificate Policies:\\s+Policy: ${DV.replaceAll(".", "\\.")}\\n`));
    expect(ecText).not.toContain("CPS:");
    expect(ecText).not.toContain("Subject Key Identifier");
    expect(ecText).toContain("Subject: CN = dv.example.com");
    const rsa = await issue(kw, "dv-rsa", "server", { key: ["-newkey", "rsa:2048"] });
    expect(text(rsa.certificate)).toMatch(/Key Usage: critical\s+Digital Signature\n/);
    for (const leaf of [ec.file, rsa.file]) {
      expect(openssl(["verify", "-purpose", "sslserver", "-CAfile", root, "-untrusted", chain, leaf])).toContain(
        ": OK",
      );
      // RFC 5280 §6.1 with an explicit policy: the leaf's policy is valid through the whole path.
      const explicit = ["-explicit_policy", "-policy", DV, "-CAfile", root, "-untrusted", chain, leaf];
      expect(opensslOutput(["verify", ...explicit])).toContain(": OK");
    }
  });

  it("issues client and recipient leaves that verify under the intermediate", async () => {
    const client = await issue(kw, "alice", "client", { subj: "/CN=Alice", san: "email:alice@example.com" });
    expect(text(client.certificate)).not.toContain("Certificate Policies");
    expect(text(client.certificate)).toContain("Subject Key Identifier");
    expect(openssl(["verify", "-purpose", "sslclient", "-CAfile", root, "-untrusted", chain, client.file])).toContain(
      ": OK",
    );
    const recipient = await issue(kw, "recip", "recipient", { subj: "/CN=r", san: "email:keys@example.com" });
    expect(openssl(["verify", "-CAfile", root, "-untrusted", chain, recipient.file])).toContain(": OK");
  });

  it("issues Keyward's own KMS signer certificate that verifies under the intermediate", async () => {
    const { spki } = await kw.services.hsm.signingKeys.generateKeyPair("p256", "policies-kms-signer");
    const issued = await kw.services.issuance.issueForKey({
      caId: "intermediate",
      profile: "kms-signer",
      spki,
      commonName: "Keyward KMS Signer",
      extensions: [],
    });
    const file = writeFile(kw.dir, "kms-signer.pem", certificatePem(issued.certificate));
    expect(openssl(["verify", "-CAfile", root, "-untrusted", chain, file])).toContain(": OK");
  });

  it("answers OCSP through a delegated responder whose chain openssl verifies", async () => {
    const leaf = await issue(kw, "ocsp-leaf", "server");
    const out = await opensslAsync([
      "ocsp",
      ...["-issuer", chain, "-cert", leaf.file, "-url", `${kw.url}/ocsp`],
      ...["-CAfile", root, "-verify_other", chain],
    ]);
    expect(out).toContain("Response verify OK");
    expect(out).toContain(": good");
  });

  it("derives the same for a second intermediate (a rollover)", async () => {
    const second = await kw.services.ca.createIntermediate(
      { id: "second", keyType: "p256", commonName: "Second Issuing CA", validityDays: 365 },
      { makeDefault: false },
      testActor,
    );
    const secondText = text(certificatePem(second.certificate));
    expect(secondText).toMatch(/X509v3 Certificate Policies:\s+Policy: 2\.23\.140\.1\.2\.1\n/);
    expect(secondText).toMatch(
      /X509v3 Extended Key Usage:\s+TLS Web Server Authentication, TLS Web Client Authentication\n/,
    );
  });
});

describe("a configured hierarchy: country, anyPolicy and CPS URIs", () => {
  let kw: TestKeyward;
  beforeAll(async () => {
    kw = await startKeyward({
      overrides: {
        ca: {
          root: { country: "DE", organization: "Example GmbH" },
          intermediates: [
            {
              id: "intermediate",
              keyType: "p256",
              commonName: "Example Issuing CA",
              organization: "Example GmbH",
              country: "DE",
              validityDays: 365,
              policies: ["2.5.29.32.0"],
              cpsUri: "https://ca.example.com/cps",
            },
          ],
        },
        profiles: {
          server: { policies: [DV, "1.3.6.1.4.1.99999.1.1"], cpsUri: "https://ca.example.com/cps/tls" },
          client: { policies: ["1.3.6.1.4.1.99999.2"] },
        },
      },
    });
  });
  afterAll(() => kw?.close());

  it("puts the country in the root's and the intermediate's subjects", async () => {
    const rootText = text(await (await fetch(`${kw.url}/ca/root.pem`)).text());
    expect(rootText).toContain("Subject: C = DE, O = Example GmbH, CN = Keyward Root CA");
    const intermediate = text(await (await fetch(`${kw.url}/ca/chain.pem`)).text());
    expect(intermediate).toContain("Subject: C = DE, O = Example GmbH, CN = Example Issuing CA");
    expect(intermediate).toContain("Issuer: C = DE, O = Example GmbH, CN = Keyward Root CA");
    // X.520: countryName is a PrintableString.
    expect(openssl(["asn1parse"], await (await fetch(`${kw.url}/ca/chain.pem`)).text())).toMatch(
      /countryName\s*\n.*PRINTABLESTRING\s+:DE/,
    );
  });

  it("asserts the configured anyPolicy with its CPS URI on the intermediate", async () => {
    const intermediate = text(await (await fetch(`${kw.url}/ca/chain.pem`)).text());
    expect(intermediate).toMatch(
      /X509v3 Certificate Policies:\s+Policy: X509v3 Any Policy\s+CPS: https:\/\/ca\.example\.com\/cps\n/,
    );
  });

  it("puts the profile's policies, each with its CPS URI, on the leaf; openssl verifies them explicitly", async () => {
    const leaf = await issue(kw, "cps", "server");
    expect(text(leaf.certificate)).toMatch(
      /Policy: 2\.23\.140\.1\.2\.1\s+CPS: https:\/\/ca\.example\.com\/cps\/tls\s+Policy: 1\.3\.6\.1\.4\.1\.99999\.1\.1\s+CPS: https:\/\/ca\.example\.com\/cps\/tls\n/,
    );
    const root = writeFile(kw.dir, "root.pem", await (await fetch(`${kw.url}/ca/root.pem`)).text());
    const chain = writeFile(kw.dir, "chain.pem", leaf.chain);
    const explicit = ["-explicit_policy", "-policy", "1.3.6.1.4.1.99999.1.1", "-CAfile", root, "-untrusted", chain];
    expect(opensslOutput(["verify", ...explicit, leaf.file])).toContain(": OK");
    const client = await issue(kw, "bob", "client", { subj: "/CN=Bob", san: "email:bob@example.com" });
    expect(text(client.certificate)).toMatch(/Policy: 1\.3\.6\.1\.4\.1\.99999\.2\n/);
  });
});
