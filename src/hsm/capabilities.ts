/**
 * What a token can do, read from the token itself (C_GetInfo, C_GetTokenInfo, C_GetMechanismList,
 * C_GetMechanismInfo and, on request, a few live probes), and what Keyward does with it, feature by
 * feature: natively, by a fallback the standard allows, or not at all (with the reason). Real
 * tokens differ: SoftHSM2 does nearly everything; tpm2-pkcs11 has no AES-GCM, no secret-key
 * import and no RSA-4096; opencryptoki's soft token has no EC and no CKM_SHA256_RSA_PKCS.
 */
import pkcs11js from "pkcs11js";
import { KEY_TYPES, type KeyType, keyFamily, rsaBits } from "../pki/key-types.js";
import { CKM_EC_EDWARDS_KEY_PAIR_GEN, CKM_EDDSA, mechanismName } from "./mechanisms.js";

export type FeatureStatus = "native" | "fallback" | "unavailable";

export interface FeatureSupport {
  /** Stable name, e.g. `key.p256`, `kms.aes`, `secrets.import`. */
  feature: string;
  /** What the feature is for, in words. */
  description: string;
  status: FeatureStatus;
  /** How Keyward does it on this token (mechanisms), or why it cannot. */
  how: string;
}

export interface MechanismSupport {
  name: string;
  minKeySize: number;
  maxKeySize: number;
  flags: string[];
}

/** Results of live probes: a few things a mechanism list cannot tell. */
export interface ProbeResults {
  /** Objects with CKA_TOKEN=false (Keyward's one-time keys in wrapping and sealing). */
  sessionObjects: ProbeResult;
  /** C_GenerateKey of an AES key (KMS keys). */
  secretKeyGeneration: ProbeResult;
  /** C_CreateObject of a generic secret (TOTP seeds, ACME EAB keys). */
  secretKeyImport: ProbeResult;
}

export type ProbeResult = { ok: true } | { ok: false; reason: string };

export interface TokenProfile {
  module: { path: string; manufacturer: string; description: string; version: string; cryptoki: string };
  token: {
    label: string;
    manufacturer: string;
    model: string;
    serial: string;
    firmware: string;
    flags: string[];
    pinLength: { min: number; max: number };
  };
  mechanisms: MechanismSupport[];
  /** Listed by the token but not used (config hsm.disableMechanisms). */
  disabled: string[];
  /** Present once probed (keyward hsm check, init). */
  probes?: ProbeResults;
}

const FLAG_NAMES: Array<[number, string]> = [
  [0x1, "hw"],
  [0x100, "encrypt"],
  [0x200, "decrypt"],
  [0x400, "digest"],
  [0x800, "sign"],
  [0x2000, "verify"],
  [0x8000, "generate"],
  [0x10000, "generate_key_pair"],
  [0x20000, "wrap"],
  [0x40000, "unwrap"],
  [0x80000, "derive"],
];

const TOKEN_FLAGS: Array<[number, string]> = [
  [0x1, "rng"],
  [0x2, "write_protected"],
  [0x4, "login_required"],
  [0x8, "user_pin_initialized"],
  [0x100, "protected_authentication_path"],
  [0x400, "token_initialized"],
  [0x10000, "user_pin_locked"],
  [0x40000, "user_pin_to_be_changed"],
];

const flagNames = (flags: number, table: Array<[number, string]>) =>
  table.filter(([bit]) => (flags & bit) !== 0).map(([, name]) => name);

const version = (v: { major: number; minor: number }) => `${v.major}.${v.minor}`;

/** The capability profile as reported: the token, what Keyward can do on it and how, the raw list. */
export interface HsmReport {
  module: TokenProfile["module"];
  token: TokenProfile["token"];
  /** Key types the token can generate and sign with. */
  keyTypes: KeyType[];
  features: FeatureSupport[];
  probes: ProbeResults | undefined;
  mechanisms: MechanismSupport[];
  disabled: string[];
}

/** Reads the module's and token's information and every mechanism the token lists. */
export function readTokenProfile(
  p11: pkcs11js.PKCS11,
  slot: Buffer,
  modulePath: string,
  disabled: readonly string[] = [],
): TokenProfile {
  const info = p11.C_GetInfo();
  const token = p11.C_GetTokenInfo(slot);
  const mechanisms: MechanismSupport[] = [];
  for (const mechanism of p11.C_GetMechanismList(slot)) {
    if (disabled.includes(mechanismName(mechanism))) continue;
    let minKeySize = 0;
    let maxKeySize = 0;
    let flags: string[] = [];
    try {
      const m = p11.C_GetMechanismInfo(slot, mechanism);
      ({ minKeySize, maxKeySize } = m);
      flags = flagNames(m.flags, FLAG_NAMES);
    } catch {
      // Listed but not described: keep it listed, with no flags (nothing is assumed of it).
    }
    mechanisms.push({ name: mechanismName(mechanism), minKeySize, maxKeySize, flags });
  }
  return {
    module: {
      path: modulePath,
      manufacturer: info.manufacturerID.trim(),
      description: info.libraryDescription.trim(),
      version: version(info.libraryVersion),
      cryptoki: version(info.cryptokiVersion),
    },
    token: {
      label: token.label.trim(),
      manufacturer: token.manufacturerID.trim(),
      model: token.model.replace(/\0+$/, "").trim(),
      serial: token.serialNumber.trim(),
      firmware: version(token.firmwareVersion),
      flags: flagNames(token.flags, TOKEN_FLAGS),
      pinLength: { min: token.minPinLen, max: token.maxPinLen },
    },
    mechanisms,
    disabled: [...disabled],
  };
}

/** Questions about one profile: which mechanisms it has, for what, at which key sizes. */
export class Capabilities {
  private readonly byName: Map<string, MechanismSupport>;

  constructor(readonly profile: TokenProfile) {
    this.byName = new Map(profile.mechanisms.map((m) => [m.name, m]));
  }

  /** Whether the token lists the mechanism (for `use`, when given: sign, encrypt, wrap…). */
  has(mechanism: number | string, use?: string): boolean {
    const m = this.byName.get(typeof mechanism === "number" ? mechanismName(mechanism) : mechanism);
    if (!m) return false;
    // A module that describes no flags at all is taken at its list's word.
    return use === undefined || m.flags.length === 0 || m.flags.includes(use);
  }

  /** Whether a key of `bits` fits the mechanism's key-size range (0..0 means "not said"). */
  fits(mechanism: number, bits: number): boolean {
    const m = this.byName.get(mechanismName(mechanism));
    if (!m) return false;
    if (m.minKeySize === 0 && m.maxKeySize === 0) return true;
    return bits >= m.minKeySize && bits <= m.maxKeySize;
  }

  range(mechanism: number): string {
    const m = this.byName.get(mechanismName(mechanism));
    return m ? `${m.minKeySize}–${m.maxKeySize} bits` : "none";
  }

  /** How a key type is generated and signs with here, or why it cannot be. */
  keyType(type: KeyType): FeatureSupport {
    const feature = `key.${type}`;
    const description = `${type} key pairs (CA, OCSP and service keys): generate and sign`;
    const unavailable = (how: string): FeatureSupport => ({ feature, description, status: "unavailable", how });
    switch (keyFamily(type)) {
      case "ec": {
        const bits = type === "p256" ? 256 : 384;
        if (!this.has(pkcs11js.CKM_EC_KEY_PAIR_GEN, "generate_key_pair"))
          return unavailable("the token has no CKM_EC_KEY_PAIR_GEN");
        if (!this.fits(pkcs11js.CKM_EC_KEY_PAIR_GEN, bits))
          return unavailable(`CKM_EC_KEY_PAIR_GEN allows ${this.range(pkcs11js.CKM_EC_KEY_PAIR_GEN)}`);
        if (!this.has(pkcs11js.CKM_ECDSA, "sign")) return unavailable("the token has no CKM_ECDSA");
        return {
          feature,
          description,
          status: "native",
          how: "CKM_EC_KEY_PAIR_GEN; CKM_ECDSA over a digest computed on the host",
        };
      }
      case "ed25519":
        if (!this.has(CKM_EC_EDWARDS_KEY_PAIR_GEN)) return unavailable("the token has no CKM_EC_EDWARDS_KEY_PAIR_GEN");
        if (!this.has(CKM_EDDSA)) return unavailable("the token has no CKM_EDDSA");
        return { feature, description, status: "native", how: "CKM_EC_EDWARDS_KEY_PAIR_GEN; CKM_EDDSA" };
      case "rsa": {
        const bits = rsaBits(type);
        const gen = pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN;
        if (!this.has(gen, "generate_key_pair")) return unavailable("the token has no CKM_RSA_PKCS_KEY_PAIR_GEN");
        if (!this.fits(gen, bits)) return unavailable(`CKM_RSA_PKCS_KEY_PAIR_GEN allows ${this.range(gen)}`);
        const sign = this.rsaSigning(bits);
        if (sign.status === "unavailable") return unavailable(sign.how);
        return { feature, description, status: sign.status, how: `CKM_RSA_PKCS_KEY_PAIR_GEN; ${sign.how}` };
      }
    }
  }

  /** RSA PKCS#1 v1.5 with SHA-256: in the token, or hashed on the host with CKM_RSA_PKCS. */
  rsaSigning(bits: number): { status: FeatureStatus; how: string } {
    if (this.has(pkcs11js.CKM_SHA256_RSA_PKCS, "sign") && this.fits(pkcs11js.CKM_SHA256_RSA_PKCS, bits))
      return { status: "native", how: "CKM_SHA256_RSA_PKCS" };
    if (this.has(pkcs11js.CKM_RSA_PKCS, "sign") && this.fits(pkcs11js.CKM_RSA_PKCS, bits))
      return { status: "fallback", how: "SHA-256 on the host, DigestInfo, CKM_RSA_PKCS" };
    return { status: "unavailable", how: "the token has neither CKM_SHA256_RSA_PKCS nor CKM_RSA_PKCS" };
  }

  /** Key types the token can generate and sign with. */
  keyTypes(): KeyType[] {
    return KEY_TYPES.filter((t) => this.keyType(t).status !== "unavailable");
  }

  /** Every feature Keyward has, and how it works on this token. */
  features(): FeatureSupport[] {
    const probes = this.profile.probes;
    const probed = (result: ProbeResult | undefined, what: string): string | undefined =>
      result && !result.ok ? `${what} failed: ${result.reason}` : undefined;
    const need = (
      feature: string,
      description: string,
      mechanisms: Array<[number, string]>,
      how: string,
      refusal?: string,
    ): FeatureSupport => {
      const missing = mechanisms
        .filter(([m, use]) => !this.has(m, use))
        .map(([m, use]) => `${mechanismName(m)} (${use})`);
      if (missing.length)
        return { feature, description, status: "unavailable", how: `the token has no ${missing.join(", ")}` };
      if (refusal) return { feature, description, status: "unavailable", how: refusal };
      return { feature, description, status: "native", how };
    };
    const generate = probed(probes?.secretKeyGeneration, "C_GenerateKey (AES)");
    const create = probed(probes?.secretKeyImport, "C_CreateObject (generic secret)");
    const session = probed(probes?.sessionObjects, "a session object (CKA_TOKEN=false)");
    return [
      ...KEY_TYPES.map((t) => this.keyType(t)),
      need(
        "kms.aes",
        "KMS AES keys: generate in the token, encrypt/decrypt (JWE A256GCM)",
        [
          [pkcs11js.CKM_AES_KEY_GEN, "generate"],
          [pkcs11js.CKM_AES_GCM, "encrypt"],
        ],
        "CKM_AES_KEY_GEN; CKM_AES_GCM",
        generate,
      ),
      need(
        "kms.hmac",
        "KMS HMAC-SHA256 keys",
        [
          [pkcs11js.CKM_GENERIC_SECRET_KEY_GEN, "generate"],
          [pkcs11js.CKM_SHA256_HMAC, "sign"],
        ],
        "CKM_GENERIC_SECRET_KEY_GEN; CKM_SHA256_HMAC",
        generate,
      ),
      need(
        "secrets.import",
        "shared secrets kept in the token: people's TOTP seeds, ACME EAB keys",
        [
          [pkcs11js.CKM_SHA_1_HMAC, "sign"],
          [pkcs11js.CKM_SHA256_HMAC, "sign"],
        ],
        "C_CreateObject (generic secret); CKM_SHA_1_HMAC, CKM_SHA256_HMAC",
        create,
      ),
      need(
        "kms.sealed",
        "secret keys sealed by a token RSA key where the token cannot hold them (kms.protection sealed, auto)",
        [
          [pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN, "generate_key_pair"],
          [pkcs11js.CKM_RSA_PKCS_OAEP, "decrypt"],
        ],
        "CKM_RSA_PKCS_OAEP (decrypt) unwraps each key in the token; AES-GCM / HMAC on the host for that use",
      ),
      need(
        "kms.distribute.rsa",
        "KMS key distribution to RSA recipients (CMS)",
        [
          [pkcs11js.CKM_AES_CBC, "wrap"],
          [pkcs11js.CKM_RSA_PKCS_OAEP, "wrap"],
        ],
        "CKM_AES_CBC (wrap), CKM_RSA_PKCS_OAEP (wrap)",
        session,
      ),
      need(
        "kms.distribute.ec",
        "KMS key distribution to EC recipients (CMS, JWE ECDH-ES)",
        [
          [pkcs11js.CKM_EC_KEY_PAIR_GEN, "generate_key_pair"],
          [pkcs11js.CKM_ECDH1_DERIVE, "derive"],
          [pkcs11js.CKM_AES_KEY_WRAP, "wrap"],
        ],
        "CKM_ECDH1_DERIVE, digest of Z in the token, CKM_AES_KEY_WRAP",
        session,
      ),
      need(
        "kms.import",
        "BYOK: keys sealed to Keyward's import key (RSA-OAEP)",
        [
          [pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN, "generate_key_pair"],
          [pkcs11js.CKM_RSA_PKCS_OAEP, "unwrap"],
          [pkcs11js.CKM_AES_CBC_PAD, "decrypt"],
        ],
        "CKM_RSA_PKCS_OAEP (unwrap), CKM_AES_CBC_PAD",
        session,
      ),
      need(
        "escrow.wrap",
        "escrow and backup of KMS keys (AES key wrap)",
        [[pkcs11js.CKM_AES_KEY_WRAP, "wrap"]],
        "CKM_AES_KEY_WRAP",
        session,
      ),
    ];
  }

  /** What `keyward hsm check --json` and `GET /api/v1/hsm` show. */
  report(): HsmReport {
    const { module, token, mechanisms, disabled, probes } = this.profile;
    return { module, token, keyTypes: this.keyTypes(), features: this.features(), probes, mechanisms, disabled };
  }

  /** The feature's support, by name. */
  feature(name: string): FeatureSupport | undefined {
    return this.features().find((f) => f.feature === name);
  }
}
