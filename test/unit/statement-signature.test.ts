import { generateKeyPairSync, sign } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ecdsaRawToDer } from "../../src/pki/ecdsa-signature.js";
import { jwsAlgorithmFor, statementKeyType, verifyStatement } from "../../src/pki/statement-signature.js";

/** Keyward's statements (tree heads, revoked-key list, backups) verify whatever type the token gave their signer. */
const message = Buffer.from("keyward tree head 42");

const pairs = {
  p256: generateKeyPairSync("ec", { namedCurve: "P-256" }),
  p384: generateKeyPairSync("ec", { namedCurve: "P-384" }),
  rsa2048: generateKeyPairSync("rsa", { modulusLength: 2048 }),
  ed25519: generateKeyPairSync("ed25519"),
};
const spki = (key: keyof typeof pairs) => pairs[key].publicKey.export({ format: "der", type: "spki" });

describe("statement signatures", () => {
  it.each([
    ["p256", "sha256", "ES256"],
    ["p384", "sha384", "ES384"],
    ["rsa2048", "sha256", "RS256"],
    ["ed25519", null, "EdDSA"],
  ] as const)("%s: signed with the key's own hash, verified from the SPKI alone", (type, digest, alg) => {
    expect(statementKeyType(spki(type))).toBe(type);
    expect(jwsAlgorithmFor(type)).toBe(alg);
    const raw = sign(digest, message, { key: pairs[type].privateKey, dsaEncoding: "ieee-p1363" });
    const der = type.startsWith("p") ? ecdsaRawToDer(raw) : raw;
    expect(verifyStatement(spki(type), message, der, "der")).toBe(true);
    expect(verifyStatement(spki(type), message, raw, "ieee-p1363")).toBe(true);
    expect(verifyStatement(spki(type), Buffer.from("keyward tree head 43"), der, "der")).toBe(false);
  });

  it("a signature by another key or of another type is invalid, not an error", () => {
    const ec = sign("sha256", message, pairs.p256.privateKey);
    expect(verifyStatement(spki("rsa2048"), message, ec, "der")).toBe(false);
    expect(verifyStatement(spki("ed25519"), message, ec, "der")).toBe(false);
    // P-384 statements hash with SHA-384: a SHA-256 signature does not pass.
    expect(verifyStatement(spki("p384"), message, sign("sha256", message, pairs.p384.privateKey), "der")).toBe(false);
  });
});
