import { describe, expect, it } from "vitest";
import { newAcmeId } from "../../src/acme/orders.js";

describe("ACME order, authorization and challenge ids", () => {
  it("are URL-safe, never repeated, and sort by when they were made", async () => {
    const before = Date.now();
    const first = Array.from({ length: 2000 }, newAcmeId);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const later = Array.from({ length: 50 }, newAcmeId);
    expect(new Set([...first, ...later]).size).toBe(2050);
    for (const id of [...first, ...later]) {
      expect(id).toMatch(/^[0-9a-f]{12}[A-Za-z0-9_-]{12}$/);
      expect(Number.parseInt(id.slice(0, 12), 16)).toBeGreaterThanOrEqual(before);
    }
    // As text, as the databases compare them: each later id after every earlier one.
    const newestFirst = [...first].sort().at(-1)!;
    for (const id of later) expect(id > newestFirst).toBe(true);
  });
});
