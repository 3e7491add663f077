import pkcs11js from "pkcs11js";

/** PKCS#11 3.0 values pkcs11js 2.1.7 does not export. */
export const CKK_EC_EDWARDS = 0x40;
export const CKM_EC_EDWARDS_KEY_PAIR_GEN = 0x1055;
export const CKM_EDDSA = 0x1057;

const NAMES = new Map<number, string>([
  [CKM_EC_EDWARDS_KEY_PAIR_GEN, "CKM_EC_EDWARDS_KEY_PAIR_GEN"],
  [CKM_EDDSA, "CKM_EDDSA"],
]);
for (const [name, value] of Object.entries(pkcs11js as unknown as Record<string, unknown>)) {
  // The first name wins: later ones are deprecated aliases (CKM_ECDSA_KEY_PAIR_GEN for CKM_EC_KEY_PAIR_GEN).
  if (name.startsWith("CKM_") && typeof value === "number" && !NAMES.has(value)) NAMES.set(value, name);
}
NAMES.set(pkcs11js.CKM_EC_KEY_PAIR_GEN, "CKM_EC_KEY_PAIR_GEN");

/** A mechanism's CKM_ name, or its number in hex when it is vendor-defined or unknown here. */
export function mechanismName(mechanism: number): string {
  return NAMES.get(mechanism) ?? `CKM_0x${mechanism.toString(16).padStart(8, "0")}`;
}
