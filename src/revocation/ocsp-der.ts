import { createHash } from "node:crypto";
import {
  children,
  type DerElement,
  DerError,
  decodeOid,
  enumerated,
  explicit,
  expectTag,
  generalizedTime,
  octetString,
  oid,
  readElement,
  sequence,
  tlv,
} from "../pki/der.js";

/** RFC 6960 §4.2.1 OCSPResponseStatus. */
export const OCSP_STATUS = {
  successful: 0,
  malformedRequest: 1,
  internalError: 2,
  tryLater: 3,
  unauthorized: 6,
} as const;

const HASH_OIDS: Record<string, "sha1" | "sha256"> = {
  "1.3.14.3.2.26": "sha1",
  "2.16.840.1.101.3.4.2.1": "sha256",
};
const NONCE_OID = "1.3.6.1.5.5.7.48.1.2";
const BASIC_RESPONSE_OID = "1.3.6.1.5.5.7.48.1.1";

export interface CertId {
  /** "sha1" or "sha256", or the OID when it is neither. */
  hash: string;
  issuerNameHash: Buffer;
  issuerKeyHash: Buffer;
  /** Lowercase hex, no leading zero octets: Keyward's serial form. */
  serial: string;
  /** The CertID exactly as received: echoed in the response. */
  raw: Buffer;
}

export interface OcspRequest {
  certIds: CertId[];
  /** extnValue of the nonce extension, echoed as-is when nonces are honoured. */
  nonce: Buffer | undefined;
}

/** Parses a DER OCSPRequest; throws DerError for anything malformed. */
export function parseOcspRequest(der: Buffer): OcspRequest {
  const outer = expectTag(readElement(der), 0x30, "OCSPRequest SEQUENCE");
  if (outer.raw.length !== der.length) throw new DerError("trailing bytes after OCSPRequest");
  const tbs = expectTag(children(outer.content)[0], 0x30, "TBSRequest SEQUENCE");
  const parts = children(tbs.content);
  let i = 0;
  if (parts[i]?.tag === 0xa0) i++; // version
  if (parts[i]?.tag === 0xa1) i++; // requestorName
  const requestList = expectTag(parts[i++], 0x30, "requestList SEQUENCE");
  const certIds = children(requestList.content).map((request) => {
    const certId = expectTag(
      children(expectTag(request, 0x30, "Request SEQUENCE").content)[0],
      0x30,
      "CertID SEQUENCE",
    );
    const [alg, nameHash, keyHash, serial] = children(certId.content);
    const algOid = decodeOid(
      expectTag(children(expectTag(alg, 0x30, "hashAlgorithm").content)[0], 0x06, "hash OID").content,
    );
    const serialContent = expectTag(serial, 0x02, "serialNumber INTEGER").content;
    if (serialContent.length === 0 || serialContent.length > 21) throw new DerError("bad serialNumber length");
    let start = 0;
    while (start < serialContent.length - 1 && serialContent[start] === 0) start++;
    return {
      hash: HASH_OIDS[algOid] ?? algOid,
      issuerNameHash: expectTag(nameHash, 0x04, "issuerNameHash").content,
      issuerKeyHash: expectTag(keyHash, 0x04, "issuerKeyHash").content,
      serial: serialContent.subarray(start).toString("hex"),
      raw: certId.raw,
    };
  });
  if (certIds.length === 0) throw new DerError("requestList is empty");
  let nonce: Buffer | undefined;
  const extensions = parts[i];
  if (extensions?.tag === 0xa2) {
    for (const ext of children(expectTag(children(extensions.content)[0], 0x30, "Extensions").content)) {
      const fields = children(ext.content);
      if (decodeOid(expectTag(fields[0], 0x06, "extnID").content) === NONCE_OID) {
        nonce = expectTag(fields[fields.length - 1], 0x04, "extnValue").content;
        if (nonce.length > 128) throw new DerError("nonce is too long");
      }
    }
  }
  return { certIds, nonce };
}

export type SingleStatus =
  | { status: "good" }
  | { status: "revoked"; revokedAt: Date; reason: number | null }
  | { status: "unknown" };

export interface SingleResponse {
  certId: Buffer;
  status: SingleStatus;
  thisUpdate: Date;
  nextUpdate: Date;
}

function certStatus(s: SingleStatus): Buffer {
  switch (s.status) {
    case "good":
      return Buffer.from([0x80, 0x00]);
    case "unknown":
      return Buffer.from([0x82, 0x00]);
    case "revoked": {
      const parts = [generalizedTime(s.revokedAt)];
      if (s.reason !== null && s.reason !== 0) parts.push(explicit(0, enumerated(s.reason)));
      return tlv(0xa1, ...parts);
    }
  }
}

/** ResponseData (the to-be-signed part of a BasicOCSPResponse), responder identified by key hash. */
export function responseData(
  responderKeyHash: Buffer,
  producedAt: Date,
  responses: SingleResponse[],
  nonce?: Buffer,
): Buffer {
  const singles = responses.map((r) =>
    sequence(r.certId, certStatus(r.status), generalizedTime(r.thisUpdate), explicit(0, generalizedTime(r.nextUpdate))),
  );
  const fields = [explicit(2, octetString(responderKeyHash)), generalizedTime(producedAt), sequence(...singles)];
  if (nonce) fields.push(explicit(1, sequence(sequence(oid(NONCE_OID), octetString(nonce)))));
  return sequence(...fields);
}

/**
 * OCSPResponse around a signed BasicOCSPResponse. `signedBasic` is SEQUENCE { tbs, alg, sig };
 * the responder certificate is appended as `certs [0]` so clients can verify the delegation.
 */
export function successfulResponse(signedBasic: Buffer, responderCertificate: Buffer): Buffer {
  const basic = readElement(signedBasic);
  const withCerts = sequence(basic.content, explicit(0, sequence(responderCertificate)));
  return sequence(
    enumerated(OCSP_STATUS.successful),
    explicit(0, sequence(oid(BASIC_RESPONSE_OID), octetString(withCerts))),
  );
}

export function errorResponse(status: number): Buffer {
  return sequence(enumerated(status));
}

/** The subjectPublicKey bits of a DER SPKI (what issuerKeyHash and responder KeyHash hash). */
export function subjectPublicKeyBits(spki: Buffer): Buffer {
  const [, bits] = children(expectTag(readElement(spki), 0x30, "SubjectPublicKeyInfo").content);
  return expectTag(bits, 0x03, "subjectPublicKey BIT STRING").content.subarray(1);
}

/** The subject Name and SPKI of a DER certificate, as DER. */
export function certificateSubjectAndSpki(certificate: Buffer): { subject: Buffer; spki: Buffer } {
  const tbs = expectTag(
    children(expectTag(readElement(certificate), 0x30, "Certificate").content)[0],
    0x30,
    "TBSCertificate",
  );
  const fields = children(tbs.content);
  const offset = fields[0]?.tag === 0xa0 ? 1 : 0;
  return { subject: fields[offset + 4]!.raw, spki: fields[offset + 5]!.raw };
}

export function hash(algorithm: "sha1" | "sha256", data: Uint8Array): Buffer {
  return createHash(algorithm).update(data).digest();
}

/** What one OCSP answer says about one certificate, read back from the DER a client receives. */
export interface OcspAnswerSummary {
  responseStatus: number;
  status: "good" | "revoked" | "unknown" | null;
  producedAt: Date | null;
  thisUpdate: Date | null;
  nextUpdate: Date | null;
  revokedAt: Date | null;
  reason: number | null;
}

function readGeneralizedTime(element: DerElement): Date {
  const text = expectTag(element, 0x18, "GeneralizedTime").content.toString("latin1");
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!m) throw new DerError(`unsupported GeneralizedTime ${text}`);
  return new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
}

/**
 * Decodes the first SingleResponse of an OCSPResponse (the shape this responder signs). The
 * signature is not checked here: this reports what we answer, clients verify it themselves.
 */
export function describeOcspResponse(der: Buffer): OcspAnswerSummary {
  const [statusElement, bytes] = children(expectTag(readElement(der), 0x30, "OCSPResponse").content);
  const responseStatus = expectTag(statusElement, 0x0a, "responseStatus ENUMERATED").content[0] ?? 0;
  const empty = { status: null, producedAt: null, thisUpdate: null, nextUpdate: null, revokedAt: null, reason: null };
  if (!bytes) return { responseStatus, ...empty };
  const [, octets] = children(
    expectTag(children(expectTag(bytes, 0xa0, "responseBytes").content)[0], 0x30, "ResponseBytes").content,
  );
  const basic = expectTag(
    readElement(expectTag(octets, 0x04, "response OCTET STRING").content),
    0x30,
    "BasicOCSPResponse",
  );
  const tbs = children(expectTag(children(basic.content)[0], 0x30, "ResponseData").content);
  let i = tbs[0]?.tag === 0xa0 ? 2 : 1;
  const producedAt = readGeneralizedTime(tbs[i++]!);
  const single = children(
    expectTag(children(expectTag(tbs[i], 0x30, "responses").content)[0], 0x30, "SingleResponse").content,
  );
  const [, statusField, thisUpdate, next] = single;
  let status: OcspAnswerSummary["status"] = "unknown";
  let revokedAt: Date | null = null;
  let reason: number | null = null;
  if (statusField?.tag === 0x80) status = "good";
  else if (statusField?.tag === 0xa1) {
    status = "revoked";
    const [time, reasonField] = children(statusField.content);
    revokedAt = readGeneralizedTime(time!);
    if (reasonField) reason = expectTag(readElement(reasonField.content), 0x0a, "CRLReason").content[0] ?? null;
  }
  return {
    responseStatus,
    status,
    producedAt,
    thisUpdate: readGeneralizedTime(thisUpdate!),
    nextUpdate: next?.tag === 0xa0 ? readGeneralizedTime(readElement(next.content)) : null,
    revokedAt,
    reason,
  };
}
