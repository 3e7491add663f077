import {
  bitString,
  children,
  explicit,
  octetString,
  oid,
  readElement,
  sequence,
  set,
  smallInteger,
  tlv,
} from "./der.js";

/**
 * RFC 5652 EnvelopedData for one recipient, around content that was encrypted elsewhere (in the
 * token): KeyTransRecipientInfo with RSAES-OAEP for RSA recipients, KeyAgreeRecipientInfo with
 * dhSinglePass-stdDH-sha256kdf-scheme and AES-256 key wrap (RFC 5753) for EC recipients.
 * `openssl cms -decrypt -inkey recipient.key` opens both.
 */
const OID = {
  data: "1.2.840.113549.1.7.1",
  envelopedData: "1.2.840.113549.1.7.3",
  rsaesOaep: "1.2.840.113549.1.1.7",
  aes256Cbc: "2.16.840.1.101.3.4.1.42",
  aes256Wrap: "2.16.840.1.101.3.4.1.45",
  ecPublicKey: "1.2.840.10045.2.1",
  stdDhSha256Kdf: "1.3.132.1.11.1",
};

/** The recipient as CMS names it: the certificate's issuer and serial number, as DER taken from it. */
export interface CmsRecipient {
  issuer: Buffer;
  serialNumber: Buffer;
}

export function cmsRecipientOf(certificateDer: Buffer): CmsRecipient {
  const tbs = children(readElement(certificateDer).content)[0]!;
  const fields = children(tbs.content);
  const offset = fields[0]!.tag === 0xa0 ? 1 : 0;
  return { serialNumber: fields[offset]!.raw, issuer: fields[offset + 2]!.raw };
}

/**
 * The X9.63 KDF input that follows Z for a 256-bit KEK in one block: counter 1, then
 * ECC-CMS-SharedInfo { keyInfo aes256-wrap, suppPubInfo [2] 256 bits } (RFC 5753 §7.2).
 */
export function kariSharedInfo(): Buffer {
  const suppPubInfo = Buffer.from([0, 0, 1, 0]);
  const info = sequence(sequence(oid(OID.aes256Wrap)), explicit(2, octetString(suppPubInfo)));
  return Buffer.concat([Buffer.from([0, 0, 0, 1]), info]);
}

export interface CmsEnvelope {
  recipient: CmsRecipient;
  iv: Buffer;
  encryptedContent: Buffer;
  encryptedKey: Buffer;
  /** Present for EC recipients (KARI): the originator's ephemeral public point. */
  ephemeralPoint?: Buffer;
}

/** ContentInfo(EnvelopedData) DER. */
export function envelopedData(envelope: CmsEnvelope): Buffer {
  const rid = sequence(envelope.recipient.issuer, envelope.recipient.serialNumber);
  let recipientInfo: Buffer;
  let version: number;
  if (envelope.ephemeralPoint) {
    const originator = explicit(0, tlv(0xa1, sequence(oid(OID.ecPublicKey)), bitString(envelope.ephemeralPoint)));
    const keyEncryptionAlgorithm = sequence(oid(OID.stdDhSha256Kdf), sequence(oid(OID.aes256Wrap)));
    const recipientEncryptedKeys = sequence(sequence(rid, octetString(envelope.encryptedKey)));
    recipientInfo = tlv(0xa1, smallInteger(3), originator, keyEncryptionAlgorithm, recipientEncryptedKeys);
    version = 2;
  } else {
    // RSAES-OAEP with the default parameters (SHA-1, MGF1-SHA-1): an empty SEQUENCE.
    const keyEncryptionAlgorithm = sequence(oid(OID.rsaesOaep), sequence());
    recipientInfo = sequence(smallInteger(0), rid, keyEncryptionAlgorithm, octetString(envelope.encryptedKey));
    version = 0;
  }
  const encryptedContentInfo = sequence(
    oid(OID.data),
    sequence(oid(OID.aes256Cbc), octetString(envelope.iv)),
    tlv(0x80, envelope.encryptedContent),
  );
  const enveloped = sequence(smallInteger(version), set(recipientInfo), encryptedContentInfo);
  return sequence(oid(OID.envelopedData), explicit(0, enveloped));
}
