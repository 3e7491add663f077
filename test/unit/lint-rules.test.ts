import { execFileSync } from "node:child_process";
import { webcrypto } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LintError } from "../../src/errors/index.js";
import { identify, lintArtifact } from "../../src/lint/artifact.js";
import { createLinter, type LintContext, type LintTarget } from "../../src/lint/index.js";
import { defaultRules } from "../../src/lint/rules/index.js";
import { children, explicit, oid, readElement, sequence, smallInteger, tlv, x509Time } from "../../src/pki/der.js";
import { responseData } from "../../src/revocation/ocsp-der.js";

/**
 * Each rule against an artifact that breaks it, built here: certificates by openssl from an
 * -extfile (a tool we did not write), CRLs by @peculiar/x509 with a software key, OCSP
 * ResponseData with exact times, and raw DER where no tool will write the fault.
 */
const linter = createLinter(defaultRules);
let dir: string;
let caContext: LintContext;

function openssl(args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
}

/** The TBS (first element) of a signed structure. */
function tbsOf(der: Buffer): Buffer {
  return children(readElement(der).content)[0]!.raw;
}

function pemToDer(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64");
}

let counter = 0;
/** A certificate openssl signs with the test CA, from an extfile (and options), as TBS DER. */
function opensslCertificate(
  ext: string,
  options: { days?: number; subject?: string; key?: string[]; serial?: string; selfSigned?: boolean } = {},
): Buffer {
  const n = ++counter;
  writeFileSync(join(dir, `ext${n}.cnf`), `${ext}\n`);
  openssl([
    "genpkey",
    ...(options.key ?? ["-algorithm", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]),
    "-out",
    `k${n}.key`,
  ]);
  openssl(["req", "-new", "-key", `k${n}.key`, "-subj", options.subject ?? "/CN=example.com", "-out", `r${n}.csr`]);
  const signer = options.selfSigned ? ["-signkey", `k${n}.key`] : ["-CA", "ca.pem", "-CAkey", "ca.key"];
  openssl([
    "x509",
    "-req",
    "-in",
    `r${n}.csr`,
    ...signer,
    "-set_serial",
    options.serial ?? "0x1234567890abcdef12",
    "-days",
    String(options.days ?? 90),
    "-extfile",
    `ext${n}.cnf`,
    "-out",
    `c${n}.pem`,
  ]);
  return tbsOf(pemToDer(readFileSync(join(dir, `c${n}.pem`), "utf8")));
}

const LEAF = [
  "basicConstraints=critical,CA:FALSE",
  "keyUsage=critical,digitalSignature",
  "extendedKeyUsage=serverAuth",
  "subjectAltName=DNS:example.com",
  "certificatePolicies=2.23.140.1.2.1",
].join("\n");

function findings(target: LintTarget, tbs: Buffer, context: LintContext = caContext) {
  return linter.findings(target, tbs, context);
}
function rulesHit(target: LintTarget, tbs: Buffer, context?: LintContext) {
  return [...new Set(findings(target, tbs, context).map((f) => f.rule))];
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "keyward-lint-"));
  openssl(["genpkey", "-algorithm", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "ca.key"]);
  writeFileSync(
    join(dir, "ca.cnf"),
    "[req]\ndistinguished_name=dn\n[dn]\n[v3]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n",
  );
  openssl([
    "req",
    "-x509",
    "-new",
    "-key",
    "ca.key",
    "-subj",
    "/CN=Lint Test CA",
    "-days",
    "30",
    "-config",
    "ca.cnf",
    "-extensions",
    "v3",
    "-out",
    "ca.pem",
  ]);
  const ca = new x509.X509Certificate(readFileSync(join(dir, "ca.pem"), "utf8"));
  const ski = ca.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId;
  caContext = { issuer: { spki: Buffer.from(ca.publicKey.rawData), keyIdentifier: Buffer.from(ski, "hex") } };
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("certificate rules", () => {
  it("a well-made TLS leaf from openssl is clean", () => {
    expect(findings("certificate", opensslCertificate(LEAF))).toEqual([]);
  });

  it("rfc5280_4_1_tbs_certificate_structure: unreadable DER is an error, once", () => {
    const found = findings("certificate", Buffer.from([0x30, 0x03, 0x02, 0x01]));
    expect(found).toEqual([
      expect.objectContaining({ rule: "rfc5280_4_1_tbs_certificate_structure", severity: "error" }),
    ]);
  });

  it("rfc5280_4_1_2_2_serial_number: negative, zero and 21-octet serials", () => {
    expect(rulesHit("certificate", opensslCertificate(LEAF, { serial: "-12345678901234567" }))).toContain(
      "rfc5280_4_1_2_2_serial_number",
    );
    expect(rulesHit("certificate", opensslCertificate(LEAF, { serial: `0x7f${"11".repeat(20)}` }))).toContain(
      "rfc5280_4_1_2_2_serial_number",
    );
  });

  it("br_7_1_serial_entropy: a short serial", () => {
    expect(rulesHit("certificate", opensslCertificate(LEAF, { serial: "5" }))).toContain("br_7_1_serial_entropy");
  });

  it("rfc5280_4_1_2_3_signature_matches_issuer_key: an ECDSA signature field for an RSA issuer", () => {
    const rsaIssuer = execFileSync("openssl", ["genpkey", "-algorithm", "rsa", "-pkeyopt", "rsa_keygen_bits:2048"], {
      stdio: ["ignore", "pipe", "ignore"],
    });
    const spki = pemToDer(execFileSync("openssl", ["pkey", "-pubout"], { input: rsaIssuer }).toString());
    expect(rulesHit("certificate", opensslCertificate(LEAF), { issuer: { spki } })).toContain(
      "rfc5280_4_1_2_3_signature_matches_issuer_key",
    );
  });

  it("rfc5280_4_1_2_5_validity: notAfter before notBefore, GeneralizedTime before 2050", () => {
    const tbs = (notBefore: Buffer, notAfter: Buffer) =>
      sequence(
        explicit(0, smallInteger(2)),
        tlv(0x02, Buffer.from("1234567890abcdef12", "hex")),
        sequence(oid("1.2.840.10045.4.3.2")),
        sequence(),
        sequence(notBefore, notAfter),
        sequence(),
        caContext.issuer!.spki,
      );
    const now = new Date();
    expect(rulesHit("certificate", tbs(x509Time(now), x509Time(new Date(now.getTime() - 1000))))).toContain(
      "rfc5280_4_1_2_5_validity",
    );
    const generalized = tlv(0x18, Buffer.from("20300101000000Z"));
    expect(rulesHit("certificate", tbs(x509Time(now), generalized))).toContain("rfc5280_4_1_2_5_validity");
  });

  it("br_6_3_2_subscriber_validity_398_days: a TLS leaf of 399 days", () => {
    expect(rulesHit("certificate", opensslCertificate(LEAF, { days: 399 }))).toContain(
      "br_6_3_2_subscriber_validity_398_days",
    );
    expect(rulesHit("certificate", opensslCertificate(LEAF, { days: 397 }))).not.toContain(
      "br_6_3_2_subscriber_validity_398_days",
    );
  });

  it("rfc5280_4_1_2_1_version_3: extensions in a v1 certificate", () => {
    const v1 = sequence(
      tlv(0x02, Buffer.from("1234567890abcdef12", "hex")),
      sequence(oid("1.2.840.10045.4.3.2")),
      sequence(),
      sequence(x509Time(new Date()), x509Time(new Date(Date.now() + 86_400_000))),
      sequence(),
      caContext.issuer!.spki,
      explicit(3, sequence(sequence(oid("2.5.29.19"), tlv(0x04, sequence())))),
    );
    expect(rulesHit("certificate", v1)).toContain("rfc5280_4_1_2_1_version_3");
  });

  it("rfc5280_4_2_extensions_unique: an extension twice", () => {
    const tbs = opensslCertificate(LEAF);
    const parts = children(readElement(tbs).content);
    const extensions = children(children(parts.at(-1)!.content)[0]!.content);
    const doubled = sequence(
      ...parts.slice(0, -1).map((p) => p.raw),
      explicit(3, sequence(...extensions.map((e) => e.raw), extensions[0]!.raw)),
    );
    expect(rulesHit("certificate", doubled)).toContain("rfc5280_4_2_extensions_unique");
  });

  it("rfc5280_4_2_noncritical_extensions: a critical AKI", () => {
    expect(
      rulesHit("certificate", opensslCertificate(`${LEAF}\nauthorityKeyIdentifier=critical,keyid:always`)),
    ).toContain("rfc5280_4_2_noncritical_extensions");
  });

  it("rfc5280_4_2_1_6_san_required: a TLS leaf without SAN, an empty subject without SAN", () => {
    const noSan = LEAF.replace("subjectAltName=DNS:example.com", "");
    expect(rulesHit("certificate", opensslCertificate(noSan))).toContain("rfc5280_4_2_1_6_san_required");
    expect(
      rulesHit("certificate", opensslCertificate(noSan.replace("serverAuth", "clientAuth"), { subject: "/" })),
    ).toContain("rfc5280_4_2_1_6_san_required");
  });

  it("rfc5280_4_2_1_6_san_critical_with_empty_subject", () => {
    expect(rulesHit("certificate", opensslCertificate(LEAF, { subject: "/" }))).toContain(
      "rfc5280_4_2_1_6_san_critical_with_empty_subject",
    );
    expect(
      rulesHit(
        "certificate",
        opensslCertificate(LEAF.replace("subjectAltName=", "subjectAltName=critical,"), { subject: "/" }),
      ),
    ).not.toContain("rfc5280_4_2_1_6_san_critical_with_empty_subject");
  });

  it("rfc5280_4_2_1_6_san_well_formed: bad dNSName, bad wildcard, a URI without scheme", () => {
    for (const san of ["DNS:exa_mple.com", "DNS:foo.*.example.com", "DNS:*.com", "URI:no-scheme", "email:nobody"]) {
      expect(rulesHit("certificate", opensslCertificate(LEAF.replace("DNS:example.com", san))), san).toContain(
        "rfc5280_4_2_1_6_san_well_formed",
      );
    }
  });

  it("rfc5280_4_2_1_9_ca_basic_constraints_critical", () => {
    const ca = "basicConstraints=CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash";
    expect(rulesHit("certificate", opensslCertificate(ca))).toContain("rfc5280_4_2_1_9_ca_basic_constraints_critical");
  });

  it("rfc5280_4_2_1_3_ca_key_usage_critical: a CA with a non-critical or no keyUsage", () => {
    expect(
      rulesHit("certificate", opensslCertificate("basicConstraints=critical,CA:TRUE\nkeyUsage=keyCertSign")),
    ).toContain("rfc5280_4_2_1_3_ca_key_usage_critical");
    expect(rulesHit("certificate", opensslCertificate("basicConstraints=critical,CA:TRUE"))).toContain(
      "rfc5280_4_2_1_3_ca_key_usage_critical",
    );
  });

  it("br_7_1_2_7_11_subscriber_key_usage_critical: a warning", () => {
    const found = findings("certificate", opensslCertificate(LEAF.replace("keyUsage=critical,", "keyUsage=")));
    expect(found).toContainEqual(
      expect.objectContaining({ rule: "br_7_1_2_7_11_subscriber_key_usage_critical", severity: "warning" }),
    );
  });

  it("rfc5280_4_2_1_3_ca_key_cert_sign: CA without keyCertSign, keyCertSign without CA", () => {
    const rule = "rfc5280_4_2_1_3_ca_key_cert_sign";
    expect(
      rulesHit(
        "certificate",
        opensslCertificate("basicConstraints=critical,CA:TRUE\nkeyUsage=critical,digitalSignature"),
      ),
    ).toContain(rule);
    expect(
      rulesHit("certificate", opensslCertificate(LEAF.replace("digitalSignature", "digitalSignature,keyCertSign"))),
    ).toContain(rule);
  });

  it("rfc5280_4_2_1_1_authority_key_identifier: no AKI", () => {
    expect(rulesHit("certificate", opensslCertificate(`${LEAF}\nauthorityKeyIdentifier=none`))).toContain(
      "rfc5280_4_2_1_1_authority_key_identifier",
    );
  });

  it("rfc5280_4_2_1_1_aki_matches_issuer_ski: an AKI of another key", () => {
    const other = { issuer: { ...caContext.issuer!, keyIdentifier: Buffer.alloc(20, 7) } };
    expect(rulesHit("certificate", opensslCertificate(LEAF), other)).toContain(
      "rfc5280_4_2_1_1_aki_matches_issuer_ski",
    );
  });

  it("rfc5280_4_2_1_2_ca_subject_key_identifier: a CA without SKI", () => {
    expect(
      rulesHit(
        "certificate",
        opensslCertificate(
          "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\nsubjectKeyIdentifier=none",
        ),
      ),
    ).toContain("rfc5280_4_2_1_2_ca_subject_key_identifier");
  });
});

describe("BR rules for the findings of issue 20 (errors: the defaults comply)", () => {
  const refused = (tbs: Buffer, rule: string) =>
    expect(findings("certificate", tbs)).toContainEqual(expect.objectContaining({ rule, severity: "error" }));
  const warned = (tbs: Buffer, rule: string) =>
    expect(findings("certificate", tbs)).toContainEqual(expect.objectContaining({ rule, severity: "warning" }));
  it("br_7_1_2_certificate_policies: a TLS leaf and a subordinate CA without policies", () => {
    refused(
      opensslCertificate(LEAF.replace("certificatePolicies=2.23.140.1.2.1", "")),
      "br_7_1_2_certificate_policies",
    );
    refused(
      opensslCertificate(
        "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\nextendedKeyUsage=serverAuth",
      ),
      "br_7_1_2_certificate_policies",
    );
  });
  it("br_7_1_2_2_subordinate_ca_eku: a subordinate CA without EKU", () => {
    refused(
      opensslCertificate(
        "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\ncertificatePolicies=2.23.140.1.2.1",
      ),
      "br_7_1_2_2_subordinate_ca_eku",
    );
  });
  it("br_7_1_2_8_ocsp_responder_no_cdp_aia: a responder certificate with CDP and AIA", () => {
    refused(
      opensslCertificate(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=OCSPSigning\ncrlDistributionPoints=URI:http://example.com/ca.crl\nauthorityInfoAccess=OCSP;URI:http://example.com/ocsp",
      ),
      "br_7_1_2_8_ocsp_responder_no_cdp_aia",
    );
  });
  it("br_6_1_5_tls_server_key: RSA with e = 3 and a 1024-bit modulus", () => {
    refused(
      opensslCertificate(LEAF, {
        key: ["-algorithm", "rsa", "-pkeyopt", "rsa_keygen_bits:2048", "-pkeyopt", "rsa_keygen_pubexp:3"],
      }),
      "br_6_1_5_tls_server_key",
    );
    refused(
      opensslCertificate(LEAF, { key: ["-algorithm", "rsa", "-pkeyopt", "rsa_keygen_bits:1024"] }),
      "br_6_1_5_tls_server_key",
    );
    expect(rulesHit("certificate", opensslCertificate(LEAF, { key: ["-algorithm", "rsa"] }))).not.toContain(
      "br_6_1_5_tls_server_key",
    );
  });
  it("br_7_1_3_1_tls_server_eddsa: Ed25519 is a warning (custom profiles may allow it)", () => {
    warned(opensslCertificate(LEAF, { key: ["-algorithm", "ed25519"] }), "br_7_1_3_1_tls_server_eddsa");
    expect(
      findings("certificate", opensslCertificate(LEAF, { key: ["-algorithm", "ed25519"] })).filter(
        (f) => f.severity === "error",
      ),
    ).toEqual([]);
  });
  it("br_3_2_2_6_wildcard_public_suffix: *.co.uk", () => {
    refused(opensslCertificate(LEAF.replace("DNS:example.com", "DNS:*.co.uk")), "br_3_2_2_6_wildcard_public_suffix");
    expect(rulesHit("certificate", opensslCertificate(LEAF.replace("DNS:example.com", "DNS:*.example.co.uk")))).toEqual(
      [],
    );
  });
  it("br_7_1_2_7_12_special_use_ip: unspecified, broadcast, link-local, multicast", () => {
    for (const ip of ["0.0.0.0", "255.255.255.255", "169.254.169.254", "224.0.0.1", "::", "fe80::1", "ff02::1"]) {
      refused(opensslCertificate(LEAF.replace("DNS:example.com", `IP:${ip}`)), "br_7_1_2_7_12_special_use_ip");
    }
    expect(rulesHit("certificate", opensslCertificate(LEAF.replace("DNS:example.com", "IP:192.0.2.1")))).toEqual([]);
  });
});

describe("CRL rules", () => {
  let key: CryptoKeyPair;
  const crl = async (params: Partial<x509.X509CrlCreateParams> = {}, keyPair = () => key) => {
    const made = await x509.X509CrlGenerator.create(
      {
        issuer: "CN=Lint Test CA",
        thisUpdate: new Date(Date.now() - 60_000),
        nextUpdate: new Date(Date.now() + 86_400_000),
        signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
        signingKey: keyPair().privateKey,
        extensions: [
          new x509.AuthorityKeyIdentifierExtension(caContext.issuer!.keyIdentifier!.toString("hex")),
          new x509.Extension("2.5.29.20", false, new Uint8Array([0x02, 0x01, 0x05])),
        ],
        ...params,
      },
      webcrypto as Crypto,
    );
    return tbsOf(Buffer.from(made.rawData));
  };
  beforeAll(async () => {
    key = (await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
      "sign",
      "verify",
    ])) as CryptoKeyPair;
  });

  it("a well-made CRL is clean", async () => {
    expect(
      findings(
        "crl",
        await crl({ entries: [{ serialNumber: "1234567890abcdef12", reason: x509.X509CrlReason.keyCompromise }] }),
      ),
    ).toEqual([]);
  });

  it("rfc5280_5_1_tbs_cert_list_structure", () => {
    expect(rulesHit("crl", Buffer.from("3000ff", "hex"))).toEqual(["rfc5280_5_1_tbs_cert_list_structure"]);
  });

  it("rfc5280_5_1_2_1_crl_version_2: a v1 CRL", async () => {
    const v2 = await crl();
    const v1 = sequence(
      ...children(readElement(v2).content)
        .slice(1)
        .map((p) => p.raw),
    );
    expect(rulesHit("crl", v1)).toContain("rfc5280_5_1_2_1_crl_version_2");
  });

  it("rfc5280_5_1_2_2_signature_matches_issuer_key: an ECDSA CRL for an RSA issuer", async () => {
    const rsa = execFileSync("openssl", ["genpkey", "-algorithm", "rsa", "-pkeyopt", "rsa_keygen_bits:2048"], {
      stdio: ["ignore", "pipe", "ignore"],
    });
    const spki = pemToDer(execFileSync("openssl", ["pkey", "-pubout"], { input: rsa }).toString());
    expect(rulesHit("crl", await crl(), { issuer: { spki } })).toContain(
      "rfc5280_5_1_2_2_signature_matches_issuer_key",
    );
  });

  it("rfc5280_5_1_2_5_crl_update_order: nextUpdate before thisUpdate, and none", async () => {
    expect(rulesHit("crl", await crl({ nextUpdate: new Date(Date.now() - 3_600_000) }))).toContain(
      "rfc5280_5_1_2_5_crl_update_order",
    );
    expect(rulesHit("crl", await crl({ nextUpdate: undefined }))).toContain("rfc5280_5_1_2_5_crl_update_order");
  });

  it("rfc5280_5_2_3_crl_number: absent, and critical", async () => {
    const aki = new x509.AuthorityKeyIdentifierExtension(caContext.issuer!.keyIdentifier!.toString("hex"));
    expect(rulesHit("crl", await crl({ extensions: [aki] }))).toContain("rfc5280_5_2_3_crl_number");
    const critical = new x509.Extension("2.5.29.20", true, new Uint8Array([0x02, 0x01, 0x05]));
    expect(rulesHit("crl", await crl({ extensions: [aki, critical] }))).toContain("rfc5280_5_2_3_crl_number");
  });

  it("rfc5280_5_2_1_crl_authority_key_identifier: absent, and of another key", async () => {
    const number = new x509.Extension("2.5.29.20", false, new Uint8Array([0x02, 0x01, 0x05]));
    expect(rulesHit("crl", await crl({ extensions: [number] }))).toContain(
      "rfc5280_5_2_1_crl_authority_key_identifier",
    );
    const other = { issuer: { ...caContext.issuer!, keyIdentifier: Buffer.alloc(20, 7) } };
    expect(rulesHit("crl", await crl(), other)).toContain("rfc5280_5_2_1_crl_authority_key_identifier");
  });

  it("rfc5280_5_2_5_issuing_distribution_point: not critical, two scopes, a bad URI", async () => {
    const base = [
      new x509.AuthorityKeyIdentifierExtension(caContext.issuer!.keyIdentifier!.toString("hex")),
      new x509.Extension("2.5.29.20", false, new Uint8Array([0x02, 0x01, 0x05])),
    ];
    const uri = Buffer.from("ftp://example.com/x.crl");
    const dp = explicit(0, explicit(0, tlv(0x86, uri)));
    const flags = Buffer.concat([Buffer.from([0x81, 0x01, 0xff]), Buffer.from([0x82, 0x01, 0xff])]);
    const idp = new x509.Extension("2.5.29.28", false, new Uint8Array(sequence(dp, flags)));
    const found = findings("crl", await crl({ extensions: [...base, idp] })).filter(
      (f) => f.rule === "rfc5280_5_2_5_issuing_distribution_point",
    );
    expect(found.map((f) => f.message)).toEqual([
      "issuingDistributionPoint is not critical",
      expect.stringContaining("more than one"),
      expect.stringContaining("ftp://"),
    ]);
  });

  it("rfc5280_5_2_3_crl_number_increases: a number not above the CA's last CRL", async () => {
    // The test CRLs carry cRLNumber 5.
    expect(rulesHit("crl", await crl(), { crl: { previousNumber: 5n } })).toContain(
      "rfc5280_5_2_3_crl_number_increases",
    );
    expect(rulesHit("crl", await crl(), { crl: { previousNumber: 9n } })).toContain(
      "rfc5280_5_2_3_crl_number_increases",
    );
    expect(rulesHit("crl", await crl(), { crl: { previousNumber: 4n } })).toEqual([]);
  });

  it("rfc5280_5_2_5_crl_scope_covers_cdp: an IDP naming another URL than the CA's certificates carry", async () => {
    const base = [
      new x509.AuthorityKeyIdentifierExtension(caContext.issuer!.keyIdentifier!.toString("hex")),
      new x509.Extension("2.5.29.20", false, new Uint8Array([0x02, 0x01, 0x05])),
    ];
    const idp = (url?: string) =>
      new x509.Extension(
        "2.5.29.28",
        true,
        new Uint8Array(
          sequence(
            ...(url ? [explicit(0, explicit(0, tlv(0x86, Buffer.from(url))))] : []),
            Buffer.from([0x81, 0x01, 0xff]),
          ),
        ),
      );
    const context = { issuer: { ...caContext.issuer!, crlDistributionPoint: "https://ca.example.com/crl/int.crl" } };
    // Finding 2: a CRL signed from a shell with another base URL.
    expect(
      rulesHit("crl", await crl({ extensions: [...base, idp("http://127.0.0.1:8080/crl/int.crl")] }), context),
    ).toEqual(["rfc5280_5_2_5_crl_scope_covers_cdp"]);
    expect(
      rulesHit("crl", await crl({ extensions: [...base, idp("https://ca.example.com/crl/int.crl")] }), context),
    ).toEqual([]);
    // No name: the scope covers any distribution point (the root's CRL).
    expect(rulesHit("crl", await crl({ extensions: [...base, idp()] }), context)).toEqual([]);
  });

  it("rfc5280_5_3_revoked_entries: a zero serial and a critical or unused reason", async () => {
    const badReason = new x509.Extension("2.5.29.21", true, new Uint8Array([0x0a, 0x01, 0x07]));
    const found = findings("crl", await crl({ entries: [{ serialNumber: "00", extensions: [badReason] }] }));
    expect(found.filter((f) => f.rule === "rfc5280_5_3_revoked_entries").map((f) => f.message)).toEqual([
      expect.stringContaining("zero"),
      expect.stringContaining("critical"),
      expect.stringContaining("not a CRLReason"),
    ]);
  });

  it("br_7_2_2_crl_reason_codes: certificateHold and aACompromise are warnings", async () => {
    const found = findings(
      "crl",
      await crl({
        entries: [
          { serialNumber: "1234567890abcdef12", reason: x509.X509CrlReason.certificateHold },
          { serialNumber: "1234567890abcdef13", reason: x509.X509CrlReason.aACompromise },
        ],
      }),
    );
    expect(found).toEqual([
      expect.objectContaining({
        rule: "br_7_2_2_crl_reason_codes",
        severity: "warning",
        message: expect.stringContaining("certificateHold"),
      }),
      expect.objectContaining({
        rule: "br_7_2_2_crl_reason_codes",
        severity: "warning",
        message: expect.stringContaining("aACompromise"),
      }),
    ]);
  });
});

describe("OCSP ResponseData rules", () => {
  const certId = sequence(
    sequence(oid("1.3.14.3.2.26")),
    tlv(0x04, Buffer.alloc(20)),
    tlv(0x04, Buffer.alloc(20)),
    tlv(0x02, Buffer.from([1])),
  );
  const now = new Date(Math.floor(Date.now() / 1000) * 1000);
  const at = (hours: number) => new Date(now.getTime() + hours * 3_600_000);
  const data = (producedAt: Date, thisUpdate: Date, nextUpdate: Date) =>
    responseData(Buffer.alloc(20), producedAt, [{ certId, status: { status: "good" }, thisUpdate, nextUpdate }]);

  it("a well-made answer is clean", () => {
    expect(findings("ocsp", data(now, now, at(24)))).toEqual([]);
  });
  it("rfc6960_4_2_1_response_data_structure", () => {
    expect(rulesHit("ocsp", Buffer.from("3003020100", "hex"))).toEqual(["rfc6960_4_2_1_response_data_structure"]);
  });
  it("rfc6960_4_2_1_responses: no SingleResponse", () => {
    expect(rulesHit("ocsp", responseData(Buffer.alloc(20), now, []))).toContain("rfc6960_4_2_1_responses");
  });
  it("rfc6960_4_2_2_1_time_order: thisUpdate after producedAt, nextUpdate before thisUpdate", () => {
    expect(rulesHit("ocsp", data(now, at(1), at(24)))).toContain("rfc6960_4_2_2_1_time_order");
    expect(rulesHit("ocsp", data(now, now, at(-1)))).toContain("rfc6960_4_2_2_1_time_order");
  });
  it("br_4_9_10_ocsp_validity_interval: 11 days is a warning", () => {
    expect(findings("ocsp", data(now, now, at(24 * 11)))).toEqual([
      expect.objectContaining({ rule: "br_4_9_10_ocsp_validity_interval", severity: "warning" }),
    ]);
  });
});

describe("the linter", () => {
  it("throws a LintError naming the rule on an error, returns warnings otherwise", () => {
    const error = (() => {
      try {
        linter.check("ocsp", responseData(Buffer.alloc(20), new Date(), []));
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(LintError);
    expect((error as LintError).message).toContain("rfc6960_4_2_1_responses: no SingleResponse");
  });
  it("every rule has a unique name and cites its section", () => {
    const names = defaultRules.map((r) => r.name);
    expect(new Set(names).size).toBe(names.length);
    for (const rule of defaultRules) expect(rule.description, rule.name).toMatch(/RFC \d+ §|BR §/);
  });
});

describe("keyward lint's reading of whole artifacts", () => {
  it("tells certificates, CRLs and OCSP responses apart, and checks the outer signatureAlgorithm", () => {
    const der = pemToDer(readFileSync(join(dir, "ca.pem"), "utf8"));
    const artifact = identify(der);
    expect(artifact.target).toBe("certificate");
    expect(lintArtifact(linter, artifact).filter((f) => f.severity === "error")).toEqual([]);
    const [tbs, , signature] = children(readElement(der).content);
    const swapped = sequence(tbs!.raw, sequence(oid("1.2.840.10045.4.3.3")), signature!.raw);
    expect(lintArtifact(linter, identify(swapped)).map((f) => f.rule)).toContain(
      "rfc5280_4_1_1_2_signature_algorithm_match",
    );
    expect(identify(Buffer.from("30030a0101", "hex"))).toEqual({
      target: "ocsp",
      note: expect.stringContaining("status 1"),
    });
  });
});
