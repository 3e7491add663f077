import { BadRequestError } from "../errors/index.js";
import type { SealedImport } from "../hsm/index.js";
import { cmsRecipientOf } from "../pki/cms.js";
import { children, DerError, decodeOid, readElement, sequence } from "../pki/der.js";

const OID = {
  envelopedData: "1.2.840.113549.1.7.3",
  rsaesOaep: "1.2.840.113549.1.1.7",
  rsaEncryption: "1.2.840.113549.1.1.1",
  sha1: "1.3.14.3.2.26",
};
const AES_CBC: Record<string, number> = {
  "2.16.840.1.101.3.4.1.2": 16,
  "2.16.840.1.101.3.4.1.22": 24,
  "2.16.840.1.101.3.4.1.42": 32,
};

/**
 * Reads a key sent to Keyward's import certificate (BYOK): CMS EnvelopedData with a
 * KeyTransRecipientInfo (RSAES-OAEP, SHA-1) for that certificate and AES-CBC content, as
 * `openssl cms -encrypt -recip import.pem -keyopt rsa_padding_mode:oaep -aes256` makes it; or a
 * compact JWE with `alg: RSA-OAEP` and `enc: A128GCM|A256GCM`, as any JOSE library makes it.
 */
export function parseImport(format: "cms" | "jwe", data: string, importCertificate: Buffer): SealedImport {
  return format === "cms" ? parseCms(Buffer.from(data, "base64"), importCertificate) : parseJwe(data.trim());
}

function parseJwe(jwe: string): SealedImport {
  const parts = jwe.split(".");
  if (parts.length !== 5 || !parts.every((p) => /^[A-Za-z0-9_-]*$/.test(p))) {
    throw new BadRequestError("the import is not a compact JWE (five base64url parts)");
  }
  let header: { alg?: string; enc?: string; zip?: string };
  try {
    header = JSON.parse(Buffer.from(parts[0]!, "base64url").toString("utf8"));
  } catch {
    throw new BadRequestError("the JWE protected header is not JSON");
  }
  if (header.alg !== "RSA-OAEP") {
    throw new BadRequestError(
      `the JWE uses alg "${header.alg ?? ""}"; keys are imported with alg RSA-OAEP (the token unwraps OAEP with SHA-1 only)`,
    );
  }
  if (header.enc !== "A128GCM" && header.enc !== "A256GCM") {
    throw new BadRequestError(`the JWE uses enc "${header.enc ?? ""}"; use A128GCM or A256GCM`);
  }
  if (header.zip !== undefined) throw new BadRequestError("compressed JWE (zip) is not accepted for keys");
  const iv = Buffer.from(parts[2]!, "base64url");
  const tag = Buffer.from(parts[4]!, "base64url");
  if (iv.length !== 12 || tag.length !== 16) throw new BadRequestError("the JWE needs a 96-bit IV and a 128-bit tag");
  return {
    encryptedKey: Buffer.from(parts[1]!, "base64url"),
    content: {
      mode: "gcm",
      iv,
      aad: Buffer.from(parts[0]!, "ascii"),
      ciphertextAndTag: Buffer.concat([Buffer.from(parts[3]!, "base64url"), tag]),
    },
  };
}

function parseCms(der: Buffer, importCertificate: Buffer): SealedImport {
  try {
    const contentInfo = children(readElement(der).content);
    if (contentInfo[0]?.tag !== 0x06 || decodeOid(contentInfo[0].content) !== OID.envelopedData) {
      throw new BadRequestError("the import is not a CMS EnvelopedData");
    }
    const enveloped = children(readElement(contentInfo[1]!.content).content);
    const recipientInfos = enveloped.find((e) => e.tag === 0x31);
    const encryptedContentInfo = enveloped.find((e) => e.tag === 0x30);
    if (!recipientInfos || !encryptedContentInfo) throw new BadRequestError("the EnvelopedData is incomplete");
    const ours = cmsRecipientOf(importCertificate);
    const ktri = children(recipientInfos.content)
      .filter((ri) => ri.tag === 0x30)
      .map((ri) => children(ri.content))
      .find((fields) => {
        const rid = fields[1];
        return rid?.tag === 0x30 && rid.raw.equals(sequence(ours.issuer, ours.serialNumber));
      });
    if (!ktri) {
      throw new BadRequestError(
        "the CMS has no key-transport recipient for Keyward's import certificate (by issuer and serial number)",
      );
    }
    const algorithm = children(ktri[2]!.content);
    const algorithmOid = decodeOid(algorithm[0]!.content);
    if (algorithmOid === OID.rsaEncryption) {
      throw new BadRequestError(
        "the CEK is wrapped with RSA PKCS#1 v1.5; use RSAES-OAEP (-keyopt rsa_padding_mode:oaep)",
      );
    }
    if (algorithmOid !== OID.rsaesOaep)
      throw new BadRequestError(`the CEK is wrapped with ${algorithmOid}; use RSAES-OAEP`);
    const hash = algorithm[1] && children(algorithm[1].content).find((e) => e.tag === 0xa0);
    if (hash && decodeOid(children(children(hash.content)[0]!.content)[0]!.content) !== OID.sha1) {
      throw new BadRequestError("RSAES-OAEP must use SHA-1 here: the token unwraps nothing else");
    }
    const [, contentAlgorithm, encrypted] = children(encryptedContentInfo.content);
    const contentAlgorithmFields = children(contentAlgorithm!.content);
    const keyBytes = AES_CBC[decodeOid(contentAlgorithmFields[0]!.content)];
    if (!keyBytes) throw new BadRequestError("the content must be encrypted with AES-CBC (-aes128 or -aes256)");
    if (!encrypted || (encrypted.tag !== 0x80 && encrypted.tag !== 0xa0)) {
      throw new BadRequestError("the CMS carries no encrypted content");
    }
    // [0] IMPLICIT OCTET STRING: primitive, or constructed from octet-string pieces.
    const ciphertext =
      encrypted.tag === 0x80 ? encrypted.content : Buffer.concat(children(encrypted.content).map((c) => c.content));
    return {
      encryptedKey: ktri[3]!.content,
      content: { mode: "cbc", iv: contentAlgorithmFields[1]!.content, ciphertext },
    };
  } catch (error) {
    if (error instanceof BadRequestError) throw error;
    if (error instanceof DerError || error instanceof TypeError) {
      throw new BadRequestError(`the import is not valid DER CMS: ${error.message}`);
    }
    throw error;
  }
}
