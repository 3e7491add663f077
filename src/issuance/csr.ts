import type { KeyObject } from "node:crypto";
import { BadCsrError } from "../errors/index.js";
import type { KeyType } from "../pki/key-types.js";
import { DerError } from "../pki/der.js";
import { pemBlocks } from "../pki/pem.js";
import { type DecodedCsr, decodeCsr, verifyCsrSignature } from "../pki/pkcs10.js";
import { describeKey, keyTypeOf, spkiFromDer, spkiSha256Hex } from "../pki/spki.js";

export interface RequestedName {
  type: string;
  value: string;
}

export interface ParsedCsr {
  spki: Buffer;
  spkiSha256: string;
  publicKey: KeyObject;
  /** Undefined when the key is of a type Keyward does not accept (policy reports it). */
  keyType: KeyType | undefined;
  keyDescription: string;
  /** Names from the subjectAltName extension, as requested (not yet validated). */
  sans: RequestedName[];
  commonName: string | undefined;
}

/** Decodes a PEM or DER PKCS#10 request and checks its self-signature. */
export async function parseCsr(input: string | Uint8Array): Promise<ParsedCsr> {
  const der = Buffer.from(typeof input === "string" ? pemToDer(input) : input);
  let csr: DecodedCsr;
  try {
    csr = decodeCsr(der);
  } catch (error) {
    throw new BadCsrError(`the CSR is not a DER-encoded PKCS#10 CertificationRequest: ${detail(error)}`);
  }
  let publicKey: KeyObject;
  try {
    publicKey = spkiFromDer(csr.spki);
  } catch {
    throw new BadCsrError("the CSR's public key cannot be decoded");
  }
  const keyType = keyTypeOf(publicKey);
  if (keyType) {
    let verified = false;
    try {
      verified = await verifyCsrSignature(csr, publicKey);
    } catch (error) {
      throw new BadCsrError(`the CSR signature cannot be checked: ${detail(error)}`);
    }
    if (!verified) throw new BadCsrError("the CSR signature does not verify with the CSR's public key");
  }
  return {
    spki: csr.spki,
    spkiSha256: spkiSha256Hex(csr.spki),
    publicKey,
    keyType,
    keyDescription: describeKey(publicKey),
    sans: csr.subjectAltNames ?? [],
    commonName: csr.commonName,
  };
}

/** DER and crypto errors say what is wrong in words fit for the client; anything else stays inside. */
function detail(error: unknown): string {
  return error instanceof DerError ? error.message : "it cannot be decoded";
}

function pemToDer(text: string): Uint8Array {
  const trimmed = text.trim();
  if (!trimmed.startsWith("-----BEGIN")) {
    throw new BadCsrError('the CSR must be PEM ("-----BEGIN CERTIFICATE REQUEST-----")');
  }
  const blocks = [...pemBlocks(trimmed, "CERTIFICATE REQUEST"), ...pemBlocks(trimmed, "NEW CERTIFICATE REQUEST")];
  if (blocks.length !== 1) {
    throw new BadCsrError(`the CSR must hold exactly one CERTIFICATE REQUEST PEM block, found ${blocks.length}`);
  }
  return blocks[0]!;
}
