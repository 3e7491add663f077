import { availableParallelism } from "node:os";
import { BadCsrError } from "../errors/index.js";
import { type CsrKeyVerdict, checkCsrKey } from "../pki/csr-key.js";
import type { KeyType } from "../pki/key-types.js";
import { DerError } from "../pki/der.js";
import { pemBlocks } from "../pki/pem.js";
import { type CsrSignatureCheck, type DecodedCsr, decodeCsr, signatureCheck } from "../pki/pkcs10.js";
import { spkiSha256Hex } from "../pki/spki.js";
import { ThreadPool } from "../threads/index.js";

export interface RequestedName {
  type: string;
  value: string;
}

export interface ParsedCsr {
  spki: Buffer;
  spkiSha256: string;
  /** Undefined when the key is of a type Keyward does not accept (policy reports it). */
  keyType: KeyType | undefined;
  keyDescription: string;
  /** Names from the subjectAltName extension, as requested (not yet validated). */
  sans: RequestedName[];
  commonName: string | undefined;
}

// Checking the key and signature is the costliest CPU work of an issuance besides the HSM's: in
// threads, the event loop stays free for other requests. Without threads it runs here.
const keyChecks = new ThreadPool<CsrSignatureCheck, CsrKeyVerdict>(
  "CSR check",
  new URL("../pki/csr-key-thread.js", import.meta.url),
  Array.from({ length: Math.min(4, availableParallelism()) }, () => ({})),
);

/**
 * One-shot commands (the CLI) check their CSR on the event loop: starting the threads would take
 * longer than the check.
 */
export function checkCsrsWithoutThreads(): Promise<void> {
  return keyChecks.close();
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
  const check = signatureCheck(csr);
  // Without threads (the CLI), or when one fails (it stopped, say), the check runs here.
  const verdict = await keyChecks.run(check).catch(() => checkCsrKey(check));
  if (verdict.key === "undecodable") throw new BadCsrError("the CSR's public key cannot be decoded");
  if (verdict.weakness) throw new BadCsrError(`the CSR's public key is refused: ${verdict.weakness}`);
  if (typeof verdict.signature === "object") {
    throw new BadCsrError(`the CSR signature cannot be checked: ${verdict.signature.uncheckable}`);
  }
  if (verdict.signature === "invalid") {
    throw new BadCsrError("the CSR signature does not verify with the CSR's public key");
  }
  return {
    spki: csr.spki,
    spkiSha256: spkiSha256Hex(csr.spki),
    keyType: verdict.keyType,
    keyDescription: verdict.keyDescription,
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
