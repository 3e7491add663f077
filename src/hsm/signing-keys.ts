import { createHash, createPublicKey, randomBytes } from "node:crypto";
import pkcs11js from "pkcs11js";
import { HsmOperationError, HsmUnsupportedError, HsmWeakenedKeyError } from "../errors/index.js";
import { type KeyType, keyFamily, rsaBits, type SigningAlgorithm } from "../pki/key-types.js";
import type { GeneratedKeyPair, KeyAttributes, KeyPairUsage, SigningKeys } from "./facets.js";
import { CKK_EC_EDWARDS, CKM_EC_EDWARDS_KEY_PAIR_GEN, CKM_EDDSA, mechanismName } from "./mechanisms.js";
import type { TokenCore } from "./token-core.js";

const EC_PARAMS: Record<"p256" | "p384" | "ed25519", Buffer> = {
  p256: Buffer.from("06082a8648ce3d030107", "hex"),
  p384: Buffer.from("06052b81040022", "hex"),
  ed25519: Buffer.from("06032b6570", "hex"),
};
const EC_POINT_BYTES = { p256: 65, p384: 97, ed25519: 32 } as const;
const CURVE_NAME = { p256: "P-256", p384: "P-384" } as const;

/** DER DigestInfo prefixes (RFC 8017 §9.2 note 1): for RSA PKCS#1 v1.5 signed as CKM_RSA_PKCS. */
const DIGEST_INFO = {
  "SHA-256": Buffer.from("3031300d060960864801650304020105000420", "hex"),
  "SHA-384": Buffer.from("3041300d060960864801650304020205000430", "hex"),
  "SHA-512": Buffer.from("3051300d060960864801650304020305000440", "hex"),
} as const;
const HASH_AND_SIGN = {
  "SHA-256": pkcs11js.CKM_SHA256_RSA_PKCS,
  "SHA-384": pkcs11js.CKM_SHA384_RSA_PKCS,
  "SHA-512": pkcs11js.CKM_SHA512_RSA_PKCS,
} as const;

const bool = (value: Buffer | undefined): boolean => value !== undefined && value.length > 0 && value[0] === 1;
const nodeHash = (hash: string) => hash.replace("-", "").toLowerCase();

/** Key pairs in the token. Private keys are created sensitive and non-extractable and only ever used by handle. */
export class Pkcs11SigningKeys implements SigningKeys {
  private readonly spkis = new Map<string, Buffer>();

  constructor(private readonly core: TokenCore) {}

  /**
   * Generates a key pair with a minimal, standard template: the public half says only what it is
   * (token, label, id, curve or modulus) and carries no usage flags — tpm2-pkcs11 maps CKA_VERIFY
   * and CKA_ENCRYPT there onto TPM object attributes and refuses a pair whose halves disagree —
   * and the private half says what matters. What the token made is read back: a private key that
   * is not sensitive, extractable, not private or usable for more than asked is destroyed.
   */
  async generateKeyPair(keyType: KeyType, label: string, usage: KeyPairUsage = "sign"): Promise<GeneratedKeyPair> {
    this.checkKeyType(keyType);
    const sign = usage === "sign";
    const id = randomBytes(16);
    const common = [
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_LABEL, value: label },
      { type: pkcs11js.CKA_ID, value: id },
    ];
    const publicTemplate: pkcs11js.Template = [...common, { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY }];
    const privateTemplate: pkcs11js.Template = [
      ...common,
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
      { type: pkcs11js.CKA_PRIVATE, value: true },
      { type: pkcs11js.CKA_SENSITIVE, value: true },
      { type: pkcs11js.CKA_EXTRACTABLE, value: false },
      { type: pkcs11js.CKA_SIGN, value: sign },
      // An import key only unwraps keys sent to it and never decrypts data; a KMS decrypt key only
      // decrypts (RSA-OAEP) and never unwraps into the token.
      { type: pkcs11js.CKA_UNWRAP, value: usage === "unwrap" },
      { type: pkcs11js.CKA_DECRYPT, value: usage === "decrypt" },
    ];
    let mechanism: number;
    switch (keyFamily(keyType)) {
      case "ec":
        mechanism = pkcs11js.CKM_EC_KEY_PAIR_GEN;
        publicTemplate.push({ type: pkcs11js.CKA_EC_PARAMS, value: EC_PARAMS[keyType as "p256" | "p384"] });
        break;
      case "ed25519":
        mechanism = CKM_EC_EDWARDS_KEY_PAIR_GEN;
        publicTemplate.push({ type: pkcs11js.CKA_KEY_TYPE, value: CKK_EC_EDWARDS });
        privateTemplate.push({ type: pkcs11js.CKA_KEY_TYPE, value: CKK_EC_EDWARDS });
        publicTemplate.push({ type: pkcs11js.CKA_EC_PARAMS, value: EC_PARAMS.ed25519 });
        break;
      default:
        mechanism = pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN;
        publicTemplate.push({ type: pkcs11js.CKA_MODULUS_BITS, value: rsaBits(keyType) });
        publicTemplate.push({ type: pkcs11js.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) });
        break;
    }
    const uri = this.core.uri(label, id, "private");
    const pair = await this.core.withSession(
      "generate key pair",
      (session) => this.core.p11.C_GenerateKeyPairAsync(session, { mechanism }, publicTemplate, privateTemplate),
      { key: uri },
    );
    this.core.rememberKey(uri, pair.privateKey);
    const attributes = await this.keyAttributes(uri);
    const usable = await this.usage(uri);
    const weakened = [
      !attributes.token && "not a token object",
      !attributes.private && "not private",
      !attributes.sensitive && "not sensitive",
      attributes.extractable && "extractable",
      usable.sign !== sign && (sign ? "cannot sign" : "can sign"),
      usage === "unwrap" && !usable.unwrap && "cannot unwrap",
      usage === "decrypt" && !usable.decrypt && "cannot decrypt",
    ].filter((x): x is string => typeof x === "string");
    if (weakened.length) {
      await this.destroyKeyPair(uri);
      throw new HsmWeakenedKeyError(
        `the token "${this.core.tokenLabel}" made a ${keyType} private key that is ${weakened.join(", ")}; it was destroyed`,
        { context: { key: uri, function: "C_GenerateKeyPair", mechanism: mechanismName(mechanism) } },
      );
    }
    return { uri, spki: await this.publicKey(uri) };
  }

  checkKeyType(keyType: KeyType): void {
    const support = this.core.capabilities.keyType(keyType);
    if (support.status !== "unavailable") return;
    const can = this.core.capabilities.keyTypes();
    throw new HsmUnsupportedError(
      `the token "${this.core.tokenLabel}" cannot make ${keyType} keys: ${support.how}; ` +
        (can.length ? `it can make ${can.join(", ")}` : "it can make none of Keyward's key types"),
      { context: { token: this.core.tokenLabel } },
    );
  }

  /** DER SubjectPublicKeyInfo of the key pair the private-key URI names, read from its public half. */
  async publicKey(uri: string): Promise<Buffer> {
    const cached = this.spkis.get(uri);
    if (cached) return cached;
    const p11 = this.core.p11;
    const spki = await this.core.withSession("read public key", (session) => {
      const publicHandle = this.core.findObject(session, uri, pkcs11js.CKO_PUBLIC_KEY);
      const [typeAttr] = p11.C_GetAttributeValue(session, publicHandle, [{ type: pkcs11js.CKA_KEY_TYPE }]);
      const keyType = (typeAttr!.value as Buffer).readUInt32LE(0);
      if (keyType === pkcs11js.CKK_RSA) {
        const [n, e] = p11.C_GetAttributeValue(session, publicHandle, [
          { type: pkcs11js.CKA_MODULUS },
          { type: pkcs11js.CKA_PUBLIC_EXPONENT },
        ]);
        return spkiFromJwk({ kty: "RSA", n: b64u(n?.value as Buffer), e: b64u(e?.value as Buffer) });
      }
      const [params, point] = p11.C_GetAttributeValue(session, publicHandle, [
        { type: pkcs11js.CKA_EC_PARAMS },
        { type: pkcs11js.CKA_EC_POINT },
      ]);
      const curve = curveOf(params?.value as Buffer);
      const raw = unwrapEcPoint(point?.value as Buffer, EC_POINT_BYTES[curve]);
      if (curve === "ed25519") return spkiFromJwk({ kty: "OKP", crv: "Ed25519", x: b64u(raw) });
      const half = (raw.length - 1) / 2;
      return spkiFromJwk({
        kty: "EC",
        crv: CURVE_NAME[curve],
        x: b64u(raw.subarray(1, 1 + half)),
        y: b64u(raw.subarray(1 + half)),
      });
    });
    this.spkis.set(uri, spki);
    return spki;
  }

  /**
   * Signs with the private key the URI names. ECDSA hashes here and signs the digest with CKM_ECDSA
   * (SoftHSM has no CKM_ECDSA_SHA384), returning raw r||s as WebCrypto does. RSA uses the token's
   * hash-and-sign mechanism when it has one, and otherwise hashes here and signs the DigestInfo
   * with CKM_RSA_PKCS (opencryptoki's soft token): the same PKCS#1 v1.5 signature either way.
   */
  async sign(uri: string, algorithm: SigningAlgorithm, data: Uint8Array): Promise<Buffer> {
    let input: Buffer;
    let mechanism: number;
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    switch (algorithm.name) {
      case "ECDSA":
        mechanism = pkcs11js.CKM_ECDSA;
        // Hashed here, so large inputs (CRLs) are neither copied nor sent through the module.
        input = createHash(nodeHash(algorithm.hash)).update(data).digest();
        break;
      case "RSASSA-PKCS1-v1_5":
        mechanism = HASH_AND_SIGN[algorithm.hash];
        input = bytes;
        if (
          !this.core.capabilities.has(mechanism, "sign") &&
          this.core.capabilities.has(pkcs11js.CKM_RSA_PKCS, "sign")
        ) {
          mechanism = pkcs11js.CKM_RSA_PKCS;
          input = Buffer.concat([
            DIGEST_INFO[algorithm.hash],
            createHash(nodeHash(algorithm.hash)).update(data).digest(),
          ]);
        }
        break;
      case "Ed25519":
        mechanism = CKM_EDDSA;
        input = bytes;
        break;
    }
    const threads = this.core.signingThreads;
    if (threads?.running) {
      return this.core.withKeyHandle(
        uri,
        "sign",
        async (key) => Buffer.from(await threads.run({ key, mechanism, input })),
        { function: "C_Sign", mechanism: mechanismName(mechanism) },
      );
    }
    return this.core.withKey(uri, "sign", (session, key) => {
      this.core.p11.C_SignInit(session, { mechanism }, key);
      return this.core.p11.C_SignAsync(session, input, Buffer.alloc(512));
    });
  }

  /** What the private key may be used for, as the token says. */
  private usage(uri: string): Promise<{ sign: boolean; unwrap: boolean; decrypt: boolean }> {
    return this.core.withKey(uri, "read key attributes", (session, key) => {
      const [sign, unwrap, decrypt] = this.core.p11
        .C_GetAttributeValue(session, key, [
          { type: pkcs11js.CKA_SIGN },
          { type: pkcs11js.CKA_UNWRAP },
          { type: pkcs11js.CKA_DECRYPT },
        ])
        .map((a) => bool(a.value as Buffer));
      return { sign: sign!, unwrap: unwrap!, decrypt: decrypt! };
    });
  }

  /** The security attributes of the private key, for checks that it cannot leave the token. */
  async keyAttributes(uri: string): Promise<KeyAttributes> {
    return this.core.withKey(uri, "read key attributes", (session, key) => {
      const attrs = this.core.p11.C_GetAttributeValue(session, key, [
        { type: pkcs11js.CKA_TOKEN },
        { type: pkcs11js.CKA_PRIVATE },
        { type: pkcs11js.CKA_SENSITIVE },
        { type: pkcs11js.CKA_EXTRACTABLE },
        { type: pkcs11js.CKA_ALWAYS_SENSITIVE },
        { type: pkcs11js.CKA_NEVER_EXTRACTABLE },
      ]);
      const [token, priv, sensitive, extractable, alwaysSensitive, neverExtractable] = attrs.map((a) =>
        bool(a.value as Buffer),
      );
      return {
        token: token!,
        private: priv!,
        sensitive: sensitive!,
        extractable: extractable!,
        alwaysSensitive: alwaysSensitive!,
        neverExtractable: neverExtractable!,
      };
    });
  }

  /** Removes both halves of a key pair (used to roll back a failed CA creation). */
  async destroyKeyPair(uri: string): Promise<void> {
    await this.core.withSession("destroy key", (session) => {
      for (const cls of [pkcs11js.CKO_PRIVATE_KEY, pkcs11js.CKO_PUBLIC_KEY]) {
        for (const handle of this.core.findObjects(session, uri, cls)) this.core.p11.C_DestroyObject(session, handle);
      }
    });
    this.core.forgetKey(uri);
    this.spkis.delete(uri);
  }
}

function curveOf(params: Buffer): "p256" | "p384" | "ed25519" {
  for (const [name, der] of Object.entries(EC_PARAMS)) if (der.equals(params)) return name as "p256";
  // SoftHSM also accepts the PrintableString form for Ed25519.
  if (params.toString("latin1").includes("edwards25519")) return "ed25519";
  throw new HsmOperationError(`HSM key has unsupported EC parameters ${params.toString("hex")}`);
}

/** CKA_EC_POINT is a DER OCTET STRING around the point in most modules, the bare point in some. */
function unwrapEcPoint(point: Buffer, size: number): Buffer {
  if (point.length === size) return point;
  if (point[0] === 0x04 && point[1] === size && point.length === size + 2) return point.subarray(2);
  if (point[0] === 0x04 && point[1] === 0x81 && point[2] === size && point.length === size + 3)
    return point.subarray(3);
  throw new HsmOperationError(`HSM returned an EC point of unexpected length ${point.length}`);
}

function b64u(value: Buffer): string {
  return value.toString("base64url");
}

function spkiFromJwk(jwk: Record<string, string>): Buffer {
  return createPublicKey({ key: jwk, format: "jwk" }).export({ type: "spki", format: "der" });
}
