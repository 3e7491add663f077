import { createHash } from "node:crypto";
import { gunzipSync } from "node:zlib";
import * as x509 from "@peculiar/x509";
import { canonicalJson } from "../audit/index.js";
import { BadRequestError } from "../errors/index.js";
import { verifyStatement } from "../pki/statement-signature.js";
import type { CarriedToken } from "./softhsm-token.js";

export const ARCHIVE_FORMAT = "keyward-backup/1";

/** What the archive says about itself, readable without the custodians. */
export interface ArchiveHeader {
  format: typeof ARCHIVE_FORMAT;
  /** Random: salts the custodians' share hashes, so a share of one archive is refused by another. */
  id: string;
  createdAt: string;
  createdBy: string;
  /** The deployment: its root CA (an archive restores only as the deployment it came from). */
  deployment: { rootSpkiSha256: string; rootCertificate: string };
  /** The backup KEK, split M-of-N: one CMS-sealed share per custodian, and a hash that recognises it. */
  custodians: {
    threshold: number;
    shares: Array<{ name: string; certificate: string; cms: string; shareHash: string }>;
  };
  /**
   * Keys the token never lets out (CA keys, non-distributable keys): in the archive only inside the
   * carried token (`token`), otherwise to be restored HSM-natively or replaced.
   */
  needsHsmBackup: Array<{ kind: "ca" | "key"; id: string; name: string; version?: number; keyUri: string }>;
  /** CA certificates (public), for reading the archive without restoring it. */
  caCertificates: string[];
  /** Present when the online token itself is in the payload (`backup create --include-token`). */
  token?: { label: string; module: "softhsm2"; files: number };
  /** AES-256-GCM of the payload under a key derived from the KEK; AAD is the header's digest. */
  payload: {
    iv: string;
    ciphertext: string;
    sha256: string;
    /** The payload JSON was gzipped before encryption (ciphertext does not compress afterwards). */
    compression?: "gzip";
  };
}

export interface Archive extends ArchiveHeader {
  /** ES256 (or the signer's type: RS256 on an RSA-only token) over the canonical JSON of everything else, by a key whose chain (x5c) leads to the root. */
  signature: { x5c: string[]; value: string };
}

/** The decrypted payload. */
export interface ArchivePayload {
  snapshot: import("../storage/snapshot.js").Snapshot;
  /** Distributable key versions wrapped (AES-KW, in the token) under the KEK. */
  wrappedKeys: Array<{ keyId: string; version: number; wrapped: string }>;
  config: unknown;
  /** The online token's files (SoftHSM2), when the archive carries it. */
  token?: CarriedToken;
}

export const signedBytes = (header: ArchiveHeader) => Buffer.from(canonicalJson(header as never));

/** The AAD that binds the payload to its header (without the payload itself). */
export function payloadAad(header: Omit<ArchiveHeader, "payload">): Buffer {
  return createHash("sha256")
    .update(canonicalJson(header as never))
    .digest();
}

export function parseArchive(bytes: Buffer): Archive {
  let archive: Archive;
  try {
    archive = JSON.parse(gunzipSync(bytes).toString("utf8")) as Archive;
  } catch {
    throw new BadRequestError("the file is not a Keyward backup archive (not gzip'd JSON)");
  }
  if (archive?.format !== ARCHIVE_FORMAT) {
    throw new BadRequestError(
      `the archive's format is "${String(archive?.format)}"; this Keyward reads ${ARCHIVE_FORMAT}`,
    );
  }
  for (const field of [
    "deployment",
    "custodians",
    "payload",
    "signature",
    "needsHsmBackup",
    "caCertificates",
  ] as const) {
    if (!archive[field]) throw new BadRequestError(`the archive has no ${field}: it is damaged`);
  }
  return archive;
}

export interface ArchiveCheck {
  ok: boolean;
  problems: string[];
  createdAt: string;
  deployment: string;
  threshold: number;
  custodians: string[];
  payloadBytes: number;
  needsHsmBackup: ArchiveHeader["needsHsmBackup"];
  /** The token the archive carries (restore it with `backup restore --include-token`). */
  token: ArchiveHeader["token"] | null;
}

/**
 * Integrity without the custodians: the payload's hash, the signature over everything, and the
 * signer's chain up to the archive's own root.
 */
export async function checkArchive(archive: Archive): Promise<ArchiveCheck> {
  const problems: string[] = [];
  const { signature, ...header } = archive;
  const ciphertext = Buffer.from(header.payload.ciphertext, "base64");
  if (createHash("sha256").update(ciphertext).digest("hex") !== header.payload.sha256) {
    problems.push("the payload does not match its recorded SHA-256: the archive was altered or truncated");
  }
  try {
    const chain = signature.x5c.map((c) => new x509.X509Certificate(Buffer.from(c, "base64")));
    const root = new x509.X509Certificate(Buffer.from(header.deployment.rootCertificate, "base64"));
    const rootSpki = createHash("sha256").update(Buffer.from(root.publicKey.rawData)).digest("hex");
    if (rootSpki !== header.deployment.rootSpkiSha256)
      problems.push("the deployment's root certificate does not match its recorded key");
    const path = [...chain, root];
    for (let i = 0; i < path.length - 1; i++) {
      if (!(await path[i]!.verify({ publicKey: path[i + 1]!, signatureOnly: true }))) {
        problems.push(`the signer's chain is broken at "${path[i]!.subject}"`);
      }
    }
    // The signer's own type: ECDSA (r‖s), or RSA / Ed25519 where the token has no EC.
    const valid = verifyStatement(
      Buffer.from(chain[0]!.publicKey.rawData),
      signedBytes(header),
      Buffer.from(signature.value, "base64"),
      "ieee-p1363",
    );
    if (!valid) {
      problems.push("the archive's signature does not verify: it was altered after it was made");
    }
  } catch (error) {
    problems.push(`the signature block cannot be read: ${(error as Error).message}`);
  }
  return {
    ok: problems.length === 0,
    problems,
    createdAt: header.createdAt,
    deployment: header.deployment.rootSpkiSha256,
    threshold: header.custodians.threshold,
    custodians: header.custodians.shares.map((s) => s.name),
    payloadBytes: ciphertext.length,
    needsHsmBackup: header.needsHsmBackup,
    token: header.token ?? null,
  };
}

/** Recognises a custodian's share of one archive without revealing it. */
export function custodianShareHash(archiveId: string, name: string, share: Uint8Array): string {
  return createHash("sha256").update(`keyward-backup-share:${archiveId}/${name}:`).update(share).digest("hex");
}
