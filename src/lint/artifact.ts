/**
 * `keyward lint FILE`: any certificate, CRL or OCSP response (PEM or DER, Keyward's or not),
 * unwrapped to the TBS the rules read, plus the one check the gate never needs because the signer
 * writes both fields from the same key type: the outer signatureAlgorithm equals the TBS's.
 */
import { children, DerError, expectTag, readElement } from "../pki/der.js";
import { subjectKeyIdentifier } from "./extensions.js";
import type { LintContext, LintFinding, LintTarget, Linter } from "./index.js";
import { parseTbsCertificate } from "./parse.js";

export interface Artifact {
  target: LintTarget;
  /** What the rules read; undefined when there is nothing to lint (an OCSP error response). */
  tbs?: Buffer;
  /** The outer signatureAlgorithm (DER), when the artifact is signed. */
  outerAlgorithm?: Buffer;
  note?: string;
}

const PEM = /-----BEGIN ([A-Z0-9 ]+)-----([A-Za-z0-9+/=\s]*?)-----END \1-----/;

/** The DER in a file: the first PEM block if there is one, else the bytes themselves. */
export function readDer(bytes: Buffer): Buffer {
  const match = PEM.exec(bytes.toString("latin1"));
  return match ? Buffer.from(match[2]!.replace(/\s+/g, ""), "base64") : bytes;
}

/** What kind of artifact the DER is, told by its shape (a PEM label may lie or be absent). */
export function identify(der: Buffer): Artifact {
  const top = expectTag(readElement(der), 0x30, "a DER SEQUENCE");
  const parts = children(top.content);
  if (parts[0]?.tag === 0x0a) {
    // OCSPResponse: responseStatus, [0] ResponseBytes { responseType, response OCTET STRING }.
    const status = parts[0].content[0]!;
    if (status !== 0 || !parts[1])
      return { target: "ocsp", note: `an OCSP error response (status ${status}): nothing signed` };
    const bytes = children(
      expectTag(children(expectTag(parts[1], 0xa0, "responseBytes").content)[0], 0x30, "ResponseBytes").content,
    );
    const basic = children(
      expectTag(readElement(expectTag(bytes[1], 0x04, "response").content), 0x30, "BasicOCSPResponse").content,
    );
    return { target: "ocsp", tbs: basic[0]!.raw, outerAlgorithm: basic[1]?.raw };
  }
  const tbs = expectTag(parts[0], 0x30, "a to-be-signed SEQUENCE");
  const fields = children(tbs.content);
  // TBSCertificate: [0] version, or (v1) serial, signature, issuer, validity SEQUENCE.
  // TBSCertList: version INTEGER (or none in v1), signature, issuer, thisUpdate TIME.
  const isTime = (i: number) => fields[i]?.tag === 0x17 || fields[i]?.tag === 0x18;
  const isCrl = fields[0]?.tag === 0x02 ? isTime(3) : fields[0]?.tag === 0x30 && isTime(2);
  const certificate = fields[0]?.tag === 0xa0 || (fields[0]?.tag === 0x02 && fields[3]?.tag === 0x30);
  if (!certificate && !isCrl) throw new DerError("not a certificate, a CRL or an OCSP response");
  return { target: certificate ? "certificate" : "crl", tbs: tbs.raw, outerAlgorithm: parts[1]?.raw };
}

/** The TBS `signature` field: its first SEQUENCE (after a certificate's version and serial, a CRL's version). */
function tbsAlgorithm(target: LintTarget, tbs: Buffer): Buffer | undefined {
  if (target === "ocsp") return undefined;
  return children(readElement(tbs).content).find((field) => field.tag === 0x30)?.raw;
}

/** The lint context from an issuer certificate: its key and key identifier. */
export function issuerContext(certificateDer: Buffer): LintContext {
  const tbs = parseTbsCertificate(
    expectTag(children(readElement(certificateDer).content)[0], 0x30, "TBSCertificate").raw,
  );
  return { issuer: { spki: tbs.spki.raw, keyIdentifier: subjectKeyIdentifier(tbs.extensions) } };
}

export function lintArtifact(linter: Linter, artifact: Artifact, context?: LintContext): LintFinding[] {
  if (!artifact.tbs) return [];
  const findings = linter.findings(artifact.target, artifact.tbs, context);
  const inner = tbsAlgorithm(artifact.target, artifact.tbs);
  if (inner && artifact.outerAlgorithm && !inner.equals(artifact.outerAlgorithm)) {
    findings.unshift({
      rule:
        artifact.target === "crl"
          ? "rfc5280_5_1_1_2_signature_algorithm_match"
          : "rfc5280_4_1_1_2_signature_algorithm_match",
      severity: "error",
      message: "the outer signatureAlgorithm differs from the TBS signature field",
    });
  }
  return findings;
}
