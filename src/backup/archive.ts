import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import * as x509 from "@peculiar/x509";
import { canonicalJson } from "../audit/index.js";
import { BadRequestError } from "../errors/index.js";
import { verifyStatement } from "../pki/statement-signature.js";
import type { SnapshotChunk } from "../storage/snapshot.js";
import type { CarriedToken } from "./softhsm-token.js";

export const ARCHIVE_FORMAT = "keyward-backup/2";

/**
 * The file, written in one pass however large the database: `keyward-backup/2\n`, the payload's
 * ciphertext with its 16-byte GCM tag, then the archive (this header and its signature) as JSON,
 * then that JSON's length as 8 bytes big-endian. The header comes last because it signs the
 * payload's hash, known only once the payload is written. (Format 1 was one gzip'd JSON document
 * with the payload inside it: at 300,000 certificates it no longer fit in one V8 string.)
 */
export const ARCHIVE_MAGIC = Buffer.from(`${ARCHIVE_FORMAT}\n`);
/** The archive JSON is a few KB (more with many custodians); anything far larger is not ours. */
const MAX_HEADER_BYTES = 16 * 1024 * 1024;

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
  /**
   * AES-256-GCM of the payload under a key derived from the KEK; AAD is the header's digest. The
   * payload is gzip'd JSON lines (`PayloadLine`), encrypted as one stream; `bytes` and `sha256`
   * cover the ciphertext with its tag.
   */
  payload: { iv: string; bytes: number; sha256: string; compression: "gzip" };
}

export interface Archive extends ArchiveHeader {
  /** ES256 (or the signer's type: RS256 on an RSA-only token) over the canonical JSON of everything else, by a key whose chain (x5c) leads to the root. */
  signature: { x5c: string[]; value: string };
}

/** What the payload's first line holds: everything but the database rows. */
export interface PayloadMeta {
  /** The schema the rows belong to (the latest migration). */
  migration: string;
  /** Distributable key versions wrapped (AES-KW, in the token) under the KEK. */
  wrappedKeys: Array<{ keyId: string; version: number; wrapped: string }>;
  config: unknown;
  /** The online token's files (SoftHSM2), when the archive carries it. */
  token?: CarriedToken;
}

/** One line of the decrypted payload: the meta first, then the snapshot's chunks, then the end with the row count. */
export type PayloadLine = { meta: PayloadMeta } | { chunk: SnapshotChunk } | { end: { rows: number } };

export const signedBytes = (header: ArchiveHeader) => Buffer.from(canonicalJson(header as never));

/** The AAD that binds the payload to its header (without the payload itself). */
export function payloadAad(header: Omit<ArchiveHeader, "payload">): Buffer {
  return createHash("sha256")
    .update(canonicalJson(header as never))
    .digest();
}

/** An archive file: its header (read from the end) and where its payload lies. */
export interface ArchiveFile {
  path: string;
  archive: Archive;
  /** The ciphertext with its tag: bytes [start, end) of the file. */
  payloadStart: number;
  payloadEnd: number;
}

const NOT_AN_ARCHIVE = "the file is not a Keyward backup archive, or it is truncated";

/** Reads an archive's header; the payload stays in the file (see ARCHIVE_MAGIC for the layout). */
export async function readArchiveFile(path: string): Promise<ArchiveFile> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, "r");
  } catch (error) {
    throw new BadRequestError(`cannot read the archive ${path}: ${(error as NodeJS.ErrnoException).code ?? "error"}`);
  }
  try {
    const { size } = await handle.stat();
    const read = async (position: number, length: number) => {
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, position);
      return buffer.subarray(0, bytesRead);
    };
    const magic = await read(0, ARCHIVE_MAGIC.length);
    if (magic[0] === 0x1f && magic[1] === 0x8b) {
      throw new BadRequestError(
        "this archive is in format keyward-backup/1 (one gzip'd JSON document), made by an earlier Keyward: restore it with the version that made it (a restore needs that version's schema anyway)",
      );
    }
    if (!magic.equals(ARCHIVE_MAGIC) || size < ARCHIVE_MAGIC.length + 8) throw new BadRequestError(NOT_AN_ARCHIVE);
    const length = Number((await read(size - 8, 8)).readBigUInt64BE());
    const headerStart = size - 8 - length;
    // A payload holds at least its gzip header and the 16-byte tag.
    if (length > MAX_HEADER_BYTES || headerStart <= ARCHIVE_MAGIC.length + 16)
      throw new BadRequestError(NOT_AN_ARCHIVE);
    let archive: Archive;
    try {
      archive = JSON.parse((await read(headerStart, length)).toString("utf8")) as Archive;
    } catch {
      throw new BadRequestError(NOT_AN_ARCHIVE);
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
    return { path, archive, payloadStart: ARCHIVE_MAGIC.length, payloadEnd: headerStart };
  } finally {
    await handle.close();
  }
}

/** The payload's bytes as a stream, with or without its last 16 (the GCM tag). */
export function payloadStream(file: ArchiveFile, options: { withoutTag?: boolean } = {}) {
  // Never empty (readArchiveFile refuses a payload of 16 bytes or less); createReadStream's end is inclusive.
  return createReadStream(file.path, {
    start: file.payloadStart,
    end: file.payloadEnd - (options.withoutTag ? 16 : 0) - 1,
  });
}

/** The payload's GCM tag: its last 16 bytes. */
export async function payloadTag(file: ArchiveFile): Promise<Buffer> {
  const handle = await open(file.path, "r");
  try {
    const tag = Buffer.alloc(16);
    await handle.read(tag, 0, 16, file.payloadEnd - 16);
    return tag;
  } finally {
    await handle.close();
  }
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
export async function checkArchive(file: ArchiveFile): Promise<ArchiveCheck> {
  const problems: string[] = [];
  const { signature, ...header } = file.archive;
  const bytes = file.payloadEnd - file.payloadStart;
  const hash = createHash("sha256");
  for await (const chunk of payloadStream(file)) hash.update(chunk as Buffer);
  if (bytes !== header.payload.bytes || hash.digest("hex") !== header.payload.sha256) {
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
    payloadBytes: bytes,
    needsHsmBackup: header.needsHsmBackup,
    token: header.token ?? null,
  };
}

/** Recognises a custodian's share of one archive without revealing it. */
export function custodianShareHash(archiveId: string, name: string, share: Uint8Array): string {
  return createHash("sha256").update(`keyward-backup-share:${archiveId}/${name}:`).update(share).digest("hex");
}
