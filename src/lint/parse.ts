/**
 * The lint gate's view of what is about to be signed, read straight from the DER with the small
 * reader in pki/der.ts: issuance runs hundreds of certificates a second and a schema-driven parse
 * of each TBS would cost more than the rules. Each buffer is parsed once, however many rules run.
 */
import { children, DerError, type DerElement, decodeOid, expectTag, readElement } from "../pki/der.js";

export interface Extension {
  id: string;
  critical: boolean;
  /** The extnValue's content: the DER of the extension's own value. */
  value: Buffer;
}

export interface TbsCertificate {
  /** 0 (v1), 1 (v2), 2 (v3). */
  version: number;
  /** The INTEGER's content octets, as encoded. */
  serial: Buffer;
  signatureAlgorithm: { oid: string; raw: Buffer };
  issuer: Buffer;
  subject: Buffer;
  subjectEmpty: boolean;
  notBefore: Date;
  notAfter: Date;
  /** The tags the two times were written with (0x17 UTCTime, 0x18 GeneralizedTime). */
  timeTags: [number, number];
  spki: { algorithm: string; parameters?: Buffer; publicKey: Buffer; raw: Buffer };
  extensions: Extension[];
}

export interface TbsCertList {
  /** undefined when the version field is absent (v1). */
  version: number | undefined;
  signatureAlgorithm: { oid: string; raw: Buffer };
  issuer: Buffer;
  thisUpdate: Date;
  nextUpdate: Date | undefined;
  /** The revokedCertificates SEQUENCE's content (walked lazily: a CRL may hold a million entries). */
  revoked: Buffer | undefined;
  extensions: Extension[];
}

export interface RevokedEntry {
  serial: Buffer;
  revocationDate: Date;
  extensions: Extension[];
}

export interface SingleResponse {
  status: "good" | "revoked" | "unknown" | "invalid";
  thisUpdate: Date;
  thisUpdateTag: number;
  nextUpdate: Date | undefined;
}

export interface ResponseData {
  version: number;
  producedAt: Date;
  producedAtTag: number;
  responses: SingleResponse[];
  extensions: Extension[];
}

const cache = new WeakMap<Buffer, unknown>();

function cached<T>(tbs: Buffer, parse: (tbs: Buffer) => T): T {
  const hit = cache.get(tbs) as T | undefined;
  if (hit) return hit;
  const parsed = parse(tbs);
  cache.set(tbs, parsed);
  return parsed;
}

const DIGITS = /^\d+$/;

/** UTCTime (YYMMDDHHMMSSZ, RFC 5280 §4.1.2.5.1) or GeneralizedTime (YYYYMMDDHHMMSS[.f]Z). */
export function readTime(element: DerElement | undefined, what: string): Date {
  if (!element || (element.tag !== 0x17 && element.tag !== 0x18)) throw new DerError(`expected a time for ${what}`);
  const text = element.content.toString("latin1");
  const utc = element.tag === 0x17;
  const digits = text.slice(0, utc ? 12 : 14);
  if (!text.endsWith("Z") || !DIGITS.test(digits) || digits.length !== (utc ? 12 : 14))
    throw new DerError(`${what} is not a Zulu time with seconds: "${text.slice(0, 20)}"`);
  let year = Number(digits.slice(0, utc ? 2 : 4));
  if (utc) year += year >= 50 ? 1900 : 2000;
  const rest = digits.slice(utc ? 2 : 4);
  const date = new Date(
    Date.UTC(
      year,
      Number(rest.slice(0, 2)) - 1,
      Number(rest.slice(2, 4)),
      Number(rest.slice(4, 6)),
      Number(rest.slice(6, 8)),
      Number(rest.slice(8, 10)),
    ),
  );
  if (Number.isNaN(date.getTime())) throw new DerError(`${what} is not a valid time`);
  return date;
}

function algorithm(element: DerElement | undefined, what: string): { oid: string; raw: Buffer } {
  const seq = expectTag(element, 0x30, what);
  return { oid: decodeOid(expectTag(children(seq.content)[0], 0x06, `${what} OID`).content), raw: seq.raw };
}

/** `Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension`. */
export function readExtensions(sequence: DerElement): Extension[] {
  return children(expectTag(sequence, 0x30, "extensions").content).map((item) => {
    const parts = children(expectTag(item, 0x30, "an extension").content);
    const id = decodeOid(expectTag(parts[0], 0x06, "extnID").content);
    let index = 1;
    let critical = false;
    if (parts[1]?.tag === 0x01) {
      critical = parts[1].content[0] !== 0;
      index = 2;
    }
    const value = expectTag(parts[index], 0x04, `the value of extension ${id}`).content;
    return { id, critical, value };
  });
}

export function parseTbsCertificate(tbs: Buffer): TbsCertificate {
  return cached(tbs, () => {
    const top = expectTag(readElement(tbs), 0x30, "TBSCertificate");
    if (top.raw.length !== tbs.length) throw new DerError("trailing bytes after the TBSCertificate");
    const fields = children(top.content);
    let i = 0;
    let version = 0;
    if (fields[0]?.tag === 0xa0) {
      const v = expectTag(children(fields[0].content)[0], 0x02, "version");
      version = v.content[v.content.length - 1]!;
      i = 1;
    }
    const serial = expectTag(fields[i++], 0x02, "serialNumber").content;
    const signatureAlgorithm = algorithm(fields[i++], "signature");
    const issuer = expectTag(fields[i++], 0x30, "issuer").raw;
    const validity = children(expectTag(fields[i++], 0x30, "validity").content);
    const subjectElement = expectTag(fields[i++], 0x30, "subject");
    const spkiElement = expectTag(fields[i++], 0x30, "subjectPublicKeyInfo");
    const [spkiAlgorithm, spkiKey] = children(spkiElement.content);
    const algParts = children(expectTag(spkiAlgorithm, 0x30, "SPKI algorithm").content);
    let extensions: Extension[] = [];
    for (const field of fields.slice(i)) {
      if (field.tag === 0xa3) extensions = readExtensions(children(field.content)[0]!);
    }
    return {
      version,
      serial,
      signatureAlgorithm,
      issuer,
      subject: subjectElement.raw,
      subjectEmpty: subjectElement.content.length === 0,
      notBefore: readTime(validity[0], "notBefore"),
      notAfter: readTime(validity[1], "notAfter"),
      timeTags: [validity[0]!.tag, validity[1]!.tag],
      spki: {
        algorithm: decodeOid(expectTag(algParts[0], 0x06, "SPKI algorithm OID").content),
        parameters: algParts[1]?.raw,
        publicKey: expectTag(spkiKey, 0x03, "subjectPublicKey").content.subarray(1),
        raw: spkiElement.raw,
      },
      extensions,
    };
  });
}

export function parseTbsCertList(tbs: Buffer): TbsCertList {
  return cached(tbs, () => {
    const top = expectTag(readElement(tbs), 0x30, "TBSCertList");
    if (top.raw.length !== tbs.length) throw new DerError("trailing bytes after the TBSCertList");
    const fields = children(top.content);
    let i = 0;
    let version: number | undefined;
    if (fields[0]?.tag === 0x02) {
      version = fields[0].content[fields[0].content.length - 1]!;
      i = 1;
    }
    const signatureAlgorithm = algorithm(fields[i++], "signature");
    const issuer = expectTag(fields[i++], 0x30, "issuer").raw;
    const thisUpdate = readTime(fields[i++], "thisUpdate");
    let nextUpdate: Date | undefined;
    if (fields[i]?.tag === 0x17 || fields[i]?.tag === 0x18) nextUpdate = readTime(fields[i++], "nextUpdate");
    let revoked: Buffer | undefined;
    if (fields[i]?.tag === 0x30) revoked = fields[i++]!.content;
    let extensions: Extension[] = [];
    if (fields[i]?.tag === 0xa0) extensions = readExtensions(children(fields[i++]!.content)[0]!);
    if (i !== fields.length) throw new DerError("unexpected fields at the end of the TBSCertList");
    return { version, signatureAlgorithm, issuer, thisUpdate, nextUpdate, revoked, extensions };
  });
}

/** The revoked entries, one at a time (no array of a million objects). */
export function* revokedEntries(list: TbsCertList): Generator<RevokedEntry> {
  if (!list.revoked) return;
  for (let offset = 0; offset < list.revoked.length; ) {
    const entry = readElement(list.revoked, offset);
    offset += entry.raw.length;
    const parts = children(expectTag(entry, 0x30, "a revoked entry").content);
    yield {
      serial: expectTag(parts[0], 0x02, "userCertificate").content,
      revocationDate: readTime(parts[1], "revocationDate"),
      extensions: parts[2] ? readExtensions(parts[2]) : [],
    };
  }
}

export function parseResponseData(tbs: Buffer): ResponseData {
  return cached(tbs, () => {
    const top = expectTag(readElement(tbs), 0x30, "ResponseData");
    if (top.raw.length !== tbs.length) throw new DerError("trailing bytes after the ResponseData");
    const fields = children(top.content);
    let i = 0;
    let version = 0;
    if (fields[0]?.tag === 0xa0) {
      version = expectTag(children(fields[0].content)[0], 0x02, "version").content[0]!;
      i = 1;
    }
    const responder = fields[i++];
    if (!responder || (responder.tag !== 0xa1 && responder.tag !== 0xa2)) throw new DerError("expected a responderID");
    const producedAtElement = fields[i++];
    const producedAt = readTime(producedAtElement, "producedAt");
    const responses = children(expectTag(fields[i++], 0x30, "responses").content).map((single) => {
      const parts = children(expectTag(single, 0x30, "a SingleResponse").content);
      expectTag(parts[0], 0x30, "certID");
      const statusTag = parts[1]?.tag;
      const status =
        statusTag === 0x80 ? "good" : statusTag === 0xa1 ? "revoked" : statusTag === 0x82 ? "unknown" : "invalid";
      const thisUpdate = readTime(parts[2], "thisUpdate");
      const next = parts.find((p, index) => index > 2 && p.tag === 0xa0);
      return {
        status,
        thisUpdate,
        thisUpdateTag: parts[2]!.tag,
        nextUpdate: next ? readTime(children(next.content)[0], "nextUpdate") : undefined,
      } satisfies SingleResponse;
    });
    const extensionsField = fields[i];
    const extensions = extensionsField?.tag === 0xa1 ? readExtensions(children(extensionsField.content)[0]!) : [];
    return { version, producedAt, producedAtTag: producedAtElement!.tag, responses, extensions };
  });
}

export function findExtension(extensions: readonly Extension[], id: string): Extension | undefined {
  return extensions.find((e) => e.id === id);
}
