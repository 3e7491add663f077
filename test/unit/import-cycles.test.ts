import { describe, expect, it } from "vitest";
import { cycles, importGraph, moduleGraph } from "../../scripts/import-graph.mjs";

describe("the import graph of src/", () => {
  const graph = importGraph();

  it("is read from the sources (it sees the imports of a file we know)", () => {
    expect(graph.size).toBeGreaterThan(100);
    expect(graph.get("storage/database.ts")).toContain("storage/migrations/index.ts");
    expect(graph.get("storage/database.ts")).toContain("errors/index.ts");
    expect(moduleGraph(graph).get("storage")).toContain("errors");
  });

  it("has no cycle between files", () => {
    expect(cycles(graph)).toEqual([]);
  });

  it("has no cycle between modules", () => {
    expect(cycles(moduleGraph(graph))).toEqual([]);
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
