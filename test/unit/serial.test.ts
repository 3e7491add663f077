import { describe, expect, it } from "vitest";
import { publicRandom } from "../../src/pki/public-random.js";
import { newSerial } from "../../src/pki/serial.js";

describe("newSerial", () => {
  it("gives 16-octet serials, positive in DER, never repeated, across many refills of its pool", () => {
    const before = Date.now();
    // 4 KiB pool = 256 serials: 3,000 cross it eleven times.
    const serials = Array.from({ length: 3000 }, newSerial);
    const after = Date.now();
    expect(new Set(serials).size).toBe(serials.length);
    for (const s of serials) {
      expect(s).toMatch(/^0[1-7][0-9a-f]{30}$/);
      // The first six octets are the time it was made.
      const ms = Number.parseInt(s.slice(0, 12), 16);
      expect(ms).toBeGreaterThanOrEqual(before);
      expect(ms).toBeLessThanOrEqual(after);
    }
    // Each of the 80 random bits varies (a pool handed out twice, or left unfilled, would not).
    const ones = new Array<number>(80).fill(0);
    for (const s of serials) {
      const n = BigInt(`0x${s.slice(12)}`);
      for (let bit = 0; bit < 80; bit++) if ((n >> BigInt(bit)) & 1n) ones[bit]!++;
    }
    for (const count of ones) {
      expect(count).toBeGreaterThan(1200);
      expect(count).toBeLessThan(1800);
    }
  });

  it("sorts serials made later after those made earlier, as text and as numbers", async () => {
    const first = Array.from({ length: 50 }, newSerial);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const later = Array.from({ length: 50 }, newSerial);
    const newestFirst = [...first].sort().at(-1)!;
    for (const s of later) {
      expect(s > newestFirst).toBe(true);
      expect(BigInt(`0x${s}`) > BigInt(`0x${newestFirst}`)).toBe(true);
    }
  });
});

describe("publicRandom", () => {
  it("hands out sizes that do not divide the pool, each fresh, never a view a later draw overwrites", () => {
    // 12-byte ids and 32-byte tokens interleaved: 93 pairs fill 4,092 bytes, so the next draw refills.
    const drawn = Array.from({ length: 4000 }, (_, i) => publicRandom(i % 2 ? 12 : 32));
    const copies = drawn.map((b) => b.toString("hex"));
    publicRandom(4096 - 1); // forces refills over what was handed out
    publicRandom(64);
    expect(drawn.map((b) => b.toString("hex"))).toEqual(copies);
    expect(new Set(copies).size).toBe(copies.length);
    expect(drawn.every((b, i) => b.length === (i % 2 ? 12 : 32))).toBe(true);
  });
});
