import { randomBytes } from "node:crypto";
import { type ApprovalService, type Permission, type Principal, roleAllows } from "../access/index.js";
import type { Actor } from "../audit/index.js";
import {
  isKeyPair,
  keyEvent,
  type KeyAlgorithm,
  type KeyCrypto,
  type KeyDistribution,
  type KeyLifecycle,
  type KeyPairAlgorithm,
  type KeyPurpose,
  type ManagedKey,
  type SecretKeyAlgorithm,
} from "../keys/index.js";
import {
  algorithmOf,
  attributeItem,
  currentVersion,
  type KmipAttribute,
  keyAttributes,
  isSecretData,
  kmipState,
  objectTypeOf,
  PUBLIC_SUFFIX,
  parseAttributes,
  SECRET_DATA_TAG,
  secretDataTypeOf,
  secretDataTypeTag,
} from "./attributes.js";
import { CUSTOM_LIMITS, type CustomAttributeStore, isClientAttribute } from "./custom-attributes.js";
import { KmipError } from "./errors.js";
import {
  bytes,
  enumeration,
  find,
  findAll,
  int,
  optionalBytes,
  optionalDate,
  optionalEnum,
  optionalInt,
  optionalStruct,
  optionalText,
  struct,
  text,
} from "./items.js";
import { type BatchRequest, type BatchResult, protocolVersionItem, requestedVersions } from "./messages.js";
import {
  BLOCK_CIPHER_MODE,
  CRYPTO_ALGORITHM,
  KEY_FORMAT_TYPE,
  OBJECT_TYPE,
  OPERATION,
  type OperationName,
  PADDING_METHOD,
  PROTOCOL_VERSIONS,
  QUERY_FUNCTION,
  RECOMMENDED_CURVE,
  REVOCATION_REASON,
  SECRET_DATA_TYPE,
  TAG,
  USAGE_MASK,
} from "./spec.js";
import type { TtlvItem } from "./ttlv.js";

/** The authenticated client of one request: its bound token's principal and its certificate. */
export interface KmipClient {
  principal: Principal;
  actor: Actor;
  certificate: { serial: string; subject: string; spkiSha256: string; notAfter: Date };
}

export interface KmipOperationsDeps {
  keys: Pick<
    KeyLifecycle,
    "create" | "register" | "get" | "list" | "changeState" | "scheduleDestroy" | "rotate" | "rename"
  >;
  /** Clients' x-attributes on keys. */
  customAttributes: CustomAttributeStore;
  now(): Date;
  crypto: Pick<KeyCrypto, "encryptGcm" | "decryptGcm" | "mac">;
  distribution: Pick<KeyDistribution, "exportToClient">;
  /** The API's quorum approvals, for the operations `requireApproval` names. */
  approvals: Pick<ApprovalService, "request">;
  requireApproval: ReadonlyArray<"destroy" | "compromise">;
  /** Vendor Identification in Query answers. */
  vendor: string;
}

/** What each operation needs of the client's role (the API's permission table, src/access/roles.ts). */
const PERMISSION: Record<OperationName, Permission | "keys:read-or-use"> = {
  DiscoverVersions: "self",
  Query: "self",
  Create: "keys:manage",
  CreateKeyPair: "keys:manage",
  Register: "keys:manage",
  ReKey: "keys:manage",
  Activate: "keys:manage",
  Revoke: "keys:manage",
  Destroy: "keys:manage",
  AddAttribute: "keys:manage",
  ModifyAttribute: "keys:manage",
  DeleteAttribute: "keys:manage",
  // A service that may use keys must find them and read their attributes.
  Locate: "keys:read-or-use",
  GetAttributes: "keys:read-or-use",
  GetAttributeList: "keys:read-or-use",
  Get: "keys:distribute",
  Encrypt: "keys:use",
  Decrypt: "keys:use",
  Mac: "keys:use",
};

/** The operations answered (Query); the others in OPERATION answer Operation Not Supported with a reason. */
const SUPPORTED: OperationName[] = [
  "DiscoverVersions",
  "Query",
  "Create",
  "CreateKeyPair",
  "Register",
  "AddAttribute",
  "ModifyAttribute",
  "DeleteAttribute",
  "ReKey",
  "Locate",
  "Get",
  "GetAttributes",
  "GetAttributeList",
  "Activate",
  "Revoke",
  "Destroy",
  "Encrypt",
  "Decrypt",
  "Mac",
];

const COMPROMISE_REASONS = new Set<number>([REVOCATION_REASON.KeyCompromise, REVOCATION_REASON.CaCompromise]);
const REASON_NAMES = new Map<number, string>(Object.entries(REVOCATION_REASON).map(([n, c]) => [c, n]));

/**
 * KMIP operations on Keyward's KMS: a KMIP managed object is a Keyward key (its id is the Unique
 * Identifier), so what a KMIP client does is visible and manageable in the API, CLI and console,
 * and audited there with the client's certificate-bound token as the actor.
 */
export class KmipOperations {
  constructor(private readonly deps: KmipOperationsDeps) {}

  async handle(request: BatchRequest, client: KmipClient): Promise<BatchResult> {
    const permission = PERMISSION[request.operation];
    const role = client.principal.role;
    const allowed =
      permission === "keys:read-or-use"
        ? roleAllows(role, "keys:read") || roleAllows(role, "keys:use")
        : roleAllows(role, permission);
    if (!allowed) {
      throw new KmipError(
        "PermissionDenied",
        `role "${role}" lacks the permission "${permission === "keys:read-or-use" ? "keys:read or keys:use" : permission}" that ${request.operation} needs`,
      );
    }
    const p = request.payload;
    const actor = client.actor;
    switch (request.operation) {
      case "DiscoverVersions":
        return this.discoverVersions(p);
      case "Query":
        return this.query(p);
      case "Create":
        return this.create(p, actor);
      case "Locate":
        return this.locate(p, request);
      case "GetAttributes":
        return this.getAttributes(p, request);
      case "GetAttributeList": {
        const { key, publicHalf } = await this.object(p, request);
        const uid = publicHalf ? key.id + PUBLIC_SUFFIX : key.id;
        return {
          uniqueIdentifier: uid,
          payload: [
            text(TAG.UniqueIdentifier, uid),
            ...[...keyAttributes(key, publicHalf), ...(await this.custom(key))]
              .map(([name]) => name)
              .filter((name, i, names) => names.indexOf(name) === i)
              .map((name) => text(TAG.AttributeName, name)),
          ],
        };
      }
      case "Activate":
        return this.activate(p, request, actor);
      case "Revoke":
        return this.revoke(p, request, actor);
      case "Destroy":
        return this.destroy(p, request, actor);
      case "ReKey": {
        const key = await this.key(p, request);
        if (isSecretData(key)) throw new KmipError("IllegalOperation", `${key.name} is Secret Data: it has no new key`);
        if (optionalInt(p, TAG.Offset) !== undefined) {
          throw new KmipError(
            "FeatureNotSupported",
            "ReKey with an Offset is not supported: the new version is active at once",
          );
        }
        await this.deps.keys.rotate(key.id, actor);
        // The object keeps its identifier: a Keyward key is one object across its versions.
        return { uniqueIdentifier: key.id, payload: [text(TAG.UniqueIdentifier, key.id)] };
      }
      case "Encrypt":
        return this.encrypt(p, request, actor);
      case "Decrypt":
        return this.decrypt(p, request, actor);
      case "Mac": {
        const key = await this.key(p, request);
        if (isSecretData(key)) throw new KmipError("IllegalOperation", `${key.name} is Secret Data, not a MAC key`);
        const params = optionalStruct(p, TAG.CryptographicParameters);
        const algorithm = optionalEnum(params, TAG.CryptographicAlgorithm);
        if (algorithm !== undefined && algorithm !== CRYPTO_ALGORITHM.HMAC_SHA256) {
          throw new KmipError("InvalidField", "this server MACs with HMAC-SHA256 only");
        }
        const data = requiredBytes(p, TAG.Data, "Mac");
        const { mac } = await this.deps.crypto.mac(key.id, data, actor);
        return {
          uniqueIdentifier: key.id,
          payload: [text(TAG.UniqueIdentifier, key.id), bytes(TAG.MacData, Buffer.from(mac, "base64url"))],
        };
      }
      case "Get":
        return this.get(p, request, client);
      case "Register":
        return this.register(p, actor);
      case "CreateKeyPair":
        return this.createKeyPair(p, actor);
      case "AddAttribute":
      case "ModifyAttribute":
        return this.setAttribute(p, request, actor);
      case "DeleteAttribute":
        return this.deleteAttribute(p, request, actor);
    }
  }

  private discoverVersions(payload: TtlvItem | undefined): BatchResult {
    const asked = requestedVersions(payload);
    const ours = asked.length
      ? asked.filter(([a, b]) => PROTOCOL_VERSIONS.some(([x, y]) => x === a && y === b))
      : PROTOCOL_VERSIONS;
    return { payload: ours.map(protocolVersionItem) };
  }

  private query(payload: TtlvItem | undefined): BatchResult {
    const functions = findAll(payload, TAG.QueryFunction).map((f) => (f.type === "Enumeration" ? f.value : 0));
    const out: TtlvItem[] = [];
    if (functions.includes(QUERY_FUNCTION.Operations)) {
      for (const name of SUPPORTED) out.push(enumeration(TAG.Operation, OPERATION[name]));
    }
    if (functions.includes(QUERY_FUNCTION.Objects)) {
      out.push(
        enumeration(TAG.ObjectType, OBJECT_TYPE.SymmetricKey),
        enumeration(TAG.ObjectType, OBJECT_TYPE.SecretData),
      );
    }
    if (functions.includes(QUERY_FUNCTION.ServerInformation)) {
      out.push(text(TAG.VendorIdentification, this.deps.vendor));
    }
    return { payload: out };
  }

  private async create(payload: TtlvItem | undefined, actor: Actor): Promise<BatchResult> {
    const objectType = optionalEnum(payload, TAG.ObjectType);
    if (objectType !== OBJECT_TYPE.SymmetricKey) {
      throw new KmipError("InvalidField", "Create makes Symmetric Keys only (Object Type 2)");
    }
    const attributes = templateAttributes(payload);
    const get = (name: string) => attributes.find((a) => a.name === name)?.value;
    const algorithm = enumValue(get("Cryptographic Algorithm"), "Cryptographic Algorithm");
    const length = intValue(get("Cryptographic Length"), "Cryptographic Length");
    const mask =
      intValue(get("Cryptographic Usage Mask"), "Cryptographic Usage Mask") ?? USAGE_MASK.Encrypt | USAGE_MASK.Decrypt;
    let keyAlgorithm: KeyAlgorithm;
    if (algorithm === CRYPTO_ALGORITHM.AES && (length === 128 || length === 256)) keyAlgorithm = `AES-${length}`;
    else if (algorithm === CRYPTO_ALGORITHM.HMAC_SHA256 && (length === undefined || length === 256))
      keyAlgorithm = "HMAC-SHA256";
    else {
      throw new KmipError(
        "InvalidField",
        `Keyward creates AES keys of 128 or 256 bits and HMAC-SHA256 keys, not algorithm ${algorithm ?? "(none)"} of ${length ?? "?"} bits`,
      );
    }
    const purpose: KeyPurpose = keyAlgorithm === "HMAC-SHA256" ? "mac" : purposeOf(mask);
    const unknown = attributes.find((a) => !CREATE_ATTRIBUTES.has(a.name));
    if (unknown) throw new KmipError("InvalidField", `Create does not take the attribute "${unknown.name}" here`);
    const nameItem = get("Name");
    const name = nameItem ? nameValue(nameItem) : `kmip-${randomBytes(6).toString("hex")}`;
    const activation = get("Activation Date");
    const key = await this.deps.keys.create(
      {
        name,
        algorithm: keyAlgorithm,
        purpose,
        // The Export bit asks for a key that may leave (Get); without it the key never leaves the token.
        distributable: (mask & USAGE_MASK.Export) !== 0,
        ...(activation?.type === "DateTime" ? { activateAt: activation.value } : {}),
        tags: ["kmip"],
      },
      actor,
    );
    return {
      uniqueIdentifier: key.id,
      payload: [enumeration(TAG.ObjectType, OBJECT_TYPE.SymmetricKey), text(TAG.UniqueIdentifier, key.id)],
    };
  }

  /**
   * Register: the client's key or secret becomes a Keyward key whose first version is a token object
   * made from the value (sensitive; extractable only when it may leave). It came over mutual TLS, as
   * Get's answers leave; the value is zeroed once the token holds it and never reaches the database.
   */
  private async register(payload: TtlvItem | undefined, actor: Actor): Promise<BatchResult> {
    const objectType = optionalEnum(payload, TAG.ObjectType);
    const attributes = templateAttributes(payload);
    const unknown = attributes.find((a) => !REGISTER_ATTRIBUTES.has(a.name));
    if (unknown) throw new KmipError("InvalidField", `Register does not take the attribute "${unknown.name}" here`);
    const get = (name: string) => attributes.find((a) => a.name === name)?.value;
    const mask = intValue(get("Cryptographic Usage Mask"), "Cryptographic Usage Mask") ?? 0;
    const nameItem = get("Name");
    const name = nameItem ? nameValue(nameItem) : `kmip-${randomBytes(6).toString("hex")}`;
    if (objectType === OBJECT_TYPE.SymmetricKey) {
      const block = keyBlockOf(optionalStruct(payload, TAG.SymmetricKey), KEY_FORMAT_TYPE.Raw, "a Symmetric Key");
      const algorithm = optionalEnum(block.item, TAG.CryptographicAlgorithm);
      const length = optionalInt(block.item, TAG.CryptographicLength) ?? block.material.length * 8;
      let keyAlgorithm: SecretKeyAlgorithm;
      if (algorithm === CRYPTO_ALGORITHM.AES && (length === 128 || length === 256)) keyAlgorithm = `AES-${length}`;
      else if (algorithm === CRYPTO_ALGORITHM.HMAC_SHA256 && length >= 128) keyAlgorithm = "HMAC-SHA256";
      else {
        block.material.fill(0);
        throw new KmipError(
          "InvalidField",
          `Keyward registers AES keys of 128 or 256 bits and HMAC-SHA256 keys, not algorithm ${algorithm ?? "(none)"} of ${length} bits`,
        );
      }
      if (length !== block.material.length * 8) {
        block.material.fill(0);
        throw new KmipError("InvalidField", `the Key Material is ${block.material.length * 8} bits, not ${length}`);
      }
      const key = await this.deps.keys.register(
        {
          name,
          algorithm: keyAlgorithm,
          purpose: keyAlgorithm === "HMAC-SHA256" ? "mac" : purposeOf(mask),
          distributable: (mask & USAGE_MASK.Export) !== 0,
          tags: ["kmip"],
        },
        block.material,
        actor,
      );
      return { uniqueIdentifier: key.id, payload: [text(TAG.UniqueIdentifier, key.id)] };
    }
    if (objectType === OBJECT_TYPE.SecretData) {
      const secret = optionalStruct(payload, TAG.SecretData);
      const dataType = optionalEnum(secret, TAG.SecretDataType);
      if (dataType !== SECRET_DATA_TYPE.Password && dataType !== SECRET_DATA_TYPE.Seed) {
        throw new KmipError("InvalidField", "Secret Data needs a Secret Data Type: Password (1) or Seed (2)");
      }
      const block = keyBlockOf(secret, KEY_FORMAT_TYPE.Opaque, "Secret Data");
      // A secret given back by Get must be extractable, so it is a distributable key (recorded as a
      // distribution on every Get). It is kept as the token's generic secret, which Keyward's KMS
      // calls HMAC-SHA256; the tags say it is KMIP Secret Data and of which type.
      const key = await this.deps.keys.register(
        {
          name,
          algorithm: "HMAC-SHA256",
          purpose: "mac",
          distributable: true,
          rotationDays: 0,
          tags: ["kmip", SECRET_DATA_TAG, secretDataTypeTag(dataType)],
        },
        block.material,
        actor,
      );
      return { uniqueIdentifier: key.id, payload: [text(TAG.UniqueIdentifier, key.id)] };
    }
    throw new KmipError("InvalidField", "Register takes Symmetric Keys (Object Type 2) and Secret Data (7)");
  }

  private async locate(payload: TtlvItem | undefined, request: BatchRequest): Promise<BatchResult> {
    const filters = parseAttributes(payload);
    const max = optionalInt(payload, TAG.MaximumItems);
    const all = (await this.deps.keys.list()).sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
    // A key pair is two objects: its private key, then its public key.
    const objects = all.flatMap((key) =>
      isKeyPair(key)
        ? [
            { key, pub: false },
            { key, pub: true },
          ]
        : [{ key, pub: false }],
    );
    const hits = objects.filter((o) => filters.every((f) => matches(o.key, f, o.pub)));
    const found = max !== undefined && max >= 0 ? hits.slice(0, max) : hits;
    return {
      payload: [
        // Located Items is KMIP 1.3's; 1.2 clients would not expect it.
        request.version[0] > 1 || request.version[1] >= 3 ? int(TAG.LocatedItems, hits.length) : undefined,
        ...found.map((o) => text(TAG.UniqueIdentifier, o.pub ? o.key.id + PUBLIC_SUFFIX : o.key.id)),
      ].filter((i): i is TtlvItem => i !== undefined),
    };
  }

  private async getAttributes(payload: TtlvItem | undefined, request: BatchRequest): Promise<BatchResult> {
    const { key, publicHalf } = await this.object(payload, request);
    const uid = publicHalf ? key.id + PUBLIC_SUFFIX : key.id;
    const names = findAll(payload, TAG.AttributeName).map((n) => (n.type === "TextString" ? n.value : ""));
    const all = [...keyAttributes(key, publicHalf), ...(await this.custom(key))];
    const chosen = names.length ? all.filter(([name]) => names.includes(name)) : all;
    return {
      uniqueIdentifier: uid,
      payload: [
        text(TAG.UniqueIdentifier, uid),
        ...chosen.map(([name, value, index]) => attributeItem(name, value, index)),
      ],
    };
  }

  private async activate(payload: TtlvItem | undefined, request: BatchRequest, actor: Actor): Promise<BatchResult> {
    const key = await this.key(payload, request);
    const version = currentVersion(key);
    // Keyward keys are active from creation unless given a later Activation Date: activating an
    // active key changes nothing and succeeds, so clients that create-then-activate work unchanged.
    if (version.state === "pre-activation") {
      await this.deps.keys.changeState(
        key.id,
        { to: "active", version: version.version, reason: "KMIP Activate" },
        actor,
      );
    } else if (version.state !== "active") {
      throw new KmipError(
        "IllegalOperation",
        `key ${key.name} is ${version.state}: only a pre-active key can be activated`,
      );
    }
    return { uniqueIdentifier: key.id, payload: [text(TAG.UniqueIdentifier, key.id)] };
  }

  private async revoke(payload: TtlvItem | undefined, request: BatchRequest, actor: Actor): Promise<BatchResult> {
    const key = await this.key(payload, request);
    const reason = optionalStruct(payload, TAG.RevocationReason);
    const code = optionalEnum(reason, TAG.RevocationReasonCode);
    if (code === undefined)
      throw new KmipError("MissingData", "Revoke needs a Revocation Reason with a Revocation Reason Code");
    const reasonName = REASON_NAMES.get(code);
    if (!reasonName) throw new KmipError("InvalidField", `unknown Revocation Reason Code ${code}`);
    const message = optionalText(reason, TAG.RevocationMessage);
    const compromise = COMPROMISE_REASONS.has(code);
    const occurred = optionalDate(payload, TAG.CompromiseOccurrenceDate);
    const why = [`KMIP Revoke: ${reasonName}`, message, occurred ? `occurred ${occurred.toISOString()}` : undefined]
      .filter(Boolean)
      .join("; ");
    if (compromise && this.deps.requireApproval.includes("compromise")) {
      const summary = `compromise key ${key.name} (${why})`;
      throw pending("Revoke", [
        await this.deps.approvals.request("key.compromise", { keyId: key.id, reason: why }, summary, actor),
      ]);
    }
    // KMIP: compromise reasons make the object Compromised, every other reason Deactivated.
    await this.deps.keys.changeState(key.id, { to: compromise ? "compromised" : "deactivated", reason: why }, actor);
    return { uniqueIdentifier: key.id, payload: [text(TAG.UniqueIdentifier, key.id)] };
  }

  private async destroy(payload: TtlvItem | undefined, request: BatchRequest, actor: Actor): Promise<BatchResult> {
    const key = await this.key(payload, request);
    const live = key.versions.filter((v) => v.state !== "destroyed");
    const active = live.find((v) => v.state === "active" || v.state === "suspended");
    if (active) {
      throw new KmipError(
        "IllegalOperation",
        `key ${key.name} has an ${active.state} version (${active.version}): revoke it before destroying`,
      );
    }
    const due = live.filter((v) => !v.destroyAfter);
    if (due.length && this.deps.requireApproval.includes("destroy")) {
      const requests = [];
      for (const v of due) {
        requests.push(
          await this.deps.approvals.request(
            "key.destroy",
            { keyId: key.id, version: v.version },
            `destroy version ${v.version} of key ${key.name} (KMIP Destroy)`,
            actor,
          ),
        );
      }
      throw pending("Destroy", requests);
    }
    // Destruction waits out the configured period (kms.destroyWaitDays) exactly as the API's does;
    // until then an operator may cancel it.
    for (const v of live) {
      if (!v.destroyAfter) await this.deps.keys.scheduleDestroy(key.id, v.version, actor);
    }
    return { uniqueIdentifier: key.id, payload: [text(TAG.UniqueIdentifier, key.id)] };
  }

  private async encrypt(payload: TtlvItem | undefined, request: BatchRequest, actor: Actor): Promise<BatchResult> {
    const key = await this.key(payload, request);
    checkGcm(optionalStruct(payload, TAG.CryptographicParameters));
    const data = requiredBytes(payload, TAG.Data, "Encrypt");
    const iv = optionalBytes(payload, TAG.IvCounterNonce);
    const aad = optionalBytes(payload, TAG.AuthenticatedEncryptionAdditionalData);
    const sealed = await this.deps.crypto.encryptGcm(key.id, { plaintext: data, aad, iv }, actor);
    // KMIP 1.4 returns the tag in its own field; earlier versions have none, so it follows the data.
    const separateTag = atLeast14(request);
    return {
      uniqueIdentifier: key.id,
      payload: [
        text(TAG.UniqueIdentifier, key.id),
        bytes(TAG.Data, separateTag ? sealed.ciphertext : Buffer.concat([sealed.ciphertext, sealed.tag])),
        bytes(TAG.IvCounterNonce, sealed.iv),
        ...(separateTag ? [bytes(TAG.AuthenticatedEncryptionTag, sealed.tag)] : []),
      ],
    };
  }

  private async decrypt(payload: TtlvItem | undefined, request: BatchRequest, actor: Actor): Promise<BatchResult> {
    const key = await this.key(payload, request);
    checkGcm(optionalStruct(payload, TAG.CryptographicParameters));
    const data = requiredBytes(payload, TAG.Data, "Decrypt");
    const iv = optionalBytes(payload, TAG.IvCounterNonce);
    if (!iv)
      throw new KmipError("MissingData", "Decrypt with AES-GCM needs the IV/Counter/Nonce that Encrypt returned");
    const tag = optionalBytes(payload, TAG.AuthenticatedEncryptionTag);
    const aad = optionalBytes(payload, TAG.AuthenticatedEncryptionAdditionalData);
    if (!tag && data.length < 16)
      throw new KmipError("InvalidField", "the data is shorter than the 16-byte GCM tag it must end with");
    const { plaintext } = await this.deps.crypto.decryptGcm(
      key.id,
      tag
        ? { ciphertext: data, tag, iv, aad }
        : { ciphertext: data.subarray(0, -16), tag: data.subarray(-16), iv, aad },
      actor,
    );
    return { uniqueIdentifier: key.id, payload: [text(TAG.UniqueIdentifier, key.id), bytes(TAG.Data, plaintext)] };
  }

  private async get(payload: TtlvItem | undefined, request: BatchRequest, client: KmipClient): Promise<BatchResult> {
    const { key, publicHalf } = await this.object(payload, request);
    if (isKeyPair(key)) return this.getKeyPairHalf(key, publicHalf, optionalEnum(payload, TAG.KeyFormatType));
    const format = optionalEnum(payload, TAG.KeyFormatType);
    const wanted = isSecretData(key) ? KEY_FORMAT_TYPE.Opaque : KEY_FORMAT_TYPE.Raw;
    if (format !== undefined && format !== wanted) {
      throw new KmipError(
        "InvalidField",
        isSecretData(key)
          ? "Secret Data is returned in Key Format Type Opaque only"
          : "symmetric keys are returned in Key Format Type Raw only",
      );
    }
    if (find(payload, TAG.KeyWrappingSpecification)) {
      throw new KmipError(
        "FeatureNotSupported",
        "key wrapping in Get is not supported: the key travels inside the mutually authenticated TLS session",
      );
    }
    // ForbiddenError (Permission Denied) for keys that are not distributable.
    const { value } = await this.deps.distribution.exportToClient(key.id, client.certificate, client.actor);
    if (isSecretData(key)) {
      const block = struct(TAG.KeyBlock, [
        enumeration(TAG.KeyFormatType, KEY_FORMAT_TYPE.Opaque),
        struct(TAG.KeyValue, [bytes(TAG.KeyMaterial, value)]),
      ]);
      return {
        uniqueIdentifier: key.id,
        payload: [
          enumeration(TAG.ObjectType, OBJECT_TYPE.SecretData),
          text(TAG.UniqueIdentifier, key.id),
          struct(TAG.SecretData, [enumeration(TAG.SecretDataType, secretDataTypeOf(key)), block]),
        ],
      };
    }
    const { algorithm, length } = algorithmOf(key);
    const keyBlock = struct(TAG.KeyBlock, [
      enumeration(TAG.KeyFormatType, KEY_FORMAT_TYPE.Raw),
      struct(TAG.KeyValue, [bytes(TAG.KeyMaterial, value)]),
      enumeration(TAG.CryptographicAlgorithm, algorithm),
      int(TAG.CryptographicLength, length),
    ]);
    return {
      uniqueIdentifier: key.id,
      payload: [
        enumeration(TAG.ObjectType, OBJECT_TYPE.SymmetricKey),
        text(TAG.UniqueIdentifier, key.id),
        struct(TAG.SymmetricKey, [keyBlock]),
      ],
    };
  }

  /** A key's custom attributes, as Get Attributes lists them (with their index). */
  private async custom(key: ManagedKey): Promise<Array<[string, TtlvItem, number]>> {
    return (await this.deps.customAttributes.list(key.id)).map((a) => [a.name, text(0, a.value), a.index]);
  }

  /**
   * Add Attribute and Modify Attribute: a client's x-attributes (text) are kept with the key; Name is
   * the Keyward key's one name, so it is modified (a rename), never added.
   */
  private async setAttribute(payload: TtlvItem | undefined, request: BatchRequest, actor: Actor): Promise<BatchResult> {
    const { key } = await this.object(payload, request);
    const [attribute] = parseAttributes(payload);
    if (!attribute) throw new KmipError("MissingData", `${request.operation} needs an Attribute`);
    const adding = request.operation === "AddAttribute";
    const answer = (index: number, value: TtlvItem): BatchResult => ({
      uniqueIdentifier: key.id,
      payload: [text(TAG.UniqueIdentifier, key.id), attributeItem(attribute.name, value, index)],
    });
    if (attribute.name === "Name") {
      if (adding || attribute.index !== 0) {
        throw new KmipError(
          "IllegalOperation",
          "a Keyward key has exactly one Name: modify it (index 0) to rename the key",
        );
      }
      const renamed = await this.deps.keys.rename(key.id, nameValue(attribute.value), actor);
      return answer(0, keyAttributes(renamed).find(([n]) => n === "Name")![1]);
    }
    if (!isClientAttribute(attribute.name)) {
      throw new KmipError(
        "IllegalOperation",
        `${attribute.name} is set by Keyward, not by clients: clients add, modify and delete their own x- attributes (and rename with Name)`,
      );
    }
    if (attribute.name.length > CUSTOM_LIMITS.nameChars)
      throw new KmipError("InvalidField", "the attribute name is too long");
    if (attribute.value.type !== "TextString" || attribute.value.value.length > CUSTOM_LIMITS.valueChars) {
      throw new KmipError(
        "InvalidField",
        `custom attributes are Text Strings of at most ${CUSTOM_LIMITS.valueChars} characters`,
      );
    }
    const existing = await this.deps.customAttributes.list(key.id);
    const same = existing.filter((a) => a.name === attribute.name);
    let index = attribute.index;
    if (adding) {
      if (existing.length >= CUSTOM_LIMITS.perKey) {
        throw new KmipError("IllegalOperation", `a key keeps at most ${CUSTOM_LIMITS.perKey} custom attributes`);
      }
      // A new instance goes after the existing ones (KMIP assigns the index on Add).
      index = same.length ? Math.max(...same.map((a) => a.index)) + 1 : 0;
    } else if (!same.some((a) => a.index === index)) {
      throw new KmipError("ItemNotFound", `key ${key.name} has no attribute ${attribute.name} at index ${index}`);
    }
    const value = attribute.value.value;
    await this.deps.customAttributes.put(
      key.id,
      { name: attribute.name, index, value },
      keyEvent(adding ? "kmip.attribute.add" : "kmip.attribute.modify", key, actor, this.deps.now(), {
        attribute: attribute.name,
        index,
        value,
      }),
    );
    return answer(index, text(0, value));
  }

  private async deleteAttribute(
    payload: TtlvItem | undefined,
    request: BatchRequest,
    actor: Actor,
  ): Promise<BatchResult> {
    const { key } = await this.object(payload, request);
    const name = optionalText(payload, TAG.AttributeName);
    if (!name) throw new KmipError("MissingData", "Delete Attribute needs an Attribute Name");
    const index = optionalInt(payload, TAG.AttributeIndex) ?? 0;
    if (!isClientAttribute(name)) {
      throw new KmipError("IllegalOperation", `${name} cannot be deleted: only a client's own x- attributes can`);
    }
    const found = (await this.deps.customAttributes.list(key.id)).find((a) => a.name === name && a.index === index);
    if (!found) throw new KmipError("ItemNotFound", `key ${key.name} has no attribute ${name} at index ${index}`);
    await this.deps.customAttributes.remove(
      key.id,
      name,
      index,
      keyEvent("kmip.attribute.delete", key, actor, this.deps.now(), {
        attribute: name,
        index,
        value: found.value,
      }),
    );
    return {
      uniqueIdentifier: key.id,
      payload: [text(TAG.UniqueIdentifier, key.id), attributeItem(name, text(0, found.value), index)],
    };
  }

  /** A key pair's public key (X.509 SubjectPublicKeyInfo); its private key never leaves the token. */
  private getKeyPairHalf(key: ManagedKey, publicHalf: boolean, format: number | undefined): BatchResult {
    if (!publicHalf) {
      throw new KmipError(
        "PermissionDenied",
        `the private key of ${key.name} was generated non-extractable in the token and never leaves it (Get ${key.id}${PUBLIC_SUFFIX} for its public key)`,
      );
    }
    if (format !== undefined && format !== KEY_FORMAT_TYPE.X509) {
      throw new KmipError(
        "InvalidField",
        "public keys are returned in Key Format Type X.509 (SubjectPublicKeyInfo) only",
      );
    }
    const version = currentVersion(key);
    if (!version.publicKey)
      throw new KmipError("ItemNotFound", `version ${version.version} of ${key.name} has no public key`);
    const { algorithm, length } = algorithmOf(key);
    const uid = key.id + PUBLIC_SUFFIX;
    return {
      uniqueIdentifier: uid,
      payload: [
        enumeration(TAG.ObjectType, OBJECT_TYPE.PublicKey),
        text(TAG.UniqueIdentifier, uid),
        struct(TAG.PublicKey, [
          struct(TAG.KeyBlock, [
            enumeration(TAG.KeyFormatType, KEY_FORMAT_TYPE.X509),
            struct(TAG.KeyValue, [bytes(TAG.KeyMaterial, version.publicKey)]),
            enumeration(TAG.CryptographicAlgorithm, algorithm),
            int(TAG.CryptographicLength, length),
          ]),
        ]),
      ],
    };
  }

  /**
   * Create Key Pair: a Keyward key pair (RSA 2048/3072/4096, ECDSA P-256/P-384), the private key
   * generated non-extractable in the token. Its Unique Identifier is the key's id; the public key's
   * is the same with /public. A Decrypt usage mask on the private key makes an RSA decrypt key.
   */
  private async createKeyPair(payload: TtlvItem | undefined, actor: Actor): Promise<BatchResult> {
    const group = (tag: number) => {
      const template = optionalStruct(payload, tag);
      const names = findAll(template, TAG.Name).map((n) => ({ name: "Name", index: 0, value: n }));
      return [...parseAttributes(template), ...names];
    };
    const common = group(TAG.CommonTemplateAttribute);
    const privateAttrs = group(TAG.PrivateKeyTemplateAttribute);
    const publicAttrs = group(TAG.PublicKeyTemplateAttribute);
    const all = [...privateAttrs, ...common, ...publicAttrs];
    const unknown = all.find((a) => !KEY_PAIR_ATTRIBUTES.has(a.name));
    if (unknown)
      throw new KmipError("InvalidField", `Create Key Pair does not take the attribute "${unknown.name}" here`);
    const get = (name: string) => all.find((a) => a.name === name)?.value;
    const algorithm = enumValue(get("Cryptographic Algorithm"), "Cryptographic Algorithm");
    const curve = enumValue(get("Recommended Curve"), "Recommended Curve");
    let length = intValue(get("Cryptographic Length"), "Cryptographic Length");
    if (length === undefined && curve === RECOMMENDED_CURVE.P256) length = 256;
    if (length === undefined && curve === RECOMMENDED_CURVE.P384) length = 384;
    let keyAlgorithm: KeyPairAlgorithm;
    if (algorithm === CRYPTO_ALGORITHM.RSA && (length === 2048 || length === 3072 || length === 4096)) {
      keyAlgorithm = `RSA-${length}`;
    } else if (
      (algorithm === CRYPTO_ALGORITHM.ECDSA || algorithm === CRYPTO_ALGORITHM.EC) &&
      (length === 256 || length === 384)
    ) {
      keyAlgorithm = `ECDSA-P${length}`;
    } else {
      throw new KmipError(
        "InvalidField",
        `Keyward makes RSA key pairs of 2048, 3072 or 4096 bits and EC key pairs on P-256 or P-384, not algorithm ${algorithm ?? "(none)"} of ${length ?? "?"} bits`,
      );
    }
    const privateMask = intValue(
      (
        privateAttrs.find((a) => a.name === "Cryptographic Usage Mask") ??
        common.find((a) => a.name === "Cryptographic Usage Mask")
      )?.value,
      "Cryptographic Usage Mask",
    );
    const purpose: KeyPurpose =
      keyAlgorithm.startsWith("RSA-") &&
      privateMask !== undefined &&
      privateMask & USAGE_MASK.Decrypt &&
      !(privateMask & USAGE_MASK.Sign)
        ? "decrypt"
        : "sign";
    // The key's name: the private key's, else the common one, else the public key's.
    const nameItem = [...privateAttrs, ...common, ...publicAttrs].find((a) => a.name === "Name")?.value;
    const name = nameItem ? nameValue(nameItem) : `kmip-${randomBytes(6).toString("hex")}`;
    const key = await this.deps.keys.create({ name, algorithm: keyAlgorithm, purpose, tags: ["kmip"] }, actor);
    return {
      uniqueIdentifier: key.id,
      payload: [
        text(TAG.PrivateKeyUniqueIdentifier, key.id),
        text(TAG.PublicKeyUniqueIdentifier, key.id + PUBLIC_SUFFIX),
      ],
    };
  }

  /** The key a request names (for a key pair's public key: the key pair, whose lifecycle it shares). */
  private async key(payload: TtlvItem | undefined, request: BatchRequest): Promise<ManagedKey> {
    return (await this.object(payload, request)).key;
  }

  /** The object a request names: its Unique Identifier, else the batch's ID Placeholder. */
  private async object(
    payload: TtlvItem | undefined,
    request: BatchRequest,
  ): Promise<{ key: ManagedKey; publicHalf: boolean }> {
    const uid = optionalText(payload, TAG.UniqueIdentifier) ?? request.placeholder;
    if (!uid) throw new KmipError("MissingData", `${request.operation} needs a Unique Identifier`);
    const publicHalf = uid.endsWith(PUBLIC_SUFFIX);
    const id = publicHalf ? uid.slice(0, -PUBLIC_SUFFIX.length) : uid;
    // Keyward key ids are UUIDs: anything else is simply not found (and never reaches SQL as garbage).
    if (!/^[0-9a-f-]{36}$/.test(id)) throw new KmipError("ItemNotFound", `no object with Unique Identifier ${uid}`);
    const key = await this.deps.keys.get(id);
    if (publicHalf && !isKeyPair(key)) throw new KmipError("ItemNotFound", `no object with Unique Identifier ${uid}`);
    return { key, publicHalf };
  }
}

/**
 * KMIP 1.x clients cannot poll an approval (Operation Pending needs asynchronous support few have):
 * the refusal names the pending requests, which run the operation once approved.
 */
function pending(operation: string, requests: Array<{ id: string; requiredApprovals: number; approverRole: string }>) {
  const first = requests[0]!;
  return new KmipError(
    "PermissionDenied",
    `${operation} needs ${first.requiredApprovals} approval(s) from ${first.approverRole}s (kmip.requireApproval): approval request ${requests.map((r) => r.id).join(", ")} is pending and runs the operation once approved`,
  );
}

/** Usage mask Wrap/Unwrap alone → purpose wrap; anything else encrypts. */
function purposeOf(mask: number): KeyPurpose {
  return mask & (USAGE_MASK.WrapKey | USAGE_MASK.UnwrapKey) && !(mask & (USAGE_MASK.Encrypt | USAGE_MASK.Decrypt))
    ? "wrap"
    : "encrypt";
}

/** The Key Block of a registered object: its format and its material (a copy the caller zeroes). */
function keyBlockOf(object: TtlvItem | undefined, format: number, what: string): { item: TtlvItem; material: Buffer } {
  const block = optionalStruct(object, TAG.KeyBlock);
  if (!block) throw new KmipError("MissingData", `Register of ${what} needs its Key Block`);
  const given = optionalEnum(block, TAG.KeyFormatType);
  if (given !== format) {
    throw new KmipError("InvalidField", `${what} is registered in Key Format Type ${format}, not ${given ?? "(none)"}`);
  }
  if (find(block, TAG.KeyWrappingData)) {
    throw new KmipError(
      "FeatureNotSupported",
      "wrapped key material is not registered here: send it inside the TLS session",
    );
  }
  const material = optionalBytes(optionalStruct(block, TAG.KeyValue), TAG.KeyMaterial);
  if (!material?.length) throw new KmipError("MissingData", `Register of ${what} needs its Key Material`);
  return { item: block, material: Buffer.from(material) };
}

const KEY_PAIR_ATTRIBUTES = new Set([
  "Cryptographic Algorithm",
  "Cryptographic Length",
  "Cryptographic Usage Mask",
  "Recommended Curve",
  "Name",
]);

const REGISTER_ATTRIBUTES = new Set(["Cryptographic Usage Mask", "Name"]);

const CREATE_ATTRIBUTES = new Set([
  "Cryptographic Algorithm",
  "Cryptographic Length",
  "Cryptographic Usage Mask",
  "Name",
  "Activation Date",
]);

/** Template-Attribute (KMIP 1.x) attributes, including Names given in it directly. */
function templateAttributes(payload: TtlvItem | undefined): KmipAttribute[] {
  const template = optionalStruct(payload, TAG.TemplateAttribute);
  const names = findAll(template, TAG.Name).map((n) => ({ name: "Name", index: 0, value: n }));
  return [...parseAttributes(template), ...names];
}

function nameValue(item: TtlvItem): string {
  const value = optionalText(item, TAG.NameValue);
  if (!value) throw new KmipError("InvalidField", "a Name needs a Name Value");
  return value;
}

function enumValue(item: TtlvItem | undefined, what: string): number | undefined {
  if (!item) return undefined;
  if (item.type !== "Enumeration") throw new KmipError("InvalidField", `${what} is an Enumeration`);
  return item.value;
}

function intValue(item: TtlvItem | undefined, what: string): number | undefined {
  if (!item) return undefined;
  if (item.type !== "Integer") throw new KmipError("InvalidField", `${what} is an Integer`);
  return item.value;
}

function requiredBytes(payload: TtlvItem | undefined, tag: number, operation: string): Buffer {
  const value = optionalBytes(payload, tag);
  if (!value) throw new KmipError("MissingData", `${operation} needs Data`);
  return value;
}

const atLeast14 = (request: BatchRequest) => request.version[0] > 1 || request.version[1] >= 4;

/** AES-GCM (done by the token) is the one mode offered; other modes are refused by name. */
function checkGcm(params: TtlvItem | undefined): void {
  const mode = optionalEnum(params, TAG.BlockCipherMode);
  const algorithm = optionalEnum(params, TAG.CryptographicAlgorithm);
  const padding = optionalEnum(params, TAG.PaddingMethod);
  const tagLength = optionalInt(params, TAG.TagLength);
  if (algorithm !== undefined && algorithm !== CRYPTO_ALGORITHM.AES) {
    throw new KmipError("InvalidField", "this server encrypts with AES only");
  }
  if (mode !== undefined && mode !== BLOCK_CIPHER_MODE.GCM) {
    throw new KmipError(
      "InvalidField",
      `Block Cipher Mode ${mode} is not supported: this server encrypts with AES-GCM (mode 9) only`,
    );
  }
  if (padding !== undefined && padding !== PADDING_METHOD.None) {
    throw new KmipError("InvalidField", "AES-GCM takes no padding (Padding Method None)");
  }
  if (tagLength !== undefined && tagLength !== 16) {
    throw new KmipError("InvalidField", `the GCM tag is 16 bytes here, not ${tagLength}`);
  }
}

function matches(key: ManagedKey, filter: KmipAttribute, publicHalf: boolean): boolean {
  const v = filter.value;
  switch (filter.name) {
    case "Name":
      return nameValue(v) === key.name;
    case "State":
      return v.type === "Enumeration" && v.value === kmipState(key);
    case "Object Type":
      return v.type === "Enumeration" && v.value === objectTypeOf(key, publicHalf);
    case "Cryptographic Algorithm":
      return !isSecretData(key) && v.type === "Enumeration" && v.value === algorithmOf(key).algorithm;
    case "Cryptographic Length":
      return !isSecretData(key) && v.type === "Integer" && v.value === algorithmOf(key).length;
    case "Unique Identifier":
      return v.type === "TextString" && v.value === (publicHalf ? key.id + PUBLIC_SUFFIX : key.id);
    default:
      throw new KmipError(
        "InvalidField",
        `Locate by "${filter.name}" is not supported; by Name, State, Object Type, Cryptographic Algorithm or Length`,
      );
  }
}
