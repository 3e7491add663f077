import { describe, expect, it } from "vitest";
import {
  DEFAULT_LIMITS,
  decodeTtlv,
  encodeTtlv,
  messageLength,
  type TtlvItem,
  TtlvError,
} from "../../src/kmip/ttlv.js";

const hex = (s: string) => Buffer.from(s.replace(/[\s|]/g, ""), "hex");
const TAG = 0x420020; // Compromise Date: the tag the KMIP 1.4 spec's §9.1.2 examples use

describe("TTLV: the KMIP 1.4 specification's encoding examples (§9.1.2), byte for byte", () => {
  const vectors: Array<[string, TtlvItem, string]> = [
    ["Integer 8", { tag: TAG, type: "Integer", value: 8 }, "42 00 20 | 02 | 00 00 00 04 | 00 00 00 08 00 00 00 00"],
    [
      "Long Integer 123456789000000000",
      { tag: TAG, type: "LongInteger", value: 123456789000000000n },
      "42 00 20 | 03 | 00 00 00 08 | 01 B6 9B 4B A5 74 92 00",
    ],
    [
      "Big Integer 1234567890000000000000000000",
      { tag: TAG, type: "BigInteger", value: 1234567890000000000000000000n },
      "42 00 20 | 04 | 00 00 00 10 | 00 00 00 00 03 FD 35 EB 6B C2 DF 46 18 08 00 00",
    ],
    [
      "Enumeration 255",
      { tag: TAG, type: "Enumeration", value: 255 },
      "42 00 20 | 05 | 00 00 00 04 | 00 00 00 FF 00 00 00 00",
    ],
    [
      "Boolean True",
      { tag: TAG, type: "Boolean", value: true },
      "42 00 20 | 06 | 00 00 00 08 | 00 00 00 00 00 00 00 01",
    ],
    [
      "Text String Hello World",
      { tag: TAG, type: "TextString", value: "Hello World" },
      "42 00 20 | 07 | 00 00 00 0B | 48 65 6C 6C 6F 20 57 6F 72 6C 64 00 00 00 00 00",
    ],
    [
      "Byte String 01 02 03",
      { tag: TAG, type: "ByteString", value: Buffer.from([1, 2, 3]) },
      "42 00 20 | 08 | 00 00 00 03 | 01 02 03 00 00 00 00 00",
    ],
    [
      "Date-Time Friday, March 14, 2008, 11:56:40 GMT",
      { tag: TAG, type: "DateTime", value: new Date("2008-03-14T11:56:40Z") },
      "42 00 20 | 09 | 00 00 00 08 | 00 00 00 00 47 DA 67 F8",
    ],
    [
      "Interval 10 days",
      { tag: TAG, type: "Interval", value: 864000 },
      "42 00 20 | 0A | 00 00 00 04 | 00 0D 2F 00 00 00 00 00",
    ],
    [
      "Structure of Enumeration 254 and Integer 255",
      {
        tag: TAG,
        type: "Structure",
        value: [
          { tag: 0x420004, type: "Enumeration", value: 254 },
          { tag: 0x420005, type: "Integer", value: 255 },
        ],
      },
      "42 00 20 | 01 | 00 00 00 20 | 42 00 04 | 05 | 00 00 00 04 | 00 00 00 FE 00 00 00 00 | 42 00 05 | 02 | 00 00 00 04 | 00 00 00 FF 00 00 00 00",
    ],
  ];
  for (const [name, item, bytes] of vectors) {
    it(name, () => {
      expect(encodeTtlv(item).toString("hex")).toBe(hex(bytes).toString("hex"));
      expect(decodeTtlv(hex(bytes))).toEqual(item);
    });
  }

  it("a Discover Versions request as PyKMIP writes it (KMIP 1.1 test case 3.1.2: versions provided)", () => {
    const pv = (minor: number): TtlvItem => ({
      tag: 0x420069,
      type: "Structure",
      value: [
        { tag: 0x42006a, type: "Integer", value: 1 },
        { tag: 0x42006b, type: "Integer", value: minor },
      ],
    });
    const message: TtlvItem = {
      tag: 0x420078,
      type: "Structure",
      value: [
        { tag: 0x420077, type: "Structure", value: [pv(1), { tag: 0x42000d, type: "Integer", value: 1 }] },
        {
          tag: 0x42000f,
          type: "Structure",
          value: [
            { tag: 0x42005c, type: "Enumeration", value: 30 },
            { tag: 0x420079, type: "Structure", value: [pv(2), pv(1)] },
          ],
        },
      ],
    };
    const wire =
      "42007801000000b04200770100000038420069010000002042006a0200000004000000010000000042006b02000000040000000100000000" +
      "42000d0200000004000000010000000042000f010000006842005c05000000040000001e000000004200790100000050" +
      "420069010000002042006a0200000004000000010000000042006b02000000040000000200000000" +
      "420069010000002042006a0200000004000000010000000042006b02000000040000000100000000";
    expect(encodeTtlv(message).toString("hex")).toBe(wire);
    expect(decodeTtlv(Buffer.from(wire, "hex"))).toEqual(message);
    expect(messageLength(Buffer.from(wire, "hex").subarray(0, 8))).toBe(wire.length / 2);
  });
});

describe("TTLV: round trips", () => {
  it("keeps every type, signs, empty values and UTF-8 through encode and decode", () => {
    const item: TtlvItem = {
      tag: 0x420078,
      type: "Structure",
      value: [
        { tag: 1, type: "Integer", value: -2147483648 },
        { tag: 2, type: "Integer", value: 2147483647 },
        { tag: 3, type: "LongInteger", value: -1n },
        { tag: 4, type: "BigInteger", value: -1n },
        { tag: 4, type: "BigInteger", value: -(1n << 63n) },
        { tag: 4, type: "BigInteger", value: 1n << 63n },
        { tag: 4, type: "BigInteger", value: -(1n << 200n) + 12345n },
        { tag: 5, type: "Enumeration", value: 0xffffffff },
        { tag: 6, type: "Boolean", value: false },
        { tag: 7, type: "TextString", value: "" },
        { tag: 7, type: "TextString", value: "schlüssel 🔑" },
        { tag: 8, type: "ByteString", value: Buffer.alloc(0) },
        { tag: 8, type: "ByteString", value: Buffer.alloc(16, 0xab) },
        { tag: 9, type: "DateTime", value: new Date(0) },
        { tag: 10, type: "Interval", value: 0 },
        { tag: 11, type: "DateTimeExtended", value: 1_700_000_000_123_456n },
        { tag: 12, type: "Structure", value: [] },
      ],
    };
    const bytes = encodeTtlv(item);
    expect(bytes.length % 8).toBe(0);
    expect(decodeTtlv(bytes)).toEqual(item);
  });

  it("encodes a Big Integer sign-extended to whole 8-byte words", () => {
    expect(encodeTtlv({ tag: TAG, type: "BigInteger", value: -1n }).subarray(4).toString("hex")).toBe(
      "00000008ffffffffffffffff",
    );
    expect(
      encodeTtlv({ tag: TAG, type: "BigInteger", value: 1n << 63n })
        .subarray(4)
        .toString("hex"),
    ).toBe("0000001000000000000000008000000000000000");
  });
});

describe("TTLV: malformed input is a TtlvError naming what is wrong, never a crash", () => {
  const reject = (bytes: string | Buffer, message: RegExp, limits = DEFAULT_LIMITS) => {
    const buffer = typeof bytes === "string" ? hex(bytes) : bytes;
    expect(() => decodeTtlv(buffer, limits)).toThrowError(TtlvError);
    expect(() => decodeTtlv(buffer, limits)).toThrowError(message);
  };

  it("refuses truncated headers and values", () => {
    reject("42 00 20 02 00 00", /truncated item header/);
    reject("42 00 20 | 02 | 00 00 00 04 | 00 00 00 08", /runs past/);
  });
  it("refuses wrong fixed lengths, unknown types and bad Booleans", () => {
    reject("42 00 20 | 02 | 00 00 00 08 | 00 00 00 08 00 00 00 00", /Integer is 4 bytes long, not 8/);
    reject("42 00 20 | 0C | 00 00 00 00", /unknown item type 0x0C/);
    reject("42 00 20 | 06 | 00 00 00 08 | 00 00 00 00 00 00 00 02", /Boolean is 0 or 1/);
    reject("42 00 20 | 04 | 00 00 00 04 | 00 00 00 01 00 00 00 00", /BigInteger's length/);
  });
  it("refuses invalid UTF-8 and bytes after the message", () => {
    reject("42 00 20 | 07 | 00 00 00 02 | C3 28 00 00 00 00 00 00", /not valid UTF-8/);
    reject("42 00 20 | 02 | 00 00 00 04 | 00 00 00 08 00 00 00 00 | 00", /1 bytes follow/);
  });
  it("refuses a child that overruns its structure", () => {
    reject("42 00 20 | 01 | 00 00 00 08 | 42 00 04 | 02 | 00 00 00 04 | 00 00 00 01 00 00 00 00", /runs past/);
  });
  it("bounds depth, item count and size", () => {
    let nested: TtlvItem = { tag: 1, type: "Integer", value: 1 };
    for (let i = 0; i < 20; i++) nested = { tag: 1, type: "Structure", value: [nested] };
    reject(encodeTtlv(nested), /nest deeper than 16/);
    const many: TtlvItem = {
      tag: 1,
      type: "Structure",
      value: Array.from({ length: 50 }, () => ({ tag: 2, type: "Integer" as const, value: 0 })),
    };
    reject(encodeTtlv(many), /more than 10 items/, { ...DEFAULT_LIMITS, maxItems: 10 });
    reject(encodeTtlv(many), /takes at most 64/, { ...DEFAULT_LIMITS, maxBytes: 64 });
    expect(() => messageLength(hex("42 00 78 01 7f ff ff f8"))).toThrowError(/takes at most/);
    expect(() => messageLength(Buffer.from("GET / HTTP/1.1\r\n"))).toThrowError(/a KMIP message is a Structure/);
    expect(messageLength(hex("42 00 78 01"))).toBeUndefined();
  });
  it("survives random garbage (fuzz)", () => {
    let seed = 42;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    const base = encodeTtlv({
      tag: 0x420078,
      type: "Structure",
      value: [
        { tag: 0x420077, type: "Structure", value: [{ tag: 0x42000d, type: "Integer", value: 1 }] },
        { tag: 0x420094, type: "TextString", value: "abcdef" },
      ],
    });
    for (let i = 0; i < 2000; i++) {
      const mutated = Buffer.from(base);
      for (let j = 0; j < 1 + Math.floor(rand() * 4); j++)
        mutated[Math.floor(rand() * mutated.length)] = Math.floor(rand() * 256);
      try {
        decodeTtlv(mutated.subarray(0, Math.floor(rand() * (mutated.length + 1))));
      } catch (error) {
        expect(error).toBeInstanceOf(TtlvError);
      }
    }
  });
});
