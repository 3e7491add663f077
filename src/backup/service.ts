import {
  type CipherGCM,
  createCipheriv,
  createDecipheriv,
  createHash,
  hkdfSync,
  randomBytes,
  randomUUID,
} from "node:crypto";
import { createWriteStream } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import { pipeline as chain, Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { constants, createGunzip, createGzip } from "node:zlib";
import { combine, split } from "shamir-secret-sharing";
import type { Actor, AuditEvent } from "../audit/index.js";
import type { Clock } from "../clock/index.js";
import { BadRequestError, ConflictError } from "../errors/index.js";
import type { EscrowAgent } from "../escrow/index.js";
import { checkRecipient, type KeyLifecycle, type RecipientTrust, secretAlgorithm } from "../keys/index.js";
import { sealToCertificate } from "../pki/cms.js";
import { certificatePem } from "../pki/pem.js";
import type { SigningServiceKey } from "../issuance/index.js";
import type { CaRecord } from "../signer/index.js";
import type { OpenDatabase } from "../storage/database.js";
import { protectionOf, type Wrapping } from "../hsm/index.js";
import type { CarriedToken } from "./softhsm-token.js";
import { restoreSnapshot, type SnapshotChunk, withSnapshot } from "../storage/snapshot.js";
import {
  ARCHIVE_FORMAT,
  ARCHIVE_MAGIC,
  type Archive,
  type ArchiveFile,
  type ArchiveHeader,
  checkArchive,
  custodianShareHash,
  type PayloadLine,
  type PayloadMeta,
  payloadAad,
  payloadStream,
  payloadTag,
  readArchiveFile,
  signedBytes,
} from "./archive.js";

/** What backup needs of the HSM's wrapping facet: versions wrapped under the archive's KEK. */
export type BackupTokenOps = Pick<Wrapping, "wrapSecretKeyUnder" | "unwrapSecretKeyUnder">;

const dataKeyOf = (kek: Buffer) => Buffer.from(hkdfSync("sha256", kek, Buffer.alloc(0), "keyward-backup payload", 32));

/**
 * Backup and restore (issue 7): one archive with a consistent database snapshot, every
 * distributable key version wrapped in the token under a backup KEK, the CA certificates and the
 * config; the KEK split M-of-N to custodians (escrow agents) with Shamir's scheme, each share sealed
 * to the custodian's certificate. Keys the token never lets out (CA keys, non-distributable keys)
 * are listed for HSM-native backup instead. The archive is signed; `check` needs no custodian.
 */
export class BackupService {
  constructor(
    private readonly deps: {
      database: OpenDatabase;
      keys: Pick<KeyLifecycle, "get" | "list" | "replaceVersionObject">;
      token: BackupTokenOps;
      trust: RecipientTrust;
      clock: Clock;
      cas: () => Promise<CaRecord[]>;
      custodians: () => Promise<EscrowAgent[]>;
      /** The backup signer, a service key certified under our CA (its type follows the token). */
      signer: SigningServiceKey;
      config: unknown;
      audit: { record(event: Omit<AuditEvent, "at">): Promise<unknown> };
      /** A consistent copy of the online token's files; throws when this token cannot be carried. */
      carryToken: () => CarriedToken;
      /** The token key pair a sealed KMS key opens with (kms.protection sealed/auto). */
      sealingKeyOf: (uri: string) => Promise<string>;
      /** Where a key stands in the token now (present, missing, on an offline token). */
      probeKey: (uri: string) => Promise<{ state: "present" | "missing" | "offline"; token: string }>;
    },
  ) {}

  /**
   * Writes one archive to `out` in a single pass over a consistent snapshot, so memory stays flat
   * at any database size; it appears under that name only when complete (written to
   * `<out>.partial`, synced, renamed), and a failure leaves neither.
   */
  async create(
    request: { custodians: string[]; threshold: number; includeToken?: boolean },
    actor: Actor,
    out: string,
    progress?: Progress,
  ): Promise<{ header: ArchiveHeader; bytes: number }> {
    const all = await this.deps.custodians();
    const custodians = [...new Set(request.custodians)].map((ref) => {
      const found = all.find((a) => a.name === ref || a.id === ref);
      if (!found) throw new BadRequestError(`no escrow agent "${ref}" to act as a backup custodian`);
      return found;
    });
    if (custodians.length < 2) throw new BadRequestError("a backup needs at least 2 custodians");
    if (request.threshold < 2 || request.threshold > custodians.length) {
      throw new BadRequestError(`the threshold must be between 2 and the number of custodians (${custodians.length})`);
    }
    const now = this.deps.clock.now();
    for (const c of custodians) await checkRecipient(certificatePem(c.certificate), this.deps.trust, now);
    const cas = await this.deps.cas();
    const root = cas.find((c) => c.kind === "root");
    if (!root) throw new ConflictError("there is no CA to back up: run keyward init first");

    const kek = randomBytes(32);
    let shares: Uint8Array[] = [];
    try {
      const wrappedKeys: PayloadMeta["wrappedKeys"] = [];
      const needsHsmBackup: ArchiveHeader["needsHsmBackup"] = cas.map((c) => ({
        kind: "ca" as const,
        id: c.id,
        name: c.subject,
        keyUri: c.keyUri,
      }));
      for (const key of await this.deps.keys.list()) {
        for (const v of key.versions) {
          if (v.state === "destroyed") continue;
          // A sealed key travels in the snapshot (sealed_keys), wrapped by the token's kms-sealing key:
          // that key pair is what an archive without the token does not bring back.
          if (protectionOf(v.keyUri) === "sealed") {
            const sealing = await this.deps.sealingKeyOf(v.keyUri);
            if (!needsHsmBackup.some((k) => k.keyUri === sealing))
              needsHsmBackup.push({
                kind: "key",
                id: "kms-sealing",
                name: "kms-sealing (opens the sealed KMS keys)",
                keyUri: sealing,
              });
            continue;
          }
          if (key.distributable) {
            const wrapped = await this.deps.token.wrapSecretKeyUnder(v.keyUri, kek);
            wrappedKeys.push({ keyId: key.id, version: v.version, wrapped: wrapped.toString("base64") });
          } else {
            needsHsmBackup.push({ kind: "key", id: key.id, name: key.name, version: v.version, keyUri: v.keyUri });
          }
        }
      }
      const partial = `${out}.partial`;
      try {
        const { base, payload, token } = await withSnapshot(this.deps.database, async (snapshot) => {
          // After the snapshot's moment: every key a snapshot row names was created before it, so it is in the copy.
          const token = request.includeToken ? this.deps.carryToken() : undefined;
          shares = await split(new Uint8Array(kek), custodians.length, request.threshold);
          const id = randomUUID();
          const base = {
            format: ARCHIVE_FORMAT,
            id,
            createdAt: now.toISOString(),
            createdBy: actor.name,
            deployment: { rootSpkiSha256: root.spkiSha256, rootCertificate: root.certificate.toString("base64") },
            custodians: {
              threshold: request.threshold,
              shares: custodians.map((c, i) => ({
                name: c.name,
                certificate: c.certificate.toString("base64"),
                cms: sealToCertificate(c.certificate, Buffer.from(shares[i]!)).toString("base64"),
                shareHash: custodianShareHash(id, c.name, shares[i]!),
              })),
            },
            needsHsmBackup,
            caCertificates: cas.map((c) => c.certificate.toString("base64")),
            ...(token ? { token: { label: token.label, module: "softhsm2" as const, files: token.files.length } } : {}),
          } satisfies Omit<ArchiveHeader, "payload">;
          const meta: PayloadMeta = {
            migration: snapshot.migration,
            wrappedKeys,
            config: this.deps.config,
            ...(token ? { token } : {}),
          };
          const iv = randomBytes(12);
          const dataKey = dataKeyOf(kek);
          const cipher = createCipheriv("aes-256-gcm", dataKey, iv).setAAD(payloadAad(base));
          dataKey.fill(0);
          const sealed = await writePayload(partial, cipher, payloadLines(meta, counted(snapshot.chunks(), progress)));
          return { base, payload: { iv: iv.toString("base64"), ...sealed, compression: "gzip" as const }, token };
        });
        const header: ArchiveHeader = { ...base, payload };
        // After the snapshot: the signer may certify a new service key, a write the snapshot need not hold.
        const signingKey = await this.deps.signer.current();
        const { chain } = signingKey;
        const signature = await this.deps.signer.sign(signingKey, signedBytes(header));
        const archive: Archive = {
          ...header,
          signature: {
            x5c: chain.slice(0, -1).map((c) => Buffer.from(c.rawData).toString("base64")),
            value: signature.toString("base64"),
          },
        };
        const bytes = await appendHeader(partial, archive);
        await this.deps.audit.record({
          action: "backup.create",
          actor,
          target: { type: "backup", id: header.id },
          outcome: "success",
          details: {
            custodians: custodians.map((c) => c.name),
            threshold: request.threshold,
            wrappedKeys: wrappedKeys.length,
            needsHsmBackup: needsHsmBackup.length,
            token: token ? token.label : null,
            bytes,
          },
        });
        await rename(partial, out);
        return { header, bytes };
      } catch (error) {
        await rm(partial, { force: true });
        const { syscall, code } = error as NodeJS.ErrnoException;
        // A file system refusal names the archive, not our temporary name for it.
        if (syscall) throw new BadRequestError(`cannot write the archive ${out}: ${code ?? syscall}`);
        throw error;
      }
    } finally {
      kek.fill(0);
      for (const s of shares) s.fill(0);
    }
  }

  /** Integrity and contents without the custodians; `ok` false lists what is wrong. */
  async check(path: string) {
    const file = await readArchiveFile(path);
    const { archive } = file;
    const report = await checkArchive(file);
    // A fresh deployment has no CA yet (nothing to compare); a database that fails is an error, not "no CA".
    const local = (await this.deps.cas()).find((c) => c.kind === "root");
    if (local && local.spkiSha256 !== archive.deployment.rootSpkiSha256) {
      report.problems.push(
        `the archive is from another deployment (root key ${archive.deployment.rootSpkiSha256.slice(0, 16)}…, this one ${local.spkiSha256.slice(0, 16)}…)`,
      );
      report.ok = false;
    }
    return report;
  }

  /**
   * The CA and other keys that a restore of this archive will not bring back: not carried, and not
   * in the token restored into. Restore says so before it starts; the restored deployment's health
   * then names each.
   */
  async keysNotComingBack(opened: OpenedArchive) {
    const missing: ArchiveHeader["needsHsmBackup"] = [];
    // Keys on an offline token (the root's) are not missing: they come back when it is attached.
    for (const k of opened.archive.needsHsmBackup) {
      const probe = await this.deps.probeKey(k.keyUri);
      if (probe.state === "missing") missing.push(k);
    }
    return missing;
  }

  /**
   * Restores onto an empty database (and a fresh token, or the archive's own token put back by
   * `restoreSoftHsmToken`) from an archive opened with the custodians' shares.
   */
  async restore(opened: OpenedArchive, actor: Actor, options: { tokenRestored: boolean; progress?: Progress }) {
    const { archive, meta, shares } = opened;
    if ((await this.deps.cas()).length > 0) {
      throw new ConflictError("restore needs a fresh data directory and token: this one already has a CA");
    }
    const kek = opened.kek;
    try {
      const counts = await restoreSnapshot(
        this.deps.database,
        meta.migration,
        counted(opened.chunks(), options.progress),
      );
      let keys = 0;
      // A restored token already holds every key version at the URI its row names.
      for (const w of options.tokenRestored ? [] : meta.wrappedKeys) {
        const key = await this.deps.keys.get(w.keyId);
        const uri = await this.deps.token.unwrapSecretKeyUnder(Buffer.from(w.wrapped, "base64"), kek, {
          algorithm: secretAlgorithm(key, "restored from a wrapped copy"),
          label: `kms-${key.name}-v${w.version}-${randomBytes(3).toString("hex")}`,
          extractable: key.distributable,
        });
        await this.deps.keys.replaceVersionObject(key.id, w.version, uri, actor, `restore of backup ${archive.id}`);
        keys++;
      }
      await this.deps.audit.record({
        action: "backup.restore",
        actor,
        target: { type: "backup", id: archive.id },
        outcome: "success",
        details: {
          createdAt: archive.createdAt,
          custodians: shares,
          keys,
          needsHsmBackup: archive.needsHsmBackup.length,
          token: options.tokenRestored ? (meta.token?.label ?? null) : null,
        },
      });
      return {
        id: archive.id,
        createdAt: archive.createdAt,
        rows: counts,
        keys,
        token: options.tokenRestored ? (meta.token?.label ?? null) : null,
        needsHsmBackup: archive.needsHsmBackup,
      };
    } finally {
      kek.fill(0);
    }
  }
}

/**
 * An archive checked with enough custodians' shares: its header, the payload's meta, and its
 * snapshot to stream into a restore. `kek` is zeroed by restore.
 */
export interface OpenedArchive {
  archive: Archive;
  meta: PayloadMeta;
  kek: Buffer;
  /** The custodians whose shares opened it. */
  shares: string[];
  /** The snapshot's rows, decrypted as they are read; throws at the end if the payload's tag fails. */
  chunks(): AsyncGenerator<SnapshotChunk>;
}

/**
 * Checks an archive (signature over the header, the payload's hash, the shares) and reads the
 * payload's meta, before anything is written anywhere. The rows are read later, as they are
 * restored: the payload's hash is signed, and its GCM tag is checked again at their end, inside
 * the restore's transaction.
 */
export async function openArchive(
  path: string,
  shares: Array<{ custodian: string; share: Buffer }>,
): Promise<OpenedArchive> {
  const file = await readArchiveFile(path);
  const { archive } = file;
  const report = await checkArchive(file);
  if (!report.ok) throw new BadRequestError(`the archive is damaged: ${report.problems.join("; ")}`);
  const accepted: Uint8Array[] = [];
  for (const { custodian, share } of shares) {
    const expected = archive.custodians.shares.find((s) => s.name === custodian);
    if (!expected)
      throw new BadRequestError(
        `"${custodian}" is not a custodian of this archive (custodians: ${report.custodians.join(", ")})`,
      );
    if (custodianShareHash(archive.id, custodian, share) !== expected.shareHash) {
      throw new BadRequestError(
        `the share given for ${custodian} is not ${custodian}'s share of this archive: it is wrong, altered or from another backup`,
      );
    }
    accepted.push(new Uint8Array(share));
  }
  if (accepted.length < archive.custodians.threshold) {
    throw new BadRequestError(`${accepted.length} share(s) given; this archive needs ${archive.custodians.threshold}`);
  }
  const kek = Buffer.from(await combine(accepted));
  let meta: PayloadMeta | undefined;
  try {
    // The first line only: the stream stops there.
    for await (const line of readPayload(file, kek)) {
      if ("meta" in line) meta = line.meta;
      break;
    }
  } catch {
    // A wrong key shows as gzip or JSON garbage here.
  }
  if (!meta) {
    kek.fill(0);
    throw new BadRequestError("the payload does not decrypt with these shares");
  }
  return { archive, meta, kek, shares: shares.map((s) => s.custodian), chunks: () => snapshotChunks(file, kek) };
}

/** Told the rows read so far and the table being read, every PROGRESS_ROWS rows. */
export type Progress = (rows: number, table: string) => void;
const PROGRESS_ROWS = 100_000;

async function* counted(chunks: AsyncIterable<SnapshotChunk>, progress?: Progress): AsyncGenerator<SnapshotChunk> {
  let rows = 0;
  for await (const chunk of chunks) {
    const before = rows;
    rows += chunk.rows.length;
    if (progress && Math.floor(rows / PROGRESS_ROWS) > Math.floor(before / PROGRESS_ROWS)) progress(rows, chunk.table);
    yield chunk;
  }
}

/** The payload's lines, as `writePayload` is given them. */
async function* payloadLines(meta: PayloadMeta, chunks: AsyncIterable<SnapshotChunk>): AsyncGenerator<string> {
  const line = (value: PayloadLine) => `${JSON.stringify(value)}\n`;
  yield line({ meta });
  let rows = 0;
  for await (const chunk of chunks) {
    rows += chunk.rows.length;
    yield line({ chunk });
  }
  yield line({ end: { rows } });
}

/**
 * The magic, then the lines gzip'd and encrypted, then the GCM tag (the cipher has ended by the
 * time the stream after it flushes). Returns the ciphertext's size and hash, tag included.
 */
async function writePayload(path: string, cipher: CipherGCM, lines: AsyncIterable<string>) {
  const file = createWriteStream(path, { mode: 0o600 });
  file.write(ARCHIVE_MAGIC);
  const hash = createHash("sha256");
  let bytes = 0;
  const count = (chunk: Buffer) => {
    hash.update(chunk);
    bytes += chunk.length;
  };
  const tagged = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      count(chunk);
      done(null, chunk);
    },
    flush(done) {
      const tag = cipher.getAuthTag();
      count(tag);
      done(null, tag);
    },
  });
  // Speed over size: the rows are mostly DER in base64, which gzip only takes back to about binary.
  await pipeline(Readable.from(lines), createGzip({ level: constants.Z_BEST_SPEED }), cipher, tagged, file);
  return { bytes, sha256: hash.digest("hex") };
}

/** Appends the signed header and its length, and syncs the whole file; returns the file's size. */
async function appendHeader(path: string, archive: Archive): Promise<number> {
  const json = Buffer.from(JSON.stringify(archive));
  const length = Buffer.alloc(8);
  length.writeBigUInt64BE(BigInt(json.length));
  const handle = await open(path, "a");
  try {
    await handle.write(Buffer.concat([json, length]));
    await handle.sync();
    return (await handle.stat()).size;
  } finally {
    await handle.close();
  }
}

/** The payload's lines, decrypted and decompressed as the file is read; the tag is checked at the end. */
async function* readPayload(file: ArchiveFile, kek: Buffer): AsyncGenerator<PayloadLine> {
  const { signature: _signature, payload: sealed, ...base } = file.archive;
  const dataKey = dataKeyOf(kek);
  const decipher = createDecipheriv("aes-256-gcm", dataKey, Buffer.from(sealed.iv, "base64"))
    .setAAD(payloadAad(base))
    .setAuthTag(await payloadTag(file));
  dataKey.fill(0);
  // Any stage's error (the tag, gzip) ends the last stream with it, so the loop below throws it.
  const plain = chain(payloadStream(file, { withoutTag: true }), decipher, createGunzip(), () => undefined);
  plain.setEncoding("utf8");
  try {
    // Lines are up to a chunk of rows long (MBs): pieces are joined once per line, not per read.
    let pieces: string[] = [];
    for await (const text of plain as AsyncIterable<string>) {
      let from = 0;
      for (let end = text.indexOf("\n"); end !== -1; end = text.indexOf("\n", from)) {
        pieces.push(text.slice(from, end));
        yield JSON.parse(pieces.join("")) as PayloadLine;
        pieces = [];
        from = end + 1;
      }
      if (from < text.length) pieces.push(text.slice(from));
    }
    if (pieces.length > 0) throw new BadRequestError("the payload ends inside a line: the archive is truncated");
  } finally {
    plain.destroy();
  }
}

/** The snapshot's chunks from the payload, refusing a payload that does not end as written. */
async function* snapshotChunks(file: ArchiveFile, kek: Buffer): AsyncGenerator<SnapshotChunk> {
  let rows = 0;
  let ended = false;
  try {
    for await (const line of readPayload(file, kek)) {
      if ("chunk" in line && !ended) {
        rows += line.chunk.rows.length;
        yield line.chunk;
      } else if ("end" in line && !ended) {
        if (line.end.rows !== rows)
          throw new BadRequestError(`the payload holds ${rows} rows but says ${line.end.rows}`);
        ended = true;
      } else if (!("meta" in line) || rows > 0 || ended) {
        throw new BadRequestError("the payload's lines are out of order");
      }
    }
  } catch (error) {
    if (error instanceof BadRequestError) throw error;
    throw new BadRequestError(
      `the payload does not decrypt to what was backed up (${(error as Error).message}): nothing was restored`,
    );
  }
  if (!ended) throw new BadRequestError("the payload ends early: the archive is truncated; nothing was restored");
}
