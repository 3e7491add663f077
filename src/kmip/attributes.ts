import { isKeyPair, type KeyState, type KeyVersion, type ManagedKey, REGISTERED_SECRET_TAG } from "../keys/index.js";
import { KmipError } from "./errors.js";
import { enumeration, find, findAll, int, optionalInt, optionalText, struct, text, dateTime } from "./items.js";
import { CRYPTO_ALGORITHM, NAME_TYPE, OBJECT_TYPE, SECRET_DATA_TYPE, STATE, TAG, USAGE_MASK } from "./spec.js";
import type { TtlvItem } from "./ttlv.js";

/** One KMIP 1.x attribute: its name, index and value (the value item keeps its TTLV type). */
export interface KmipAttribute {
  name: string;
  index: number;
  value: TtlvItem;
}

/** The attributes in a Template-Attribute or a Locate payload (KMIP 1.4 §2.1.1, §2.1.8). */
export function parseAttributes(container: TtlvItem | undefined): KmipAttribute[] {
  return findAll(container, TAG.Attribute).map((attribute) => {
    const name = optionalText(attribute, TAG.AttributeName);
    const value = find(attribute, TAG.AttributeValue);
    if (!name || !value)
      throw new KmipError("InvalidField", "an Attribute needs an Attribute Name and an Attribute Value");
    return { name, index: optionalInt(attribute, TAG.AttributeIndex) ?? 0, value };
  });
}

export function attributeItem(name: string, value: TtlvItem, index?: number): TtlvItem {
  return struct(TAG.Attribute, [
    text(TAG.AttributeName, name),
    index ? int(TAG.AttributeIndex, index) : undefined,
    { ...value, tag: TAG.AttributeValue } as TtlvItem,
  ]);
}

const KEY_STATE_TO_KMIP: Record<KeyState, number> = {
  "pre-activation": STATE.PreActive,
  active: STATE.Active,
  // KMIP has no suspension: a suspended key neither protects nor processes, like a deactivated one.
  suspended: STATE.Deactivated,
  deactivated: STATE.Deactivated,
  compromised: STATE.Compromised,
  destroyed: STATE.Destroyed,
};

/**
 * The version a KMIP object stands for: the primary (newest active) version, else the newest one
 * not destroyed, else the newest. A KMIP object is a Keyward key; its versions stay behind it.
 */
export function currentVersion(key: ManagedKey): KeyVersion {
  const newestFirst = [...key.versions].sort((a, b) => b.version - a.version);
  return (
    newestFirst.find((v) => v.state === "active") ?? newestFirst.find((v) => v.state !== "destroyed") ?? newestFirst[0]!
  );
}

export function kmipState(key: ManagedKey): number {
  return KEY_STATE_TO_KMIP[currentVersion(key).state];
}

/** Registered KMIP Secret Data: a generic secret in the token, tagged so (see Register). */
export const SECRET_DATA_TAG = REGISTERED_SECRET_TAG;
export const secretDataTypeTag = (type: number) => `${SECRET_DATA_TAG}-type-${type}`;
export const isSecretData = (key: ManagedKey) => key.tags.includes(SECRET_DATA_TAG);

export function secretDataTypeOf(key: ManagedKey): number {
  const tag = key.tags.find((t) => t.startsWith(`${SECRET_DATA_TAG}-type-`));
  return tag ? Number(tag.slice(SECRET_DATA_TAG.length + 6)) : SECRET_DATA_TYPE.Password;
}

/**
 * A key pair is two KMIP objects: the private key is the Keyward key (its id), the public key is
 * the same key's id with this suffix. Both share the key's lifecycle.
 */
export const PUBLIC_SUFFIX = "/public";

export function objectTypeOf(key: ManagedKey, publicHalf = false): number {
  if (isKeyPair(key)) return publicHalf ? OBJECT_TYPE.PublicKey : OBJECT_TYPE.PrivateKey;
  return isSecretData(key) ? OBJECT_TYPE.SecretData : OBJECT_TYPE.SymmetricKey;
}

export function algorithmOf(key: ManagedKey): { algorithm: number; length: number } {
  const a = key.algorithm;
  if (a === "HMAC-SHA256") return { algorithm: CRYPTO_ALGORITHM.HMAC_SHA256, length: 256 };
  if (a.startsWith("RSA-")) return { algorithm: CRYPTO_ALGORITHM.RSA, length: Number(a.slice(4)) };
  if (a.startsWith("ECDSA-P")) return { algorithm: CRYPTO_ALGORITHM.ECDSA, length: Number(a.slice(7)) };
  if (a === "Ed25519") return { algorithm: CRYPTO_ALGORITHM.Ed25519, length: 255 };
  return { algorithm: CRYPTO_ALGORITHM.AES, length: a === "AES-128" ? 128 : 256 };
}

export function usageMaskOf(key: ManagedKey, publicHalf = false): number {
  if (isSecretData(key)) return USAGE_MASK.Export;
  if (key.purpose === "sign") return publicHalf ? USAGE_MASK.Verify : USAGE_MASK.Sign;
  if (key.purpose === "decrypt") return publicHalf ? USAGE_MASK.Encrypt : USAGE_MASK.Decrypt;
  const base =
    key.purpose === "mac"
      ? USAGE_MASK.MacGenerate | USAGE_MASK.MacVerify
      : key.purpose === "wrap"
        ? USAGE_MASK.WrapKey | USAGE_MASK.UnwrapKey
        : USAGE_MASK.Encrypt | USAGE_MASK.Decrypt;
  // Only distributable keys may leave (Get): the Export bit says so.
  return key.distributable ? base | USAGE_MASK.Export : base;
}

/** The attributes of a key as KMIP names them, in the order Get Attribute List gives. */
export function keyAttributes(key: ManagedKey, publicHalf = false): Array<[string, TtlvItem]> {
  const v = currentVersion(key);
  const { algorithm, length } = algorithmOf(key);
  // Secret Data has no cryptographic algorithm or length in KMIP.
  const secret = isSecretData(key);
  const attributes: Array<[string, TtlvItem | undefined]> = [
    ["Unique Identifier", text(0, publicHalf ? key.id + PUBLIC_SUFFIX : key.id)],
    ["Name", struct(0, [text(TAG.NameValue, key.name), enumeration(TAG.NameType, NAME_TYPE.UninterpretedTextString)])],
    ["Object Type", enumeration(0, objectTypeOf(key, publicHalf))],
    ["Cryptographic Algorithm", secret ? undefined : enumeration(0, algorithm)],
    ["Cryptographic Length", secret ? undefined : int(0, length)],
    ["Cryptographic Usage Mask", int(0, usageMaskOf(key, publicHalf))],
    ["State", enumeration(0, kmipState(key))],
    ["Initial Date", dateTime(0, key.createdAt)],
    ["Activation Date", v.state === "pre-activation" ? undefined : dateTime(0, v.activateAt ?? v.createdAt)],
    ["Deactivation Date", v.deactivateAt ? dateTime(0, v.deactivateAt) : undefined],
    ["Destroy Date", v.destroyedAt ? dateTime(0, v.destroyedAt) : undefined],
    // Keyward's own, as text (the custom-attribute type clients such as PyKMIP read): the version the
    // object stands for now and when a scheduled destruction happens.
    ["x-Keyward-Version", text(0, String(v.version))],
    ["x-Keyward-Destroy-After", v.destroyAfter ? text(0, v.destroyAfter.toISOString()) : undefined],
  ];
  return attributes.filter((a): a is [string, TtlvItem] => a[1] !== undefined);
}
