/**
 * KMIP TTLV (Tag, Type, Length, Value; KMIP 1.4 spec §9.1): every item is a 3-byte tag, a 1-byte
 * type, a 4-byte big-endian length and the value padded to a multiple of 8 bytes. Decoding is
 * bounded (bytes, depth, items) and every malformed input is a TtlvError, never anything else: the
 * listener turns it into an Invalid Message response.
 */

export const TTLV_TYPES = {
  Structure: 0x01,
  Integer: 0x02,
  LongInteger: 0x03,
  BigInteger: 0x04,
  Enumeration: 0x05,
  Boolean: 0x06,
  TextString: 0x07,
  ByteString: 0x08,
  DateTime: 0x09,
  Interval: 0x0a,
  DateTimeExtended: 0x0b,
} as const;
export type TtlvTypeName = keyof typeof TTLV_TYPES;

const TYPE_NAMES = new Map<number, TtlvTypeName>(
  Object.entries(TTLV_TYPES).map(([name, code]) => [code, name as TtlvTypeName]),
);

export type TtlvItem =
  | { tag: number; type: "Structure"; value: TtlvItem[] }
  | { tag: number; type: "Integer"; value: number }
  | { tag: number; type: "Enumeration"; value: number }
  | { tag: number; type: "Interval"; value: number }
  | { tag: number; type: "LongInteger"; value: bigint }
  | { tag: number; type: "BigInteger"; value: bigint }
  /** Microseconds since the epoch (KMIP 2.0). */
  | { tag: number; type: "DateTimeExtended"; value: bigint }
  | { tag: number; type: "Boolean"; value: boolean }
  | { tag: number; type: "TextString"; value: string }
  | { tag: number; type: "ByteString"; value: Buffer }
  /** Seconds since the epoch; sub-second precision is not representable and is dropped. */
  | { tag: number; type: "DateTime"; value: Date };

export class TtlvError extends Error {
  override name = "TtlvError";
}

export interface TtlvLimits {
  /** The whole message, header included. */
  maxBytes: number;
  /** Nesting of structures; the message itself is depth 1. */
  maxDepth: number;
  /** Items in the whole message. */
  maxItems: number;
}

export const DEFAULT_LIMITS: TtlvLimits = { maxBytes: 1 << 20, maxDepth: 16, maxItems: 10_000 };

const HEADER = 8;
const FIXED_LENGTH: Partial<Record<TtlvTypeName, number>> = {
  Integer: 4,
  LongInteger: 8,
  Enumeration: 4,
  Boolean: 8,
  DateTime: 8,
  Interval: 4,
  DateTimeExtended: 8,
};

const padded = (n: number) => Math.ceil(n / 8) * 8;

/**
 * The length of the message that starts `buffer` once its header is in (framing on a stream):
 * undefined until 8 bytes are there; TtlvError when it would exceed `maxBytes`.
 */
export function messageLength(buffer: Buffer, maxBytes = DEFAULT_LIMITS.maxBytes): number | undefined {
  if (buffer.length < HEADER) return undefined;
  const type = buffer[3]!;
  const length = buffer.readUInt32BE(4);
  // A KMIP message is a structure; anything else is garbage (or another protocol, e.g. HTTP).
  if (type !== TTLV_TYPES.Structure)
    throw new TtlvError(`a KMIP message is a Structure (type 0x01), not type 0x${hex(type, 2)}`);
  const total = HEADER + padded(length);
  if (total > maxBytes) throw new TtlvError(`the message is ${total} bytes; this server takes at most ${maxBytes}`);
  return total;
}

export function decodeTtlv(buffer: Buffer, limits: TtlvLimits = DEFAULT_LIMITS): TtlvItem {
  if (buffer.length > limits.maxBytes) {
    throw new TtlvError(`the message is ${buffer.length} bytes; this server takes at most ${limits.maxBytes}`);
  }
  const state = { items: 0 };
  const { item, end } = decodeItem(buffer, 0, buffer.length, 1, limits, state);
  if (end !== buffer.length) throw new TtlvError(`${buffer.length - end} bytes follow the message`);
  return item;
}

function decodeItem(
  buffer: Buffer,
  offset: number,
  limit: number,
  depth: number,
  limits: TtlvLimits,
  state: { items: number },
): { item: TtlvItem; end: number } {
  if (++state.items > limits.maxItems) throw new TtlvError(`more than ${limits.maxItems} items in the message`);
  if (limit - offset < HEADER) throw new TtlvError(`truncated item header at byte ${offset}`);
  const tag = buffer.readUIntBE(offset, 3);
  const typeCode = buffer[offset + 3]!;
  const length = buffer.readUInt32BE(offset + 4);
  const type = TYPE_NAMES.get(typeCode);
  const where = `tag 0x${hex(tag, 6)} at byte ${offset}`;
  if (!type) throw new TtlvError(`unknown item type 0x${hex(typeCode, 2)} (${where})`);
  const fixed = FIXED_LENGTH[type];
  if (fixed !== undefined && length !== fixed) {
    throw new TtlvError(`a ${type} is ${fixed} bytes long, not ${length} (${where})`);
  }
  if (type === "BigInteger" && (length === 0 || length % 8 !== 0)) {
    throw new TtlvError(`a BigInteger's length is a positive multiple of 8, not ${length} (${where})`);
  }
  const start = offset + HEADER;
  const end = start + padded(length);
  if (end > limit) throw new TtlvError(`the item's value runs past its enclosing item (${where})`);
  const value = buffer.subarray(start, start + length);
  switch (type) {
    case "Structure": {
      if (depth >= limits.maxDepth) throw new TtlvError(`structures nest deeper than ${limits.maxDepth} (${where})`);
      if (length % 8 !== 0) throw new TtlvError(`a Structure's length is a multiple of 8, not ${length} (${where})`);
      const children: TtlvItem[] = [];
      let at = start;
      while (at < start + length) {
        const child = decodeItem(buffer, at, start + length, depth + 1, limits, state);
        children.push(child.item);
        at = child.end;
      }
      return { item: { tag, type, value: children }, end };
    }
    case "Integer":
    case "Enumeration":
    case "Interval":
      return {
        item: { tag, type, value: type === "Integer" ? value.readInt32BE(0) : value.readUInt32BE(0) } as TtlvItem,
        end,
      };
    case "LongInteger":
      return { item: { tag, type, value: value.readBigInt64BE(0) }, end };
    case "DateTimeExtended":
      return { item: { tag, type, value: value.readBigInt64BE(0) }, end };
    case "BigInteger":
      return { item: { tag, type, value: bigFromTwosComplement(value) }, end };
    case "Boolean": {
      const word = value.readBigUInt64BE(0);
      if (word > 1n) throw new TtlvError(`a Boolean is 0 or 1, not ${word} (${where})`);
      return { item: { tag, type, value: word === 1n }, end };
    }
    case "TextString": {
      let text: string;
      try {
        text = new TextDecoder("utf-8", { fatal: true }).decode(value);
      } catch {
        throw new TtlvError(`a TextString is not valid UTF-8 (${where})`);
      }
      return { item: { tag, type, value: text }, end };
    }
    case "ByteString":
      return { item: { tag, type, value: Buffer.from(value) }, end };
    case "DateTime": {
      const seconds = value.readBigInt64BE(0);
      const ms = Number(seconds) * 1000;
      if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) throw new TtlvError(`a DateTime out of range (${where})`);
      return { item: { tag, type, value: new Date(ms) }, end };
    }
  }
}

export function encodeTtlv(item: TtlvItem): Buffer {
  const parts: Buffer[] = [];
  write(item, parts);
  return Buffer.concat(parts);
}

function write(item: TtlvItem, parts: Buffer[]): number {
  const header = Buffer.alloc(HEADER);
  header.writeUIntBE(item.tag, 0, 3);
  header[3] = TTLV_TYPES[item.type];
  parts.push(header);
  let length: number;
  if (item.type === "Structure") {
    length = 0;
    for (const child of item.value) length += write(child, parts);
  } else {
    const value = valueBytes(item);
    length = value.length;
    parts.push(value, Buffer.alloc(padded(length) - length));
  }
  header.writeUInt32BE(length, 4);
  return HEADER + padded(length);
}

function valueBytes(item: Exclude<TtlvItem, { type: "Structure" }>): Buffer {
  switch (item.type) {
    case "Integer": {
      const b = Buffer.alloc(4);
      b.writeInt32BE(item.value);
      return b;
    }
    case "Enumeration":
    case "Interval": {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(item.value);
      return b;
    }
    case "LongInteger":
    case "DateTimeExtended": {
      const b = Buffer.alloc(8);
      b.writeBigInt64BE(item.value);
      return b;
    }
    case "BigInteger":
      return bigToTwosComplement(item.value);
    case "Boolean": {
      const b = Buffer.alloc(8);
      b[7] = item.value ? 1 : 0;
      return b;
    }
    case "TextString":
      return Buffer.from(item.value, "utf8");
    case "ByteString":
      return item.value;
    case "DateTime": {
      const b = Buffer.alloc(8);
      b.writeBigInt64BE(BigInt(Math.floor(item.value.getTime() / 1000)));
      return b;
    }
  }
}

/** Big-endian two's complement, sign-extended to a multiple of 8 bytes (KMIP 1.4 §9.1.1.4). */
function bigToTwosComplement(value: bigint): Buffer {
  let bytes = 8;
  while (value < -(1n << BigInt(bytes * 8 - 1)) || value >= 1n << BigInt(bytes * 8 - 1)) bytes += 8;
  const unsigned = value < 0n ? (1n << BigInt(bytes * 8)) + value : value;
  return Buffer.from(unsigned.toString(16).padStart(bytes * 2, "0"), "hex");
}

function bigFromTwosComplement(bytes: Buffer): bigint {
  const unsigned = BigInt(`0x${bytes.toString("hex")}`);
  return bytes[0]! & 0x80 ? unsigned - (1n << BigInt(bytes.length * 8)) : unsigned;
}

function hex(n: number, width: number): string {
  return n.toString(16).toUpperCase().padStart(width, "0");
}
