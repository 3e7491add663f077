import { sequence, unsignedInteger } from "./der.js";

/** WebCrypto ECDSA signatures are r||s; X.509, CRLs, OCSP and audit checkpoints carry Ecdsa-Sig-Value. */
export function ecdsaRawToDer(raw: Uint8Array): Buffer {
  const half = raw.length / 2;
  return sequence(unsignedInteger(raw.subarray(0, half)), unsignedInteger(raw.subarray(half)));
}
