/**
 * OpenSSH key revocation lists (PROTOCOL.krl), the binary format `ssh-keygen -k` writes and sshd's
 * `RevokedKeys` reads. Unsigned: OpenSSH ≥ 9.4 refuses KRLs with a signature section; the KRL is
 * served over the same channel as the CA keys and its integrity is the transport's.
 */
import { SshReader, SshWriter } from "./wire.js";

const KRL_MAGIC = 0x5353484b524c0a00n; // "SSHKRL\n\0"
const KRL_FORMAT_VERSION = 1;
const SECTION_CERTIFICATES = 1;
const SECTION_EXPLICIT_KEY = 2;
const CERT_SERIAL_LIST = 0x20;
const CERT_KEY_ID = 0x23;

export interface KrlContents {
  /** Increases with every KRL generated. */
  version: bigint;
  generatedAt: Date;
  comment: string;
  /** Per CA key blob: the serials and key IDs of its revoked certificates. */
  certificates: { caKey: Buffer; serials: bigint[]; keyIds: string[] }[];
  /** Plain key blobs: revoked as keys, so every certificate for them is refused too. */
  keys: Buffer[];
}

export function encodeKrl(krl: KrlContents): Buffer {
  const w = new SshWriter()
    .uint64(KRL_MAGIC)
    .uint32(KRL_FORMAT_VERSION)
    .uint64(krl.version)
    .uint64(BigInt(Math.floor(krl.generatedAt.getTime() / 1000)))
    .uint64(0n)
    .string(Buffer.alloc(0))
    .string(krl.comment);
  for (const section of krl.certificates) {
    // Serial 0 means "no serial" to OpenSSH and cannot be revoked by serial; Keyward never issues it.
    const serials = [...new Set(section.serials.filter((s) => s > 0n))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const keyIds = [...new Set(section.keyIds)].sort();
    if (!serials.length && !keyIds.length) continue;
    const body = new SshWriter().string(section.caKey).string(Buffer.alloc(0));
    if (serials.length) {
      const list = new SshWriter();
      for (const s of serials) list.uint64(s);
      body.byte(CERT_SERIAL_LIST).string(list.finish());
    }
    if (keyIds.length) {
      const list = new SshWriter();
      for (const id of keyIds) list.string(id);
      body.byte(CERT_KEY_ID).string(list.finish());
    }
    w.byte(SECTION_CERTIFICATES).string(body.finish());
  }
  const keys = [...new Map(krl.keys.map((k) => [k.toString("base64"), k])).values()].sort(Buffer.compare);
  if (keys.length) {
    const list = new SshWriter();
    for (const k of keys) list.string(k);
    w.byte(SECTION_EXPLICIT_KEY).string(list.finish());
  }
  return w.finish();
}

/** The sections after the header: what a KRL revokes, whatever its version, date and comment. */
function sections(krl: Buffer): Buffer {
  const r = new SshReader(krl);
  if (r.uint64() !== KRL_MAGIC || r.uint32() !== KRL_FORMAT_VERSION) throw new Error("not a version 1 KRL");
  r.uint64();
  r.uint64();
  r.uint64();
  r.string();
  r.string();
  return krl.subarray(r.position);
}

/** Whether two KRLs revoke exactly the same (so a new version would add nothing). */
export function sameRevocations(a: Buffer, b: Buffer): boolean {
  return sections(a).equals(sections(b));
}
