import { commonNameSubject } from "./certificate-der.js";
import {
  bitString,
  children,
  DerError,
  decodeOid,
  type DerElement,
  expectTag,
  octetString,
  oid,
  readElement,
  sequence,
  set,
  smallInteger,
  tlv,
} from "./der.js";
import { decodeGeneralNames, encodeGeneralNames, type GeneralName } from "./general-names.js";

/**
 * A PKCS#10 CertificationRequest (RFC 2986) decoded with Keyward's own DER reader: the CSR is on
 * the issuance hot path, and a schema-driven ASN.1 library spent more time on it than signing.
 */
export interface DecodedCsr {
  /** The signed CertificationRequestInfo, exactly as received. */
  info: Buffer;
  spki: Buffer;
  commonName: string | undefined;
  /** Names of the requested subjectAltName extension, if any. */
  subjectAltNames: GeneralName[] | undefined;
  signatureAlgorithm: DerElement;
  signature: Buffer;
}

const OID_COMMON_NAME = "2.5.4.3";
const OID_EXTENSION_REQUEST = "1.2.840.113549.1.9.14";
const OID_SUBJECT_ALT_NAME = "2.5.29.17";

/** Throws DerError naming the part that is malformed. */
export function decodeCsr(der: Buffer): DecodedCsr {
  const outer = expectTag(readElement(der), 0x30, "a CertificationRequest SEQUENCE");
  if (outer.raw.length !== der.length) throw new DerError("trailing bytes after the CertificationRequest");
  const [info, algorithm, signature, ...rest] = children(outer.content);
  expectTag(info, 0x30, "a CertificationRequestInfo SEQUENCE");
  expectTag(algorithm, 0x30, "a signature AlgorithmIdentifier");
  expectTag(signature, 0x03, "a signature BIT STRING");
  if (rest.length) throw new DerError("unexpected elements after the signature");
  if (signature!.content[0] !== 0) throw new DerError("the signature BIT STRING has unused bits");

  const [version, subject, spki, attributes, ...more] = children(info!.content);
  const v = expectTag(version, 0x02, "the CSR version INTEGER");
  if (v.content.length !== 1 || v.content[0] !== 0) throw new DerError("the CSR version must be 0 (v1)");
  expectTag(subject, 0x30, "the subject Name");
  expectTag(spki, 0x30, "the SubjectPublicKeyInfo");
  if (more.length) throw new DerError("unexpected elements in the CertificationRequestInfo");
  return {
    info: info!.raw,
    spki: spki!.raw,
    commonName: commonNameOf(subject!),
    subjectAltNames: attributes ? requestedSans(expectTag(attributes, 0xa0, "the [0] attributes")) : undefined,
    signatureAlgorithm: algorithm!,
    signature: signature!.content.subarray(1),
  };
}

/** The most specific (last) CN of a Name, as X.509 clients read it. */
function commonNameOf(name: DerElement): string | undefined {
  let found: string | undefined;
  for (const rdn of children(name.content)) {
    expectTag(rdn, 0x31, "a RelativeDistinguishedName SET");
    for (const atv of children(rdn.content)) {
      const [type, value] = children(expectTag(atv, 0x30, "an AttributeTypeAndValue").content);
      if (decodeOid(expectTag(type, 0x06, "an attribute type OID").content) === OID_COMMON_NAME) {
        if (!value) throw new DerError("a CN without a value");
        found = directoryString(value);
      }
    }
  }
  return found;
}

function directoryString(value: DerElement): string {
  switch (value.tag) {
    case 0x0c: // UTF8String
      return value.content.toString("utf8");
    case 0x13: // PrintableString
    case 0x16: // IA5String
    case 0x14: // TeletexString (treated as Latin-1, as most decoders do)
      return value.content.toString("latin1");
    case 0x1e: // BMPString: UTF-16BE
      return Buffer.from(value.content).swap16().toString("utf16le");
    default:
      throw new DerError(`unsupported string type 0x${value.tag.toString(16)} in the subject`);
  }
}

function requestedSans(attributes: DerElement): GeneralName[] | undefined {
  for (const attribute of children(attributes.content)) {
    const [type, values] = children(expectTag(attribute, 0x30, "an Attribute").content);
    if (decodeOid(expectTag(type, 0x06, "an attribute OID").content) !== OID_EXTENSION_REQUEST) continue;
    const [extensions] = children(expectTag(values, 0x31, "the extensionRequest values SET").content);
    for (const extension of children(expectTag(extensions, 0x30, "the requested Extensions").content)) {
      const parts = children(expectTag(extension, 0x30, "an Extension").content);
      const id = decodeOid(expectTag(parts[0], 0x06, "an extension OID").content);
      if (id !== OID_SUBJECT_ALT_NAME) continue;
      const value = expectTag(parts[parts.length - 1], 0x04, "an extension value OCTET STRING");
      return decodeGeneralNames(value.content);
    }
  }
  return undefined;
}

const HASHES: Record<string, string> = {
  "2.16.840.1.101.3.4.2.1": "sha256",
  "2.16.840.1.101.3.4.2.2": "sha384",
  "2.16.840.1.101.3.4.2.3": "sha512",
};

/** How to check a CSR signature with Node's crypto, or an error message for algorithms we refuse. */
function verifier(algorithm: DerElement): { hash: string | null; pss?: number } {
  const [id, params] = children(algorithm.content);
  const oid = decodeOid(expectTag(id, 0x06, "a signature algorithm OID").content);
  switch (oid) {
    case "1.2.840.10045.4.3.2":
    case "1.2.840.113549.1.1.11":
      return { hash: "sha256" };
    case "1.2.840.10045.4.3.3":
    case "1.2.840.113549.1.1.12":
      return { hash: "sha384" };
    case "1.2.840.10045.4.3.4":
    case "1.2.840.113549.1.1.13":
      return { hash: "sha512" };
    case "1.3.101.112":
      return { hash: null };
    case "1.2.840.113549.1.1.10":
      return pssParameters(expectTag(params, 0x30, "RSASSA-PSS parameters"));
    case "1.2.840.113549.1.1.5":
    case "1.2.840.10045.4.1":
      throw new DerError("SHA-1 CSR signatures are not accepted; sign the CSR with SHA-256 or stronger");
    default:
      throw new DerError(`unsupported CSR signature algorithm ${oid}`);
  }
}

function pssParameters(params: DerElement): { hash: string; pss: number } {
  let hash: string | undefined;
  let mgfHash: string | undefined;
  let saltLength = 20;
  for (const field of children(params.content)) {
    const [inner] = children(field.content);
    if (field.tag === 0xa0) hash = HASHES[decodeOid(children(expectTag(inner, 0x30, "a hash").content)[0]!.content)];
    else if (field.tag === 0xa1) {
      const [, mgfParams] = children(expectTag(inner, 0x30, "a mask generation function").content);
      mgfHash = HASHES[decodeOid(children(expectTag(mgfParams, 0x30, "MGF1 parameters").content)[0]!.content)];
    } else if (field.tag === 0xa2) saltLength = Number(readInteger(expectTag(inner, 0x02, "a salt length")));
  }
  if (!hash || hash !== mgfHash)
    throw new DerError("RSASSA-PSS CSR signatures must use SHA-2 with MGF1 of the same hash");
  return { hash, pss: saltLength };
}

function readInteger(element: DerElement): bigint {
  if (element.content.length === 0 || element.content.length > 4) throw new DerError("integer out of range");
  return BigInt(`0x${element.content.toString("hex")}`);
}

/** What checking a CSR's key and self-signature takes: plain bytes, so a thread can do it. */
export interface CsrSignatureCheck {
  spki: Uint8Array;
  info: Uint8Array;
  signature: Uint8Array;
  /** null for Ed25519 (no separate hash). */
  hash: string | null;
  /** RSASSA-PSS salt length, when the CSR is signed with PSS. */
  pss?: number;
  /** Why the signature cannot be checked, when its algorithm is refused or malformed. */
  refused?: string;
}

/** The check of the CSR's self-signature. */
export function signatureCheck(csr: DecodedCsr): CsrSignatureCheck {
  const signed = { spki: csr.spki, info: csr.info, signature: csr.signature };
  try {
    return { ...signed, ...verifier(csr.signatureAlgorithm) };
  } catch (error) {
    return { ...signed, hash: null, refused: error instanceof DerError ? error.message : "it cannot be decoded" };
  }
}

/**
 * The CertificationRequestInfo of a CSR Keyward makes for a key it holds (a KMS key pair): the
 * subject CN, the key, and the requested subjectAltName when there are names.
 */
export function certificationRequestInfo(
  commonName: string | undefined,
  spki: Buffer,
  sans: ReadonlyArray<{ type: string; value: string }>,
): Buffer {
  const extensionRequest = sans.length
    ? sequence(
        oid(OID_EXTENSION_REQUEST),
        set(sequence(sequence(oid(OID_SUBJECT_ALT_NAME), octetString(encodeGeneralNames(sans))))),
      )
    : undefined;
  return sequence(
    smallInteger(0),
    commonNameSubject(commonName),
    spki,
    tlv(0xa0, ...(extensionRequest ? [extensionRequest] : [])),
  );
}

/** The signed CertificationRequest: info, the signature's AlgorithmIdentifier and the signature. */
export function certificationRequest(info: Buffer, signatureAlgorithm: Buffer, signature: Buffer): Buffer {
  return sequence(info, signatureAlgorithm, bitString(signature));
}
