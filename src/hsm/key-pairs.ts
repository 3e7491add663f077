import { constants, createPublicKey, publicEncrypt, randomBytes } from "node:crypto";
import pkcs11js from "pkcs11js";
import { HsmError } from "../errors/index.js";
import { isCkr } from "./errors.js";
import type { HashName, KeyType } from "../pki/key-types.js";
import type { GeneratedKeyPair, KeyAttributes, KeyPairMechanism, KeyPairs, OaepHash } from "./facets.js";
import type { Pkcs11SigningKeys } from "./signing-keys.js";
import type { TokenCore } from "./token-core.js";
import { parsePkcs11Uri } from "./uri.js";

// pkcs11js 2.1.7 has no EdDSA constant (PKCS#11 3.0 value).
const CKM_EDDSA = 0x1057;

/** DER DigestInfo prefixes (RFC 8017 §9.2 note 1): PKCS#1 v1.5 over a digest the caller made. */
const DIGEST_INFO: Record<HashName, Buffer> = {
  "SHA-256": Buffer.from("3031300d060960864801650304020105000420", "hex"),
  "SHA-384": Buffer.from("3041300d060960864801650304020205000430", "hex"),
  "SHA-512": Buffer.from("3051300d060960864801650304020305000440", "hex"),
};
const HASH = {
  "SHA-1": { alg: pkcs11js.CKM_SHA_1, mgf: pkcs11js.CKG_MGF1_SHA1, node: "sha1" },
  "SHA-256": { alg: pkcs11js.CKM_SHA256, mgf: pkcs11js.CKG_MGF1_SHA256, node: "sha256" },
  "SHA-384": { alg: pkcs11js.CKM_SHA384, mgf: pkcs11js.CKG_MGF1_SHA384, node: "sha384" },
  "SHA-512": { alg: pkcs11js.CKM_SHA512, mgf: pkcs11js.CKG_MGF1_SHA512, node: "sha512" },
} as const;

/** What a token says when it does not do OAEP with this hash (SoftHSM 2.6: anything but SHA-1). */
const OAEP_REFUSALS = new Set(["CKR_ARGUMENTS_BAD", "CKR_MECHANISM_PARAM_INVALID", "CKR_MECHANISM_INVALID"]);

/** The label prefix of every KMS object: this facet works on nothing else (never on a CA key). */
export const KMS_LABEL_PREFIX = "kms-";

/**
 * KMS key pairs: generated with the same template as CA keys (signing-keys.ts: private half
 * sensitive, never extractable), then used by the KMS for application signatures and decryption.
 * It touches only objects labelled `kms-…`, so a CA or service key URI is refused before the token
 * is asked: "what can touch a CA key?" keeps its one answer.
 */
export class Pkcs11KeyPairs implements KeyPairs {
  /** OAEP hashes this token decrypts with, learnt from the first decrypt key (a token property). */
  private oaep: Promise<OaepHash[]> | undefined;

  constructor(
    private readonly core: TokenCore,
    private readonly pairs: Pkcs11SigningKeys,
  ) {}

  async generateKeyPair(keyType: KeyType, label: string, usage: "sign" | "decrypt"): Promise<GeneratedKeyPair> {
    requireKmsLabel(label);
    if (usage === "decrypt" && !keyType.startsWith("rsa")) {
      throw new HsmError(`only RSA key pairs decrypt (RSA-OAEP); ${keyType} keys sign`);
    }
    return this.pairs.generateKeyPair(keyType, label, usage);
  }

  publicKey(uri: string): Promise<Buffer> {
    requireKmsUri(uri);
    return this.pairs.publicKey(uri);
  }

  keyAttributes(uri: string): Promise<KeyAttributes> {
    requireKmsUri(uri);
    return this.pairs.keyAttributes(uri);
  }

  destroyKeyPair(uri: string): Promise<void> {
    requireKmsUri(uri);
    return this.pairs.destroyKeyPair(uri);
  }

  /**
   * One signature. ECDSA and RSA sign a digest made by the caller (CKM_ECDSA answers raw r‖s;
   * RSA PKCS#1 v1.5 is CKM_RSA_PKCS over the DigestInfo, PSS is CKM_RSA_PKCS_PSS): the same
   * signatures as the hash-and-sign mechanisms, and a digest is all a client needs to send.
   * Ed25519 (pure EdDSA) signs the whole message.
   */
  async sign(uri: string, mechanism: KeyPairMechanism, input: Buffer): Promise<Buffer> {
    requireKmsUri(uri);
    const { p11Mechanism, data } = signatureInput(mechanism, input);
    const threads = this.core.signingThreads;
    if (threads?.running && p11Mechanism.parameter === undefined) {
      const code = p11Mechanism.mechanism;
      return this.core.withKeyHandle(uri, "sign", async (key) =>
        Buffer.from(await threads.run({ key, mechanism: code, input: data })),
      );
    }
    return this.core.withKey(uri, "sign", (session, key) => {
      this.core.p11.C_SignInit(session, p11Mechanism, key);
      return this.core.p11.C_SignAsync(session, data, Buffer.alloc(512));
    });
  }

  /**
   * Checks a signature with the public half in the token (the same digest-or-message input as
   * sign); false when it does not verify.
   */
  verify(uri: string, mechanism: KeyPairMechanism, input: Buffer, signature: Buffer): Promise<boolean> {
    requireKmsUri(uri);
    const { p11Mechanism, data } = signatureInput(mechanism, input);
    return this.core.withSession("verify", (session) => {
      const publicKey = this.core.findObject(session, uri, pkcs11js.CKO_PUBLIC_KEY);
      this.core.p11.C_VerifyInit(session, p11Mechanism, publicKey);
      try {
        return this.core.p11.C_Verify(session, data, signature);
      } catch (error) {
        if (isCkr(error, pkcs11js.CKR_SIGNATURE_INVALID) || isCkr(error, pkcs11js.CKR_SIGNATURE_LEN_RANGE))
          return false;
        throw error;
      }
    });
  }

  /** RSAES-OAEP decryption in the token (label empty, MGF1 with the same hash). */
  decrypt(uri: string, hash: OaepHash, ciphertext: Buffer): Promise<Buffer> {
    requireKmsUri(uri);
    return this.core.withKey(uri, "decrypt", (session, key) => {
      this.core.p11.C_DecryptInit(session, oaep(hash), key);
      return this.core.p11.C_DecryptAsync(session, ciphertext, Buffer.alloc(ciphertext.length));
    });
  }

  /**
   * The OAEP hashes the token decrypts with, strongest first, found once by decrypting in the
   * token what Node encrypted to this key's public half (SoftHSM 2.6 does SHA-1 only).
   */
  oaepHashes(uri: string): Promise<OaepHash[]> {
    requireKmsUri(uri);
    this.oaep ??= this.probeOaep(uri).catch((error) => {
      this.oaep = undefined;
      throw error;
    });
    return this.oaep;
  }

  private async probeOaep(uri: string): Promise<OaepHash[]> {
    const spki = await this.pairs.publicKey(uri);
    const can: OaepHash[] = [];
    for (const hash of ["SHA-256", "SHA-1"] as const) {
      const secret = randomBytes(32);
      const key = createPublicKey({ key: spki, format: "der", type: "spki" });
      const ciphertext = publicEncrypt(
        { key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: HASH[hash].node },
        secret,
      );
      try {
        if ((await this.decrypt(uri, hash, ciphertext)).equals(secret)) can.push(hash);
      } catch (error) {
        if (!(error instanceof HsmError && error.ckr && OAEP_REFUSALS.has(error.ckr))) throw error;
      }
    }
    return can;
  }
}

function signatureInput(
  mechanism: KeyPairMechanism,
  input: Buffer,
): { p11Mechanism: pkcs11js.Mechanism; data: Buffer } {
  switch (mechanism.name) {
    case "ECDSA":
      return { p11Mechanism: { mechanism: pkcs11js.CKM_ECDSA }, data: input };
    case "RSA-PKCS1":
      return {
        p11Mechanism: { mechanism: pkcs11js.CKM_RSA_PKCS },
        data: Buffer.concat([DIGEST_INFO[mechanism.hash], input]),
      };
    case "RSA-PSS":
      return {
        p11Mechanism: {
          mechanism: pkcs11js.CKM_RSA_PKCS_PSS,
          parameter: {
            type: pkcs11js.CK_PARAMS_RSA_PSS,
            hashAlg: HASH[mechanism.hash].alg,
            mgf: HASH[mechanism.hash].mgf,
            saltLen: mechanism.saltLength,
          } as pkcs11js.RsaPSS,
        },
        data: input,
      };
    case "Ed25519":
      return { p11Mechanism: { mechanism: CKM_EDDSA }, data: input };
  }
}

function oaep(hash: OaepHash): pkcs11js.Mechanism {
  return {
    mechanism: pkcs11js.CKM_RSA_PKCS_OAEP,
    // source 1: CKZ_DATA_SPECIFIED (absent from pkcs11js), with no label.
    parameter: { type: pkcs11js.CK_PARAMS_RSA_OAEP, hashAlg: HASH[hash].alg, mgf: HASH[hash].mgf, source: 1 },
  } as pkcs11js.Mechanism;
}

function requireKmsLabel(label: string): void {
  if (!label.startsWith(KMS_LABEL_PREFIX))
    throw new HsmError(`KMS key pairs are labelled ${KMS_LABEL_PREFIX}…, not "${label}"`);
}

function requireKmsUri(uri: string): void {
  let object: string | undefined;
  try {
    object = parsePkcs11Uri(uri).object;
  } catch (error) {
    throw new HsmError((error as Error).message);
  }
  if (!object?.startsWith(KMS_LABEL_PREFIX))
    throw new HsmError(`${uri} is not a KMS key pair (object=${KMS_LABEL_PREFIX}…)`);
}
