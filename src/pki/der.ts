/**
 * A minimal DER writer and reader for the structures Keyward builds on hot paths (CRLs, OCSP).
 * Building bytes directly keeps CRL generation streaming and OCSP signing cheap; the general
 * libraries (@peculiar/x509, pkijs) stay in charge of everything else.
 */

/** Octets of a DER length: 1 below 128, else 1 + its big-endian bytes. */
function lengthSize(length: number): number {
  if (length < 0x80) return 1;
  let size = 1;
  for (let n = length; n > 0; n = Math.floor(n / 256)) size++;
  return size;
}

/** Writes tag and length at the start of `out`; returns where the content begins. */
function writeHeader(out: Buffer, tag: number, length: number, lengthOctets: number): number {
  out[0] = tag;
  if (lengthOctets === 1) out[1] = length;
  else {
    out[1] = 0x80 | (lengthOctets - 1);
    for (let i = lengthOctets, n = length; i > 1; i--, n = Math.floor(n / 256)) out[i] = n & 0xff;
  }
  return 1 + lengthOctets;
}

export function tlv(tag: number, ...content: Uint8Array[]): Buffer {
  let length = 0;
  for (const part of content) length += part.length;
  // One allocation and one copy of the content, however large (a CRL's entries are tens of
  // megabytes); a certificate is ~60 of these, and each small Buffer was an allocation of its own.
  const lengthOctets = lengthSize(length);
  const out = Buffer.allocUnsafe(1 + lengthOctets + length);
  let at = writeHeader(out, tag, length, lengthOctets);
  for (const part of content) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Header (tag + length) for content of the given size: lets callers stream large bodies. */
export function header(tag: number, contentLength: number): Buffer {
  const lengthOctets = lengthSize(contentLength);
  const out = Buffer.allocUnsafe(1 + lengthOctets);
  writeHeader(out, tag, contentLength, lengthOctets);
  return out;
}

export const sequence = (...items: Uint8Array[]) => tlv(0x30, ...items);
export const set = (...items: Uint8Array[]) => tlv(0x31, ...items);
export const octetString = (bytes: Uint8Array) => tlv(0x04, bytes);
export const NULL = Buffer.from([0x05, 0x00]);
export const bitString = (bytes: Uint8Array) => tlv(0x03, Buffer.from([0]), bytes);
export const enumerated = (value: number) => tlv(0x0a, Buffer.from([value]));
/** [n] EXPLICIT, constructed. */
export const explicit = (n: number, ...items: Uint8Array[]) => tlv(0xa0 | n, ...items);
export const booleanTrue = Buffer.from([0x01, 0x01, 0xff]);

/** INTEGER from an unsigned big-endian magnitude (a serial's bytes), minimal and positive. */
export function unsignedInteger(magnitude: Uint8Array): Buffer {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const trimmed = Buffer.from(magnitude.subarray(start));
  return tlv(0x02, trimmed[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

export function smallInteger(value: number): Buffer {
  const bytes: number[] = [];
  let n = value;
  do {
    bytes.unshift(n & 0xff);
    n = Math.floor(n / 256);
  } while (n > 0);
  if (bytes[0]! & 0x80) bytes.unshift(0);
  return tlv(0x02, Buffer.from(bytes));
}

/** Encoded OIDs by dotted string: Keyward's OIDs are a small fixed set, encoded on every certificate. */
const oids = new Map<string, Buffer>();

/** The returned Buffer is shared: callers copy it into what they build and never change it. */
export function oid(dotted: string): Buffer {
  const known = oids.get(dotted);
  if (known) return known;
  const parts = dotted.split(".").map(Number);
  const bytes: number[] = [40 * parts[0]! + parts[1]!];
  for (const part of parts.slice(2)) {
    const chunk: number[] = [];
    let n = part;
    do {
      chunk.unshift((n & 0x7f) | (chunk.length ? 0x80 : 0));
      n = Math.floor(n / 128);
    } while (n > 0);
    bytes.push(...chunk);
  }
  const encoded = tlv(0x06, Buffer.from(bytes));
  if (oids.size < 1000) oids.set(dotted, encoded);
  return encoded;
}

/** RFC 5280 §4.1.2.5: UTCTime (tag 0x17) through 2049, GeneralizedTime (0x18) from 2050. */
export function x509TimeText(date: Date): { tag: 0x17 | 0x18; text: string } {
  const year = date.getUTCFullYear();
  if (year >= 2050 || year < 1950) return { tag: 0x18, text: generalizedTimeText(date) };
  return { tag: 0x17, text: generalizedTimeText(date).slice(2) };
}

const TWO_DIGITS = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, "0"));

/** YYYYMMDDHHMMSSZ (whole seconds, as RFC 5280 requires). */
function generalizedTimeText(d: Date): string {
  const year = d.getUTCFullYear();
  return `${TWO_DIGITS[Math.floor(year / 100)]}${TWO_DIGITS[year % 100]}${TWO_DIGITS[d.getUTCMonth() + 1]}${TWO_DIGITS[d.getUTCDate()]}${TWO_DIGITS[d.getUTCHours()]}${TWO_DIGITS[d.getUTCMinutes()]}${TWO_DIGITS[d.getUTCSeconds()]}Z`;
}

export function generalizedTime(date: Date): Buffer {
  return tlv(0x18, Buffer.from(generalizedTimeText(date), "ascii"));
}

export function x509Time(date: Date): Buffer {
  const { tag, text } = x509TimeText(date);
  return tlv(tag, Buffer.from(text, "ascii"));
}

/** One decoded element: tag, where its content lies, and where the whole element ends. */
export interface DerElement {
  tag: number;
  /** Content bytes (a view into the input). */
  content: Buffer;
  /** Whole element including header. */
  raw: Buffer;
}

export class DerError extends Error {}

/** Reads one element at `offset`; strict DER lengths, bounded by the input. */
export function readElement(input: Buffer, offset = 0): DerElement {
  if (offset + 2 > input.length) throw new DerError("truncated DER header");
  const tag = input[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError("multi-byte DER tags are not supported");
  let length = input[offset + 1]!;
  let headerLength = 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4) throw new DerError("unsupported DER length");
    if (offset + 2 + count > input.length) throw new DerError("truncated DER length");
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + input[offset + 2 + i]!;
    if (length < 0x80) throw new DerError("non-minimal DER length");
    headerLength += count;
  }
  const end = offset + headerLength + length;
  if (end > input.length) throw new DerError("DER element runs past the end of the input");
  return { tag, content: input.subarray(offset + headerLength, end), raw: input.subarray(offset, end) };
}

/** The elements inside a constructed element's content. */
export function children(content: Buffer): DerElement[] {
  const items: DerElement[] = [];
  for (let offset = 0; offset < content.length; ) {
    const item = readElement(content, offset);
    items.push(item);
    offset += item.raw.length;
  }
  return items;
}

export function expectTag(element: DerElement | undefined, tag: number, what: string): DerElement {
  if (!element || element.tag !== tag) throw new DerError(`expected ${what}`);
  return element;
}

export function decodeOid(content: Buffer): string {
  if (content.length === 0) throw new DerError("empty OID");
  const parts = [Math.floor(content[0]! / 40), content[0]! % 40];
  let value = 0;
  for (const byte of content.subarray(1)) {
    value = value * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      parts.push(value);
      value = 0;
    }
  }
  return parts.join(".");
}
