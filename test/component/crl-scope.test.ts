import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keyward } from "../helpers/cli.js";
import {
  openssl,
  opensslAsync,
  opensslCsr,
  opensslOutput,
  startKeyward,
  type TestKeyward,
  testActor,
} from "../helpers/keyward.js";

/**
 * CRL scope (RFC 5280 §5.2.5, §6.3.3): openssl's `verify -crl_check_all` checks every certificate
 * of the chain, the root included, against its issuer's CRL, and refuses a CRL whose
 * issuingDistributionPoint does not match the certificate's CRL distribution point ("different
 * CRL scope"). Every CRL Keyward signs must cover the certificates its CA issued, whoever signs it.
 */
describe("CRL scope: openssl verify -crl_check_all", () => {
  let k: TestKeyward;
  const file = (name: string) => join(k.dir, name);
  const pem = (der: Buffer | Uint8Array) => openssl(["crl", "-inform", "DER"], Buffer.from(der));
  const certPem = (der: Buffer | Uint8Array) => openssl(["x509", "-inform", "DER"], Buffer.from(der));

  /** Writes root, the issuing chain and both CRLs, then asks openssl about the leaf. */
  const verifyAll = async (leaf: string, issuerId: string, crls?: { root: Buffer; issuer: Buffer }) => {
    const chain = await k.services.ca.chain(issuerId);
    const root = chain.at(-1)!;
    writeFileSync(file(`${issuerId}-root.pem`), certPem(new Uint8Array(root.rawData)));
    writeFileSync(
      file(`${issuerId}-chain.pem`),
      chain
        .slice(0, -1)
        .map((c) => certPem(new Uint8Array(c.rawData)))
        .join(""),
    );
    const rootCrl = crls?.root ?? (await k.services.crl.generate((await k.services.ca.root()).id)).der;
    const issuerCrl = crls?.issuer ?? (await k.services.crl.generate(issuerId)).der;
    writeFileSync(file(`${issuerId}-root.crl.pem`), pem(rootCrl));
    writeFileSync(file(`${issuerId}.crl.pem`), pem(issuerCrl));
    return opensslOutput([
      "verify",
      "-crl_check_all",
      ...["-CAfile", file(`${issuerId}-root.pem`), "-untrusted", file(`${issuerId}-chain.pem`)],
      ...["-CRLfile", file(`${issuerId}-root.crl.pem`), "-CRLfile", file(`${issuerId}.crl.pem`)],
      leaf,
    ]);
  };

  /** A server leaf from the default issuer, through the API. */
  const issueLeaf = async (name: string) => {
    const { csr } = opensslCsr(k.dir, name);
    const response = await k.api("/api/v1/certificates", { body: { csr, profile: "server" } });
    expect(response.status).toBe(201);
    const body = (await response.json()) as { certificate: string };
    writeFileSync(file(`${name}.pem`), body.certificate);
    return file(`${name}.pem`);
  };

  beforeAll(async () => {
    // The server's base URL differs from the one a CLI in another shell would derive (its default listen).
    k = await startKeyward();
  });
  afterAll(async () => k?.close());

  it("accepts a leaf of the default hierarchy with the root and intermediate CRLs", async () => {
    const leaf = await issueLeaf("www");
    const issuer = (await k.services.ca.defaultIssuer()).id;
    expect(await verifyAll(leaf, issuer)).toContain(`${leaf}: OK`);
  });

  it("accepts a leaf of a second intermediate (ca create-intermediate, from the CLI)", async () => {
    const created = await keyward(k.token, ["--json", "ca", "create-intermediate", "--id", "int2"]);
    expect(created.code, created.stderr).toBe(0);
    // Signed in a shell without KEYWARD_BASE_URL: it still names the deployment's URLs.
    const int2 = openssl(
      ["x509", "-noout", "-text"],
      certPem(new Uint8Array((await k.services.ca.chain("int2"))[0]!.rawData)),
    );
    expect(int2).toContain(`URI:${k.url}/crl/root.crl`);
    expect(int2).not.toContain("127.0.0.1:8080");
    // The new intermediate issues a leaf through the same path as any certificate (a client
    // certificate: a server one without a SAN is refused by the lint gate, rightly).
    const { keyFile } = opensslCsr(k.dir, "second");
    const issued = await k.services.issuance.issueForKey({
      caId: "int2",
      profile: "client",
      spki: derPublicKey(keyFile),
      commonName: "second.example.com",
      extensions: [],
    });
    writeFileSync(file("second.pem"), certPem(issued.certificate));
    expect(await verifyAll(file("second.pem"), "int2")).toContain(`${file("second.pem")}: OK`);
  });

  it("accepts a leaf after a rollover to a new default intermediate", async () => {
    await k.services.ca.createIntermediate(
      { id: "int3", keyType: "p256", commonName: "Keyward Intermediate CA int3", validityDays: 365 },
      { makeDefault: true },
      testActor,
    );
    const leaf = await issueLeaf("rolled");
    expect(await verifyAll(leaf, "int3")).toContain(`${leaf}: OK`);
  });

  it("accepts a leaf with CRLs the CLI signed in a shell with another base URL", async () => {
    const leaf = await issueLeaf("cli");
    const issuer = (await k.services.ca.defaultIssuer()).id;
    // No KEYWARD_BASE_URL and no listen: the shell's own default would be http://127.0.0.1:8080.
    const intermediate = await keyward(k.token, ["crl", issuer, "--out", file("cli-int.crl")]);
    expect(intermediate.code, intermediate.stderr).toBe(0);
    const root = await keyward(k.token, ["crl", "root", "--out", file("cli-root.crl")]);
    expect(root.code, root.stderr).toBe(0);
    const idp = openssl(["crl", "-inform", "DER", "-in", file("cli-int.crl"), "-noout", "-text"]);
    expect(idp).toContain(`${k.url}/crl/${issuer}.crl`);
    expect(idp).not.toContain("127.0.0.1:8080");
    const crls = {
      root: readFileSync(file("cli-root.crl")),
      issuer: readFileSync(file("cli-int.crl")),
    };
    expect(await verifyAll(leaf, issuer, crls)).toContain(`${leaf}: OK`);
  });

  it("uses the deployment's base URL over a different KEYWARD_BASE_URL, and says so", async () => {
    const issuer = (await k.services.ca.defaultIssuer()).id;
    const r = await keyward(k.token, ["crl", issuer, "--out", file("env.crl")], {
      KEYWARD_BASE_URL: "https://elsewhere.example",
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      `the configured base URL https://elsewhere.example (baseUrl / KEYWARD_BASE_URL) differs from the deployment's ${k.url}`,
    );
    const text = openssl(["crl", "-inform", "DER", "-in", file("env.crl"), "-noout", "-text"]);
    expect(text).toContain(`URI:${k.url}/crl/${issuer}.crl`);
    expect(text).not.toContain("elsewhere.example");
  });

  it("changes the base URL only with ca set-base-url, audited; CRLs keep covering the old URL", async () => {
    const before = await issueLeaf("before-move");
    const invalid = await keyward(k.token, ["ca", "set-base-url", "ftp://ca.example.com"]);
    expect(invalid.code).not.toBe(0);
    expect(invalid.stderr).toContain("must be http or https");
    const same = await keyward(k.token, ["ca", "set-base-url", k.url]);
    expect(same.code).not.toBe(0);
    expect(same.stderr).toContain(`already is ${k.url}`);
    const set = await keyward(k.token, ["--json", "ca", "set-base-url", "https://pki.example.com/"]);
    expect(set.code, set.stderr).toBe(0);
    expect(JSON.parse(set.stdout)).toEqual({ from: k.url, baseUrl: "https://pki.example.com" });
    const audit = await keyward(k.token, ["--json", "audit", "list", "--action", "ca.set-base-url"]);
    expect(JSON.parse(audit.stdout).items.at(-1).details).toEqual({ from: k.url, to: "https://pki.example.com" });
    // From now on what is signed names it, whoever signs (this shell derives another one from listen).
    const issuer = (await k.services.ca.defaultIssuer()).id;
    const crl = await keyward(k.token, ["crl", issuer, "--out", file("moved.crl")]);
    expect(crl.code, crl.stderr).toBe(0);
    const moved = openssl(["crl", "-inform", "DER", "-in", file("moved.crl"), "-noout", "-text"]);
    expect(moved).toContain(`URI:https://pki.example.com/crl/${issuer}.crl`);
    // Certificates issued before still name the old URL: the CRL's scope names it too (until the
    // intermediates that issued them expire), so they stay checkable.
    expect(moved).toContain(`URI:${k.url}/crl/${issuer}.crl`);
    const rootCrl = (await k.services.crl.generate((await k.services.ca.root()).id)).der;
    const checked = await verifyAll(before, issuer, { root: rootCrl, issuer: readFileSync(file("moved.crl")) });
    expect(checked.trim()).toBe(`${before}: OK`);
  });

  it("issues the OCSP responder a certificate with neither a CRL distribution point nor an AIA", async () => {
    const leaf = await issueLeaf("ocsp-subject");
    const issuer = (await k.services.ca.defaultIssuer()).id;
    writeFileSync(file("ocsp-issuer.pem"), certPem(new Uint8Array((await k.services.ca.chain(issuer))[0]!.rawData)));
    const response = await opensslAsync([
      "ocsp",
      ...["-issuer", file("ocsp-issuer.pem"), "-cert", leaf, "-url", `${k.url}/ocsp`],
      ...["-noverify", "-resp_text"],
    ]);
    // The responder's certificate, as the response carries it.
    const responder = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/.exec(response)?.[0];
    expect(responder).toBeDefined();
    const text = openssl(["x509", "-noout", "-text"], responder);
    expect(text).toContain("OCSP No Check");
    expect(text).not.toContain("CRL Distribution Points");
    expect(text).not.toContain("Authority Information Access");
    expect(text).toContain("Authority Key Identifier");
  });
});

function derPublicKey(keyFile: string): Buffer {
  return Buffer.from(openssl(["pkey", "-in", keyFile, "-pubout"]).replace(/-----[^-]+-----|\s/g, ""), "base64");
}
