import { describe, expect, it } from "vitest";
import { publicRandom } from "../../src/pki/public-random.js";
import { randomSerial } from "../../src/signer/authority.js";

describe("randomSerial", () => {
  it("gives 128-bit serials, positive in DER, never repeated, across many refills of its pool", () => {
    // 4 KiB pool = 256 serials: 3,000 cross it eleven times.
    const serials = Array.from({ length: 3000 }, randomSerial);
    expect(new Set(serials).size).toBe(serials.length);
    for (const s of serials) {
      expect(s).toMatch(/^[0-9a-f]{32}$/);
      expect(s.slice(0, 2)).not.toBe("00");
    }
    // Every bit position varies (a pool handed out twice, or left unfilled, would not).
    const ones = new Array<number>(128).fill(0);
    for (const s of serials) {
      const n = BigInt(`0x${s}`);
      for (let bit = 0; bit < 128; bit++) if ((n >> BigInt(bit)) & 1n) ones[bit]!++;
    }
    for (const [bit, count] of ones.entries()) {
      if (bit >= 120) continue; // the top byte is non-zero by construction, so skewed
      expect(count).toBeGreaterThan(1200);
      expect(count).toBeLessThan(1800);
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
