import { createDecipheriv, createPublicKey, randomBytes } from "node:crypto";
import pkcs11js from "pkcs11js";
import { HsmOperationError, RecipientRefusedError } from "../errors/index.js";

type Handle = Buffer;

/** A recipient's public key, as the token needs it (from the certificate's SubjectPublicKeyInfo). */
export type RecipientPublicKey =
  | { type: "rsa"; modulus: Buffer; exponent: Buffer }
  | { type: "ec"; curve: "p256" | "p384"; point: Buffer };

/** A key sealed for one recipient the CMS way: content (the key) under a one-time CEK, CEK wrapped. */
export interface CmsSealedKey {
  /** IV of AES-256-CBC (id-aes256-CBC) over the key bytes with PKCS#7 padding. */
  iv: Buffer;
  encryptedContent: Buffer;
  /** RSA: RSAES-OAEP (SHA-1) of the CEK. EC: AES-256 key wrap (RFC 3394) of the CEK under the KEK. */
  encryptedKey: Buffer;
  /** EC only: the ephemeral public point (uncompressed) the recipient agrees with. */
  ephemeralPoint?: Buffer;
}

const EC_PARAMS = {
  p256: Buffer.from("06082a8648ce3d030107", "hex"),
  p384: Buffer.from("06052b81040022", "hex"),
};
const FIELD_BYTES = { p256: 32, p384: 48 };

/** The recipient's key from a DER SubjectPublicKeyInfo; RSA, P-256 and P-384 can receive keys. */
export function recipientPublicKey(spki: Buffer): RecipientPublicKey {
  const key = createPublicKey({ key: spki, format: "der", type: "spki" });
  const jwk = key.export({ format: "jwk" }) as Record<string, string>;
  if (jwk.kty === "RSA") {
    return { type: "rsa", modulus: Buffer.from(jwk.n!, "base64url"), exponent: Buffer.from(jwk.e!, "base64url") };
  }
  if (jwk.kty === "EC" && (jwk.crv === "P-256" || jwk.crv === "P-384")) {
    const point = Buffer.concat([Buffer.of(4), Buffer.from(jwk.x!, "base64url"), Buffer.from(jwk.y!, "base64url")]);
    return { type: "ec", curve: jwk.crv === "P-256" ? "p256" : "p384", point };
  }
  throw new RecipientRefusedError(
    "unsupportedKey",
    `keys cannot be wrapped to a ${jwk.kty} ${jwk.crv ?? ""} key; use RSA, P-256 or P-384`,
  );
}

const attr = (type: number, value: pkcs11js.Template[number]["value"]) => ({ type, value });

/**
 * Seals a secret key for a CMS recipient without its value ever reaching host memory:
 * a one-time AES-256 CEK is generated in the token; the key is CBC-encrypted by C_WrapKey
 * (SoftHSM's wrap mechanisms include AES-CBC without padding; the key is whole blocks, so the
 * PKCS#7 padding block, which holds no secret, is encrypted separately by C_Encrypt); the CEK is
 * wrapped with RSA-OAEP in the token, or with AES key wrap under a KEK agreed by ECDH in the token.
 *
 * `sharedInfo` is the X9.63 KDF input after Z (counter ‖ ECC-CMS-SharedInfo). SoftHSM only knows
 * CKD_NULL, so the KDF hash runs in the token over Z (C_DigestKey) and the 32-byte KEK comes back
 * to host memory once, is re-imported as a wrapping key and zeroed.
 */
export function sealForCms(
  p11: pkcs11js.PKCS11,
  session: Handle,
  key: Handle,
  recipient: RecipientPublicKey,
  sharedInfo: Buffer,
): CmsSealedKey {
  const objects: Handle[] = [];
  const track = (h: Handle) => {
    objects.push(h);
    return h;
  };
  try {
    const cek = track(
      p11.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
        ...sessionSecret(pkcs11js.CKK_AES, 32),
        attr(pkcs11js.CKA_EXTRACTABLE, true),
        attr(pkcs11js.CKA_WRAP, true),
        attr(pkcs11js.CKA_ENCRYPT, true),
      ]),
    );
    const iv = randomBytes(16);
    const body = p11.C_WrapKey(session, { mechanism: pkcs11js.CKM_AES_CBC, parameter: iv }, cek, key, Buffer.alloc(64));
    p11.C_EncryptInit(session, { mechanism: pkcs11js.CKM_AES_CBC, parameter: body.subarray(-16) }, cek);
    const padding = p11.C_Encrypt(session, Buffer.alloc(16, 16), Buffer.alloc(16));
    const encryptedContent = Buffer.concat([body, padding]);
    if (recipient.type === "rsa") {
      const publicKey = track(
        p11.C_CreateObject(session, [
          attr(pkcs11js.CKA_CLASS, pkcs11js.CKO_PUBLIC_KEY),
          attr(pkcs11js.CKA_KEY_TYPE, pkcs11js.CKK_RSA),
          attr(pkcs11js.CKA_TOKEN, false),
          attr(pkcs11js.CKA_WRAP, true),
          attr(pkcs11js.CKA_MODULUS, recipient.modulus),
          attr(pkcs11js.CKA_PUBLIC_EXPONENT, recipient.exponent),
        ]),
      );
      // SoftHSM 2.6 accepts only SHA-1/MGF1-SHA-1 for OAEP (hard-coded); SHA-1 is sound inside OAEP.
      const encryptedKey = p11.C_WrapKey(session, OAEP_SHA1, publicKey, cek, Buffer.alloc(recipient.modulus.length));
      return { iv, encryptedContent, encryptedKey };
    }
    const { kek, ephemeralPoint } = agreeKek(p11, session, recipient, sharedInfo, track);
    const encryptedKey = p11.C_WrapKey(session, { mechanism: pkcs11js.CKM_AES_KEY_WRAP }, kek, cek, Buffer.alloc(48));
    return { iv, encryptedContent, encryptedKey, ephemeralPoint };
  } finally {
    for (const handle of objects) {
      try {
        p11.C_DestroyObject(session, handle);
      } catch {
        // Session objects vanish with the session anyway.
      }
    }
  }
}

/**
 * Reads a secret key's value into host memory by wrapping it under a one-time key the host knows:
 * for formats the token cannot produce itself (JWE content encryption of a key needs AES-GCM as a
 * wrap mechanism, which SoftHSM 2.6 lacks). Only extractable keys allow it; callers zero the result.
 */
export function exportToHost(p11: pkcs11js.PKCS11, session: Handle, key: Handle): Buffer {
  const transport = randomBytes(32);
  const handle = p11.C_CreateObject(session, [
    ...sessionSecret(pkcs11js.CKK_AES, undefined),
    attr(pkcs11js.CKA_WRAP, true),
    attr(pkcs11js.CKA_VALUE, transport),
  ]);
  try {
    // AES key wrap takes multiples of 8 bytes: the token pads a shorter secret (a registered KMIP
    // password) with zeros, so the value is cut back to the object's own length.
    const size = valueLength(p11, session, key);
    const wrapped = p11.C_WrapKey(
      session,
      { mechanism: pkcs11js.CKM_AES_KEY_WRAP },
      handle,
      key,
      Buffer.alloc(size === undefined ? 64 : Math.ceil(size / 8) * 8 + 8),
    );
    const decipher = createDecipheriv("id-aes256-wrap", transport, Buffer.from("a6a6a6a6a6a6a6a6", "hex"));
    const value = Buffer.concat([decipher.update(wrapped), decipher.final()]);
    if (size === undefined || value.length === size) return value;
    const exact = Buffer.from(value.subarray(0, size));
    value.fill(0);
    return exact;
  } finally {
    transport.fill(0);
    p11.C_DestroyObject(session, handle);
  }
}

/** CKA_VALUE_LEN of a secret key (not sensitive); undefined on a token that does not give it. */
function valueLength(p11: pkcs11js.PKCS11, session: Handle, key: Handle): number | undefined {
  try {
    const raw = p11.C_GetAttributeValue(session, key, [{ type: pkcs11js.CKA_VALUE_LEN }])[0]!.value as Buffer;
    return raw.length >= 4 ? raw.readUInt32LE(0) : raw.length ? raw.readUIntLE(0, raw.length) : undefined;
  } catch {
    return undefined;
  }
}

const OAEP_SHA1: pkcs11js.Mechanism = {
  mechanism: pkcs11js.CKM_RSA_PKCS_OAEP,
  parameter: {
    type: pkcs11js.CK_PARAMS_RSA_OAEP,
    hashAlg: pkcs11js.CKM_SHA_1,
    mgf: pkcs11js.CKG_MGF1_SHA1,
    source: 1,
  } as pkcs11js.RsaOAEP,
};

function sessionSecret(keyType: number, length: number | undefined): pkcs11js.Template {
  return [
    attr(pkcs11js.CKA_CLASS, pkcs11js.CKO_SECRET_KEY),
    attr(pkcs11js.CKA_KEY_TYPE, keyType),
    ...(length ? [attr(pkcs11js.CKA_VALUE_LEN, length)] : []),
    attr(pkcs11js.CKA_TOKEN, false),
    attr(pkcs11js.CKA_SENSITIVE, true),
  ];
}

/** Ephemeral ECDH in the token, then KEK = SHA-256(Z ‖ sharedInfo) with Z kept inside (C_DigestKey). */
function agreeKek(
  p11: pkcs11js.PKCS11,
  session: Handle,
  recipient: Extract<RecipientPublicKey, { type: "ec" }>,
  sharedInfo: Buffer,
  track: (h: Handle) => Handle,
): { kek: Handle; ephemeralPoint: Buffer } {
  const pair = p11.C_GenerateKeyPair(
    session,
    { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
    [attr(pkcs11js.CKA_TOKEN, false), attr(pkcs11js.CKA_EC_PARAMS, EC_PARAMS[recipient.curve])],
    [
      attr(pkcs11js.CKA_TOKEN, false),
      attr(pkcs11js.CKA_PRIVATE, true),
      attr(pkcs11js.CKA_SENSITIVE, true),
      attr(pkcs11js.CKA_EXTRACTABLE, false),
      attr(pkcs11js.CKA_DERIVE, true),
    ],
  );
  track(pair.publicKey);
  track(pair.privateKey);
  const [pointAttr] = p11.C_GetAttributeValue(session, pair.publicKey, [{ type: pkcs11js.CKA_EC_POINT }]);
  const ephemeralPoint = bareEcPoint(pointAttr!.value as Buffer, 1 + 2 * FIELD_BYTES[recipient.curve]);
  const z = track(
    p11.C_DeriveKey(
      session,
      {
        mechanism: pkcs11js.CKM_ECDH1_DERIVE,
        parameter: {
          type: pkcs11js.CK_PARAMS_EC_DH,
          kdf: pkcs11js.CKD_NULL,
          publicData: recipient.point,
        } as pkcs11js.ECDH1,
      },
      pair.privateKey,
      [
        ...sessionSecret(pkcs11js.CKK_GENERIC_SECRET, FIELD_BYTES[recipient.curve]),
        attr(pkcs11js.CKA_EXTRACTABLE, false),
      ],
    ),
  );
  p11.C_DigestInit(session, { mechanism: pkcs11js.CKM_SHA256 });
  p11.C_DigestKey(session, z);
  p11.C_DigestUpdate(session, sharedInfo);
  const value = p11.C_DigestFinal(session, Buffer.alloc(32));
  try {
    const kek = track(
      p11.C_CreateObject(session, [
        ...sessionSecret(pkcs11js.CKK_AES, undefined),
        attr(pkcs11js.CKA_WRAP, true),
        attr(pkcs11js.CKA_VALUE, value),
      ]),
    );
    return { kek, ephemeralPoint };
  } finally {
    value.fill(0);
  }
}

function bareEcPoint(point: Buffer, size: number): Buffer {
  if (point.length === size) return point;
  if (point[0] === 0x04 && point[1] === size) return point.subarray(2);
  if (point[0] === 0x04 && point[1] === 0x81 && point[2] === size) return point.subarray(3);
  throw new HsmOperationError(`HSM returned an EC point of unexpected length ${point.length}`);
}

/** A key sent to our import key: its content-encryption key under RSA-OAEP, the key under that. */
export interface SealedImport {
  /** RSAES-OAEP (SHA-1, as SoftHSM 2.6 can unwrap) of the AES content-encryption key. */
  encryptedKey: Buffer;
  content:
    | { mode: "cbc"; iv: Buffer; ciphertext: Buffer }
    | { mode: "gcm"; iv: Buffer; aad: Buffer; ciphertextAndTag: Buffer };
}

/**
 * Opens an imported key into a new token object: the CEK is unwrapped by the import key inside the
 * token; SoftHSM cannot unwrap with AES-CBC or AES-GCM, so the content is decrypted in the token and
 * the key passes through host memory once (it came from outside in the clear anyway) before it is
 * created as a sensitive object and zeroed. Returns the size of the key it found.
 */
export function openImport(
  p11: pkcs11js.PKCS11,
  session: Handle,
  importKey: Handle,
  sealed: SealedImport,
  template: pkcs11js.Template,
  length: number,
): number {
  const cek = p11.C_UnwrapKey(session, OAEP_SHA1, importKey, sealed.encryptedKey, [
    ...sessionSecret(pkcs11js.CKK_AES, undefined),
    attr(pkcs11js.CKA_EXTRACTABLE, false),
    attr(pkcs11js.CKA_DECRYPT, true),
  ]);
  let value: Buffer | undefined;
  try {
    const { content } = sealed;
    if (content.mode === "cbc") {
      p11.C_DecryptInit(session, { mechanism: pkcs11js.CKM_AES_CBC_PAD, parameter: content.iv }, cek);
      value = p11.C_Decrypt(session, content.ciphertext, Buffer.alloc(content.ciphertext.length));
    } else {
      const parameter = {
        type: pkcs11js.CK_PARAMS_AES_GCM,
        iv: content.iv,
        aad: content.aad,
        ivBits: content.iv.length * 8,
        tagBits: 128,
      } as pkcs11js.AesGCM;
      p11.C_DecryptInit(session, { mechanism: pkcs11js.CKM_AES_GCM, parameter }, cek);
      value = p11.C_Decrypt(session, content.ciphertextAndTag, Buffer.alloc(content.ciphertextAndTag.length));
    }
    // A key of the wrong size is not created; the caller reports the size it got.
    if (value.length === length) p11.C_CreateObject(session, [...template, attr(pkcs11js.CKA_VALUE, value)]);
    return value.length;
  } finally {
    value?.fill(0);
    p11.C_DestroyObject(session, cek);
  }
}

/** AES key wrap (RFC 3394) of a secret key under a one-time AES-256 key given by value (escrow). */
export function wrapUnder(p11: pkcs11js.PKCS11, session: Handle, key: Handle, wrappingKey: Buffer): Buffer {
  const kek = p11.C_CreateObject(session, [
    ...sessionSecret(pkcs11js.CKK_AES, undefined),
    attr(pkcs11js.CKA_WRAP, true),
    attr(pkcs11js.CKA_VALUE, wrappingKey),
  ]);
  try {
    return p11.C_WrapKey(session, { mechanism: pkcs11js.CKM_AES_KEY_WRAP }, kek, key, Buffer.alloc(64));
  } finally {
    p11.C_DestroyObject(session, kek);
  }
}

/** Unwraps what wrapUnder made into a new token object with `template`; the key never reaches the host. */
export function unwrapUnder(
  p11: pkcs11js.PKCS11,
  session: Handle,
  wrapped: Buffer,
  wrappingKey: Buffer,
  template: pkcs11js.Template,
): void {
  const kek = p11.C_CreateObject(session, [
    ...sessionSecret(pkcs11js.CKK_AES, undefined),
    attr(pkcs11js.CKA_UNWRAP, true),
    attr(pkcs11js.CKA_VALUE, wrappingKey),
  ]);
  try {
    p11.C_UnwrapKey(session, { mechanism: pkcs11js.CKM_AES_KEY_WRAP }, kek, wrapped, template);
  } finally {
    p11.C_DestroyObject(session, kek);
  }
}
