import { describe, expect, it } from "vitest";
import { cycles, importGraph, moduleGraph } from "../../scripts/import-graph.mjs";

/**
 * Cycles still present while issue 19 is being resolved, each removed by other work in progress:
 * issuance ↔ revocation, compose ↔ http ↔ operations, and the route files around routes/api.ts.
 * A cycle found must lie within one of these; when they are gone this list is emptied, and the
 * test then says: no import cycles at all.
 */
const KNOWN = {
  modules: [
    ["issuance", "revocation"],
    ["compose", "http", "operations"],
  ],
  files: [
    ["issuance/index.ts", "issuance/service.ts", "revocation/ocsp.ts"],
    [
      "http/routes/access-api.ts",
      "http/routes/api.ts",
      "http/routes/console-api.ts",
      "http/routes/escrow-api.ts",
      "http/routes/keys-api.ts",
    ],
  ],
};

/** The cycles not contained in a known one. */
function unknown(found: string[][], known: string[][]): string[][] {
  return found.filter((cycle) => !known.some((k) => cycle.every((member) => k.includes(member))));
}

describe("the import graph of src/", () => {
  const graph = importGraph();

  it("is read from the sources (it sees the imports of a file we know)", () => {
    expect(graph.size).toBeGreaterThan(100);
    expect(graph.get("storage/database.ts")).toContain("storage/migrations/index.ts");
    expect(graph.get("storage/database.ts")).toContain("errors/index.ts");
    expect(moduleGraph(graph).get("storage")).toContain("errors");
  });

  it("has no cycle between files beyond those being removed", () => {
    expect(unknown(cycles(graph), KNOWN.files)).toEqual([]);
  });

  it("has no cycle between modules beyond those being removed", () => {
    expect(unknown(cycles(moduleGraph(graph)), KNOWN.modules)).toEqual([]);
  });
});

describe("the cycle finder", () => {
  it("finds a cycle, and only the nodes on it", () => {
    const graph = new Map([
      ["a", ["b"]],
      ["b", ["c"]],
      ["c", ["a", "d"]],
      ["d", []],
      ["e", ["d"]],
    ]);
    expect(cycles(graph)).toEqual([["a", "b", "c"]]);
  });

  it("finds nothing in a graph without a cycle", () => {
    const graph = new Map([
      ["a", ["b", "c"]],
      ["b", ["c"]],
      ["c", []],
    ]);
    expect(cycles(graph)).toEqual([]);
  });

  it("finds a cycle between modules that no two files close", () => {
    const files = new Map([
      ["audit/service.ts", ["signer/structure.ts"]],
      ["signer/structure.ts", ["audit/event.ts"]],
      ["audit/event.ts", []],
    ]);
    expect(cycles(files)).toEqual([]);
    expect(cycles(moduleGraph(files))).toEqual([["audit", "signer"]]);
  });
});
