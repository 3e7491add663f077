import { createPublicKey, generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { importSpki, keyTypeOf, spkiFromDer } from "../../src/pki/spki.js";

// spkiFromDer imports P-256, P-384 and Ed25519 keys from a JWK it builds from the DER, importSpki
// P-256 and P-384 points through WebCrypto's raw import (both faster than OpenSSL's decoder); these
// hold both to what the decoder does with the same bytes.
const keys = {
  p256: generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey,
  p384: generateKeyPairSync("ec", { namedCurve: "P-384" }).publicKey,
  ed25519: generateKeyPairSync("ed25519").publicKey,
  rsa2048: generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey,
} as const;

const importers = { spkiFromDer, importSpki };

for (const [importer, importKey] of Object.entries(importers)) {
  describe(importer, () => {
    for (const [type, key] of Object.entries(keys)) {
      it(`${type}: the same key as OpenSSL's decoder`, async () => {
        const der = key.export({ type: "spki", format: "der" });
        const imported = await importKey(der);
        expect(imported.equals(key)).toBe(true);
        expect(keyTypeOf(imported)).toBe(type);
        expect(imported.export({ type: "spki", format: "der" }).equals(der)).toBe(true);
        // A view into a larger buffer (how the CSR parser hands it over) reads only its own bytes.
        const embedded = Buffer.concat([Buffer.from([1, 2, 3]), der, Buffer.from([4])]);
        expect((await importKey(embedded.subarray(3, 3 + der.length))).equals(key)).toBe(true);
      });
    }

    it("refuses a point off the curve, as the decoder does", async () => {
      for (const key of [keys.p256, keys.p384]) {
        const der = key.export({ type: "spki", format: "der" });
        der[der.length - 1]! ^= 1;
        expect(() => createPublicKey({ key: der, format: "der", type: "spki" })).toThrow();
        await expect(async () => importKey(der)).rejects.toThrow();
      }
    });

    it("leaves what it does not recognise exactly (trailing bytes, truncation, compressed points) to the decoder", async () => {
      const der = keys.p256.export({ type: "spki", format: "der" });
      const compressed = Buffer.from(der);
      compressed[26] = 0x02;
      const decoder = (bytes: Buffer) => {
        try {
          return createPublicKey({ key: bytes, format: "der", type: "spki" }).export({ format: "jwk" });
        } catch (error) {
          return (error as Error).message;
        }
      };
      const ours = async (bytes: Buffer) => {
        try {
          return (await importKey(bytes)).export({ format: "jwk" });
        } catch (error) {
          return (error as Error).message;
        }
      };
      for (const bytes of [Buffer.concat([der, Buffer.from([0])]), der.subarray(0, der.length - 1), compressed]) {
        expect(await ours(bytes)).toEqual(decoder(bytes));
      }
      expect(await ours(der.subarray(0, der.length - 1))).toMatch(/too long/);
    });
  });
}
