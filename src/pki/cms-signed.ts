import {
  children,
  explicit,
  octetString,
  oid,
  readElement,
  sequence,
  set,
  smallInteger,
  tlv,
  x509Time,
} from "./der.js";

const ID_DATA = "1.2.840.113549.1.7.1";
const ID_SIGNED_DATA = "1.2.840.113549.1.7.2";
const ATTR_CONTENT_TYPE = "1.2.840.113549.1.9.3";
const ATTR_MESSAGE_DIGEST = "1.2.840.113549.1.9.4";
const ATTR_SIGNING_TIME = "1.2.840.113549.1.9.5";

/** DER SET OF: members in ascending order of their encodings (X.690 §11.6). */
function setOf(members: Buffer[]): Buffer {
  return set(...[...members].sort(Buffer.compare));
}

/**
 * The signed attributes of a CMS SignerInfo (RFC 5652 §5.3): content type id-data, signing time and
 * message digest, as the SET OF that is signed (tag 0x31; the SignerInfo carries it as [0]).
 */
export function cmsSignedAttributes(digest: Buffer, signingTime: Date): Buffer {
  return setOf([
    sequence(oid(ATTR_CONTENT_TYPE), set(oid(ID_DATA))),
    sequence(oid(ATTR_SIGNING_TIME), set(x509Time(signingTime))),
    sequence(oid(ATTR_MESSAGE_DIGEST), set(octetString(digest))),
  ]);
}

export interface CmsSignature {
  /** Certificates to include, the signer's first (DER). */
  certificates: Buffer[];
  /** AlgorithmIdentifier DER of the digest (e.g. SHA-256) and of the signature. */
  digestAlgorithm: Buffer;
  signatureAlgorithm: Buffer;
  /** What cmsSignedAttributes returned, and the signature over it. */
  signedAttributes: Buffer;
  signature: Buffer;
  /** The content, or undefined for a detached signature. */
  content?: Buffer;
}

/** ContentInfo of a SignedData with one signer named by issuer and serial (RFC 5652 §5). */
export function cmsSignedData(s: CmsSignature): Buffer {
  const [issuer, serial] = issuerAndSerial(s.certificates[0]!);
  const signerInfo = sequence(
    smallInteger(1),
    sequence(issuer, serial),
    s.digestAlgorithm,
    // [0] IMPLICIT SET OF Attribute: the signed SET with its tag changed.
    Buffer.concat([Buffer.from([0xa0]), s.signedAttributes.subarray(1)]),
    s.signatureAlgorithm,
    octetString(s.signature),
  );
  const encapsulated = sequence(oid(ID_DATA), ...(s.content ? [explicit(0, octetString(s.content))] : []));
  const signedData = sequence(
    smallInteger(1),
    set(s.digestAlgorithm),
    encapsulated,
    tlv(0xa0, ...s.certificates),
    set(signerInfo),
  );
  return sequence(oid(ID_SIGNED_DATA), explicit(0, signedData));
}

/** The issuer Name and serialNumber of a certificate, as their DER elements. */
function issuerAndSerial(certificate: Buffer): [Buffer, Buffer] {
  const [tbs] = children(readElement(certificate).content);
  const fields = children(tbs!.content);
  const offset = fields[0]!.tag === 0xa0 ? 1 : 0;
  return [fields[offset + 2]!.raw, fields[offset]!.raw];
}
