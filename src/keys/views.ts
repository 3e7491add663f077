import { protectionOf } from "../hsm/index.js";
import { spkiSha256Hex } from "../pki/spki.js";
import { OAEP_ALGORITHMS } from "./key-pair-crypto.js";
import { isKeyPair, signatureAlgorithmsFor } from "./key-pairs.js";
import type { Distribution, ManagedKey } from "./ports.js";

/** What a key pair does: its signature algorithms, or the RSA-OAEP variant it decrypts. */
function keyPairView(k: ManagedKey) {
  if (!isKeyPair(k)) return {};
  return k.purpose === "decrypt"
    ? { keyPair: true, encryptionAlgorithm: OAEP_ALGORITHMS[k.oaepHash ?? "SHA-256"] }
    : { keyPair: true, signatureAlgorithms: signatureAlgorithmsFor(k.algorithm) };
}

/** JSON shape of a key (secret key or key pair) with its versions (never private key material). */
export function keyView(k: ManagedKey) {
  return {
    id: k.id,
    name: k.name,
    algorithm: k.algorithm,
    purpose: k.purpose,
    distributable: k.distributable,
    rotationDays: k.rotationDays,
    cryptoperiodDays: k.cryptoperiodDays,
    tags: k.tags,
    onRecipientRevoked: k.onRecipientRevoked,
    // kms.protection when the newest version was made: "token" (an object in the token) or "sealed".
    protection: protectionOf(k.versions.at(-1)?.keyUri ?? ""),
    ...keyPairView(k),
    createdAt: k.createdAt.toISOString(),
    versions: k.versions.map((v) => ({
      version: v.version,
      state: v.state,
      keyUri: v.keyUri,
      protection: protectionOf(v.keyUri),
      createdAt: v.createdAt.toISOString(),
      activateAt: v.activateAt?.toISOString() ?? null,
      deactivateAt: v.deactivateAt?.toISOString() ?? null,
      destroyAfter: v.destroyAfter?.toISOString() ?? null,
      destroyedAt: v.destroyedAt?.toISOString() ?? null,
      ...(v.publicKey ? { spkiSha256: spkiSha256Hex(v.publicKey), certificateSerial: v.certificateSerial } : {}),
    })),
  };
}

/** JSON shape of one distribution of a key version to a recipient certificate. */
export function distributionView(d: Distribution) {
  return {
    id: d.id,
    keyId: d.keyId,
    version: d.version,
    format: d.format,
    recipient: {
      serial: d.recipientSerial,
      subject: d.recipientSubject,
      spkiSha256: d.recipientSpkiSha256,
      notAfter: d.recipientNotAfter.toISOString(),
    },
    createdAt: d.createdAt.toISOString(),
    createdBy: d.createdBy,
    exposed: d.exposedAt !== null,
    exposedAt: d.exposedAt?.toISOString() ?? null,
    exposureReason: d.exposureReason,
  };
}
