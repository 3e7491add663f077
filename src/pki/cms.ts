import {
  constants,
  createCipheriv,
  createDecipheriv,
  createHash,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
} from "node:crypto";
import {
  bitString,
  children,
  DerError,
  decodeOid,
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

const KW_IV = Buffer.from("a6a6a6a6a6a6a6a6", "hex");

/**
 * EnvelopedData to a certificate, sealed in software: for secrets that live in host memory anyway
 * (escrow shares, which Shamir's scheme splits in the process). Keys from the token use the
 * HSM path (sealForCms) instead.
 */
export function sealToCertificate(certificateDer: Buffer, content: Buffer): Buffer {
  const recipientKey = createPublicKey({ key: spkiOf(certificateDer), format: "der", type: "spki" });
  const cek = randomBytes(32);
  const iv = randomBytes(16);
  const cipher = createCipheriv("aes-256-cbc", cek, iv);
  const encryptedContent = Buffer.concat([cipher.update(content), cipher.final()]);
  try {
    if (recipientKey.asymmetricKeyType === "rsa") {
      const encryptedKey = publicEncrypt(
        { key: recipientKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha1" },
        cek,
      );
      return envelopedData({ recipient: cmsRecipientOf(certificateDer), iv, encryptedContent, encryptedKey });
    }
    const curve = (recipientKey.export({ format: "jwk" }) as { crv: string }).crv;
    const ephemeral = generateKeyPairSync("ec", { namedCurve: curve });
    const kek = kariKek(diffieHellman({ privateKey: ephemeral.privateKey, publicKey: recipientKey }));
    const wrap = createCipheriv("id-aes256-wrap", kek, KW_IV);
    const encryptedKey = Buffer.concat([wrap.update(cek), wrap.final()]);
    kek.fill(0);
    const jwk = ephemeral.publicKey.export({ format: "jwk" }) as { x: string; y: string };
    const ephemeralPoint = Buffer.concat([
      Buffer.of(4),
      Buffer.from(jwk.x, "base64url"),
      Buffer.from(jwk.y, "base64url"),
    ]);
    return envelopedData({
      recipient: cmsRecipientOf(certificateDer),
      iv,
      encryptedContent,
      encryptedKey,
      ephemeralPoint,
    });
  } finally {
    cek.fill(0);
  }
}

/**
 * Opens EnvelopedData made by sealToCertificate or sealForCms (or by openssl cms with the same
 * algorithms) with the recipient's private key: what an escrow agent does offline.
 */
export function openEnvelope(cmsDer: Buffer, privateKey: KeyObject, certificateDer: Buffer): Buffer {
  const contentInfo = children(readElement(cmsDer).content);
  if (decodeOid(contentInfo[0]!.content) !== OID.envelopedData) throw new DerError("not a CMS EnvelopedData");
  const enveloped = children(readElement(contentInfo[1]!.content).content);
  const recipientInfos = children(enveloped.find((e) => e.tag === 0x31)!.content);
  const [, algorithm, encrypted] = children(enveloped.find((e) => e.tag === 0x30)!.content);
  const ours = cmsRecipientOf(certificateDer);
  const rid = sequence(ours.issuer, ours.serialNumber);
  let cek: Buffer | undefined;
  for (const info of recipientInfos) {
    const fields = children(info.content);
    if (info.tag === 0x30 && fields[1]!.raw.equals(rid)) {
      cek = privateDecrypt(
        { key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha1" },
        fields[3]!.content,
      );
    } else if (info.tag === 0xa1) {
      const recipient = children(fields[3]!.content)
        .map((k) => children(k.content))
        .find((k) => k[0]!.raw.equals(rid));
      if (!recipient) continue;
      const originator = children(readElement(fields[1]!.content).content);
      // originatorKey [1] { algorithm, publicKey BIT STRING }: skip the BIT STRING's unused-bits byte.
      const point = originator[1]!.content.subarray(1);
      const size = (point.length - 1) / 2;
      const curve = size === 32 ? "P-256" : size === 48 ? "P-384" : undefined;
      if (!curve) throw new DerError("unsupported originator key");
      const ephemeral = createPublicKey({
        key: {
          kty: "EC",
          crv: curve,
          x: point.subarray(1, 1 + size).toString("base64url"),
          y: point.subarray(1 + size).toString("base64url"),
        },
        format: "jwk",
      });
      const kek = kariKek(diffieHellman({ privateKey, publicKey: ephemeral }));
      const unwrap = createDecipheriv("id-aes256-wrap", kek, KW_IV);
      cek = Buffer.concat([unwrap.update(recipient[1]!.content), unwrap.final()]);
      kek.fill(0);
    }
    if (cek) break;
  }
  if (!cek) throw new DerError("the CMS is not addressed to this certificate");
  const params = children(algorithm!.content);
  const decipher = createDecipheriv(`aes-${cek.length * 8}-cbc`, cek, params[1]!.content);
  const ciphertext =
    encrypted!.tag === 0x80 ? encrypted!.content : Buffer.concat(children(encrypted!.content).map((c) => c.content));
  try {
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } finally {
    cek.fill(0);
  }
}

/** X9.63 KDF (SHA-256, one block) over Z and the ECC-CMS-SharedInfo of kariSharedInfo(). */
function kariKek(z: Buffer): Buffer {
  try {
    return createHash("sha256").update(z).update(kariSharedInfo()).digest();
  } finally {
    z.fill(0);
  }
}

function spkiOf(certificateDer: Buffer): Buffer {
  const tbs = children(children(readElement(certificateDer).content)[0]!.content);
  const offset = tbs[0]!.tag === 0xa0 ? 1 : 0;
  return tbs[offset + 5]!.raw;
}
