import { webcrypto } from "node:crypto";
import type { KeyObject } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { BadCsrError } from "../errors/index.js";
import type { KeyType } from "../pki/key-types.js";
import { pemBlocks } from "../pki/pem.js";
import { describeKey, keyTypeOf, spkiFromDer, spkiSha256Hex, toArrayBuffer } from "../pki/spki.js";

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

const SAN_OID = "2.5.29.17";
const SAN_TYPE: Record<string, string> = { dns: "dns", ip: "ip", email: "email", url: "uri" };

/** Decodes a PEM or DER PKCS#10 request and checks its self-signature. */
export async function parseCsr(input: string | Uint8Array): Promise<ParsedCsr> {
  const der = typeof input === "string" ? pemToDer(input) : input;
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(toArrayBuffer(der));
  } catch {
    throw new BadCsrError("the CSR is not a DER-encoded PKCS#10 CertificationRequest");
  }
  const spki = Buffer.from(csr.publicKey.rawData);
  let publicKey: KeyObject;
  try {
    publicKey = spkiFromDer(spki);
  } catch {
    throw new BadCsrError("the CSR's public key cannot be decoded");
  }
  const keyType = keyTypeOf(publicKey);
  if (keyType) {
    let verified = false;
    try {
      verified = await csr.verify(webcrypto as unknown as Crypto);
    } catch (error) {
      throw new BadCsrError(`the CSR signature cannot be checked: ${(error as Error).message}`);
    }
    if (!verified) throw new BadCsrError("the CSR signature does not verify with the CSR's public key");
  }

  let sans: RequestedName[] = [];
  const sanExtension = csr.getExtension(SAN_OID);
  if (sanExtension) {
    try {
      const names = new x509.SubjectAlternativeNameExtension(sanExtension.rawData).names.toJSON();
      sans = names.map((n) => ({ type: SAN_TYPE[n.type] ?? n.type, value: n.value }));
    } catch {
      throw new BadCsrError("the CSR's subjectAltName extension cannot be decoded");
    }
  }
  const commonName = csr.subjectName.getField("CN")[0];
  return {
    spki,
    spkiSha256: spkiSha256Hex(spki),
    publicKey,
    keyType,
    keyDescription: describeKey(publicKey),
    sans,
    commonName,
  };
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
