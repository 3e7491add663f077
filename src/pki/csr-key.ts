import { constants, type KeyObject, verify } from "node:crypto";
import { publicKeyProblem } from "./goodkey.js";
import type { KeyType } from "./key-types.js";
import type { CsrSignatureCheck } from "./pkcs10.js";
import { describeKey, importSpki, keyTypeOf } from "./spki.js";

export type CsrKeyVerdict =
  | { key: "undecodable" }
  | {
      key: "decoded";
      /** Undefined for key types Keyward does not accept: their signature is not checked. */
      keyType: KeyType | undefined;
      keyDescription: string;
      /** Why the key must not be certified (goodkey), when it is weak; its signature is then unchecked. */
      weakness?: string;
      signature: "valid" | "invalid" | "unchecked" | { uncheckable: string };
    };

/**
 * Decodes the CSR's public key, looks for weaknesses (goodkey.ts) and checks the CSR's
 * self-signature with it. Importing the key costs about what verifying does (importSpki: 45–62 µs
 * for P-256 in the bench's runs; trial division of an RSA modulus is less), so issuance runs this
 * in a thread.
 */
export async function checkCsrKey(check: CsrSignatureCheck): Promise<CsrKeyVerdict> {
  let publicKey: KeyObject;
  try {
    publicKey = await importSpki(check.spki);
  } catch {
    return { key: "undecodable" };
  }
  const keyType = keyTypeOf(publicKey);
  const decoded = { key: "decoded", keyType, keyDescription: describeKey(publicKey) } as const;
  if (!keyType) return { ...decoded, signature: "unchecked" };
  // Weak keys are refused whatever their signature says: the check is as cheap, and it is the answer.
  const weakness = publicKeyProblem(publicKey);
  if (weakness) return { ...decoded, weakness, signature: "unchecked" };
  if (check.refused) return { ...decoded, signature: { uncheckable: check.refused } };
  const key =
    check.pss === undefined
      ? publicKey
      : { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: check.pss };
  try {
    return { ...decoded, signature: verify(check.hash, check.info, key, check.signature) ? "valid" : "invalid" };
  } catch {
    return { ...decoded, signature: { uncheckable: "it cannot be decoded" } };
  }
}
