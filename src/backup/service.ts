import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes, randomUUID } from "node:crypto";
import { gunzipSync, gzipSync } from "node:zlib";
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
import { restoreSnapshot, takeSnapshot } from "../storage/snapshot.js";
import {
  ARCHIVE_FORMAT,
  type Archive,
  type ArchiveHeader,
  type ArchivePayload,
  checkArchive,
  custodianShareHash,
  parseArchive,
  payloadAad,
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

  async create(
    request: { custodians: string[]; threshold: number; includeToken?: boolean },
    actor: Actor,
  ): Promise<{ archive: Buffer; header: ArchiveHeader }> {
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
      const wrappedKeys: ArchivePayload["wrappedKeys"] = [];
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
      const snapshot = await takeSnapshot(this.deps.database);
      // After the snapshot: every key a snapshot row names was created before it, so it is in the copy.
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
      const payload: ArchivePayload = { snapshot, wrappedKeys, config: this.deps.config, ...(token ? { token } : {}) };
      const iv = randomBytes(12);
      const dataKey = dataKeyOf(kek);
      const cipher = createCipheriv("aes-256-gcm", dataKey, iv).setAAD(payloadAad(base));
      const plain = gzipSync(JSON.stringify(payload));
      const ciphertext = Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      dataKey.fill(0);
      const header: ArchiveHeader = {
        ...base,
        payload: {
          iv: iv.toString("base64"),
          ciphertext: ciphertext.toString("base64"),
          sha256: createHash("sha256").update(ciphertext).digest("hex"),
          compression: "gzip",
        },
      };
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
      await this.deps.audit.record({
        action: "backup.create",
        actor,
        target: { type: "backup", id },
        outcome: "success",
        details: {
          custodians: custodians.map((c) => c.name),
          threshold: request.threshold,
          wrappedKeys: wrappedKeys.length,
          needsHsmBackup: needsHsmBackup.length,
          token: token ? token.label : null,
        },
      });
      return { archive: gzipSync(JSON.stringify(archive)), header };
    } finally {
      kek.fill(0);
      for (const s of shares) s.fill(0);
    }
  }

  /** Integrity and contents without the custodians; `ok` false lists what is wrong. */
  async check(bytes: Buffer) {
    const archive = parseArchive(bytes);
    const report = await checkArchive(archive);
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
  async restore(opened: OpenedArchive, actor: Actor, options: { tokenRestored: boolean }) {
    const { archive, payload, shares } = opened;
    if ((await this.deps.cas()).length > 0) {
      throw new ConflictError("restore needs a fresh data directory and token: this one already has a CA");
    }
    const kek = opened.kek;
    try {
      const counts = await restoreSnapshot(this.deps.database, payload.snapshot);
      let keys = 0;
      // A restored token already holds every key version at the URI its row names.
      for (const w of options.tokenRestored ? [] : payload.wrappedKeys) {
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
          token: options.tokenRestored ? (payload.token?.label ?? null) : null,
        },
      });
      return {
        id: archive.id,
        createdAt: archive.createdAt,
        rows: counts,
        keys,
        token: options.tokenRestored ? (payload.token?.label ?? null) : null,
        needsHsmBackup: archive.needsHsmBackup,
      };
    } finally {
      kek.fill(0);
    }
  }
}

/** An archive checked and decrypted with enough custodians' shares; `kek` is zeroed by restore. */
export interface OpenedArchive {
  archive: Archive;
  payload: ArchivePayload;
  kek: Buffer;
  /** The custodians whose shares opened it. */
  shares: string[];
}

/**
 * Checks an archive (signature, shares, payload tag) and decrypts it with the custodians' shares,
 * before anything is written anywhere.
 */
export async function openArchive(
  bytes: Buffer,
  shares: Array<{ custodian: string; share: Buffer }>,
): Promise<OpenedArchive> {
  const archive = parseArchive(bytes);
  const report = await checkArchive(archive);
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
  const { signature: _signature, payload: sealed, ...base } = archive;
  const dataKey = dataKeyOf(kek);
  const ciphertext = Buffer.from(sealed.ciphertext, "base64");
  const decipher = createDecipheriv("aes-256-gcm", dataKey, Buffer.from(sealed.iv, "base64")).setAAD(payloadAad(base));
  decipher.setAuthTag(ciphertext.subarray(-16));
  try {
    const plain = Buffer.concat([decipher.update(ciphertext.subarray(0, -16)), decipher.final()]);
    const payload = JSON.parse(
      (sealed.compression === "gzip" ? gunzipSync(plain) : plain).toString("utf8"),
    ) as ArchivePayload;
    return { archive, payload, kek, shares: shares.map((s) => s.custodian) };
  } catch {
    kek.fill(0);
    throw new BadRequestError("the payload does not decrypt with these shares");
  } finally {
    dataKey.fill(0);
  }
}
