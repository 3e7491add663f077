/** Key types Keyward creates in the token and accepts in CSRs, and how each one signs. */
export const KEY_TYPES = ["p256", "p384", "rsa2048", "rsa3072", "rsa4096", "ed25519"] as const;
export type KeyType = (typeof KEY_TYPES)[number];

export type HashName = "SHA-256" | "SHA-384" | "SHA-512";

/** A WebCrypto signing algorithm as @peculiar/x509 and pkijs expect it. */
export type SigningAlgorithm =
  | { name: "ECDSA"; hash: HashName }
  | { name: "RSASSA-PKCS1-v1_5"; hash: HashName }
  | { name: "Ed25519" };

/** The WebCrypto key algorithm of a key of this type (what a CryptoKey's `algorithm` says). */
export type KeyAlgorithm =
  | { name: "ECDSA"; namedCurve: "P-256" | "P-384" }
  | { name: "RSASSA-PKCS1-v1_5"; modulusLength: number; publicExponent: Uint8Array; hash: { name: HashName } }
  | { name: "Ed25519" };

export function isKeyType(value: string): value is KeyType {
  return (KEY_TYPES as readonly string[]).includes(value);
}

export function keyFamily(type: KeyType): "ec" | "rsa" | "ed25519" {
  if (type === "p256" || type === "p384") return "ec";
  if (type === "ed25519") return "ed25519";
  return "rsa";
}

export function rsaBits(type: KeyType): number {
  switch (type) {
    case "rsa2048":
      return 2048;
    case "rsa3072":
      return 3072;
    case "rsa4096":
      return 4096;
    default:
      throw new Error(`${type} is not an RSA key type`);
  }
}

/** The signature a CA key of this type makes: hash strength matched to the key. */
export function signingAlgorithmFor(type: KeyType): SigningAlgorithm {
  switch (type) {
    case "p256":
      return { name: "ECDSA", hash: "SHA-256" };
    case "p384":
      return { name: "ECDSA", hash: "SHA-384" };
    case "ed25519":
      return { name: "Ed25519" };
    default:
      return { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
  }
}

export function keyAlgorithmFor(type: KeyType): KeyAlgorithm {
  switch (type) {
    case "p256":
      return { name: "ECDSA", namedCurve: "P-256" };
    case "p384":
      return { name: "ECDSA", namedCurve: "P-384" };
    case "ed25519":
      return { name: "Ed25519" };
    default:
      return {
        name: "RSASSA-PKCS1-v1_5",
        modulusLength: rsaBits(type),
        publicExponent: new Uint8Array([1, 0, 1]),
        hash: { name: "SHA-256" },
      };
  }
}
