import { webcrypto } from "node:crypto";
import {
  type HashName,
  type KeyAlgorithm,
  keyAlgorithmFor,
  type KeyType,
  type SigningAlgorithm,
} from "../pki/key-types.js";
import { toArrayBuffer } from "../pki/spki.js";
import type { KeyStore } from "./ports.js";

/**
 * A CryptoKey look-alike that names a private key in the token. @peculiar/x509 and pkijs accept it
 * because it has the fields they check (type, algorithm, extractable, usages); signing goes through
 * `signingCrypto()`, which routes it to the key store. The key itself never leaves the token.
 */
export class TokenPrivateKey {
  readonly type = "private";
  readonly extractable = false;
  readonly usages: KeyUsage[] = ["sign"];
  readonly algorithm: KeyAlgorithm;

  constructor(
    readonly store: KeyStore,
    readonly uri: string,
    readonly keyType: KeyType,
    /** Runs with the exact bytes about to be signed, before the HSM signs them. */
    readonly beforeSign?: (data: Uint8Array) => Promise<void>,
  ) {
    this.algorithm = keyAlgorithmFor(keyType);
  }

  /** The same key, with a hook that sees the to-be-signed bytes first (record-then-sign). */
  withBeforeSign(hook: (data: Uint8Array) => Promise<void>): TokenPrivateKey {
    return new TokenPrivateKey(this.store, this.uri, this.keyType, hook);
  }

  async sign(algorithm: unknown, data: Uint8Array): Promise<ArrayBuffer> {
    if (this.beforeSign) await this.beforeSign(data);
    const signature = await this.store.sign(this.uri, toSigningAlgorithm(algorithm, this.keyType), data);
    return toArrayBuffer(signature);
  }
}

function hashName(hash: unknown): HashName {
  const name = typeof hash === "string" ? hash : (hash as { name?: string } | undefined)?.name;
  const normal = name?.toUpperCase().replace(/^SHA-?/, "SHA-");
  if (normal === "SHA-256" || normal === "SHA-384" || normal === "SHA-512") return normal;
  throw new Error(`unsupported hash for HSM signing: ${String(name)}`);
}

function toSigningAlgorithm(algorithm: unknown, keyType: KeyType): SigningAlgorithm {
  const alg = (typeof algorithm === "string" ? { name: algorithm } : algorithm) as { name: string; hash?: unknown };
  switch (alg.name.toUpperCase()) {
    case "ECDSA":
      return { name: "ECDSA", hash: hashName(alg.hash) };
    case "RSASSA-PKCS1-V1_5":
      return { name: "RSASSA-PKCS1-v1_5", hash: hashName(alg.hash ?? keyAlgorithmFor(keyType)) };
    case "ED25519":
    case "EDDSA":
      return { name: "Ed25519" };
    default:
      throw new Error(`unsupported algorithm for HSM signing: ${alg.name}`);
  }
}

function toBytes(data: BufferSource): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(data);
}

/**
 * A `Crypto` for @peculiar/x509 and pkijs, passed explicitly at each call site (never set
 * globally): Node's WebCrypto for everything, except `sign` with a TokenPrivateKey.
 */
export function signingCrypto(): Crypto {
  const subtle = new Proxy(webcrypto.subtle, {
    get(target, property) {
      if (property === "sign") {
        return (algorithm: AlgorithmIdentifier, key: CryptoKey | TokenPrivateKey, data: BufferSource) =>
          key instanceof TokenPrivateKey
            ? key.sign(algorithm, toBytes(data))
            : target.sign(algorithm, key as CryptoKey, data);
      }
      const value = Reflect.get(target, property, target);
      // Node's SubtleCrypto methods throw "Illegal invocation" unless bound to the real object.
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return {
    subtle,
    getRandomValues: <T extends ArrayBufferView | null>(array: T) => webcrypto.getRandomValues(array as never) as T,
    randomUUID: () => webcrypto.randomUUID(),
  } as unknown as Crypto;
}
