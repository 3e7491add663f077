import { children, type DerElement, DerError, expectTag, readElement, sequence, unsignedInteger } from "./der.js";

/** WebCrypto ECDSA signatures are r||s; X.509, CRLs, OCSP and audit checkpoints carry Ecdsa-Sig-Value. */
export function ecdsaRawToDer(raw: Uint8Array): Buffer {
  const half = raw.length / 2;
  return sequence(unsignedInteger(raw.subarray(0, half)), unsignedInteger(raw.subarray(half)));
}

/** Ecdsa-Sig-Value (DER) back to r||s of `size` bytes each; DerError when it is not one. */
export function ecdsaDerToRaw(der: Buffer, size: number): Buffer {
  const outer = expectTag(readElement(der), 0x30, "an ECDSA signature (SEQUENCE)");
  if (outer.raw.length !== der.length) throw new DerError("trailing bytes after the ECDSA signature");
  const [r, s, extra] = children(outer.content);
  if (extra) throw new DerError("an ECDSA signature has two integers");
  const fixed = (element: DerElement | undefined) => {
    const value = expectTag(element, 0x02, "an INTEGER").content;
    const magnitude = value[0] === 0 ? value.subarray(1) : value;
    if (magnitude.length > size) throw new DerError("an ECDSA signature integer is too long for the curve");
    return Buffer.concat([Buffer.alloc(size - magnitude.length), magnitude]);
  };
  return Buffer.concat([fixed(r), fixed(s)]);
}
