import { describe, expect, it } from "vitest";
import {
  CompactTree,
  consistencyProof,
  inclusionProof,
  leafHash,
  merkleRoot,
  verifyConsistency,
  verifyInclusion,
} from "../../src/audit/merkle.js";

// The Certificate Transparency reference test vectors (RFC 6962 reference implementation's
// merkle_tree_test.cc, reused by Trillian and transparency-dev): eight leaves and their roots.
const LEAVES = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"].map(
  (h) => leafHash(Buffer.from(h, "hex")),
);
const ROOTS = [
  "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
  "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
  "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
  "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
  "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
  "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
  "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];
const hex = (list: Buffer[]) => list.map((b) => b.toString("hex"));

describe("the RFC 9162 Merkle tree", () => {
  it("gives the reference roots, whole and grown one leaf at a time", () => {
    expect(merkleRoot([]).toString("hex")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const tree = new CompactTree();
    for (let n = 1; n <= 8; n++) {
      expect(merkleRoot(LEAVES.slice(0, n)).toString("hex")).toBe(ROOTS[n - 1]);
      tree.append(LEAVES[n - 1]!);
      expect(tree.root().toString("hex")).toBe(ROOTS[n - 1]);
    }
  });

  it("gives the reference inclusion and consistency proofs", () => {
    expect(hex(inclusionProof(0, LEAVES))).toEqual([
      "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ]);
    expect(hex(consistencyProof(1, LEAVES))).toEqual(hex(inclusionProof(0, LEAVES)));
    expect(hex(consistencyProof(6, LEAVES))).toEqual([
      "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]);
  });

  it("verifies every proof it makes and refuses altered ones", () => {
    const leaves = Array.from({ length: 37 }, (_, i) => leafHash(Buffer.from(`event ${i}`)));
    for (let n = 1; n <= leaves.length; n++) {
      const tree = leaves.slice(0, n);
      const root = merkleRoot(tree);
      for (let m = 0; m < n; m++) {
        const proof = inclusionProof(m, tree);
        expect(verifyInclusion(m, n, tree[m]!, proof, root)).toBe(true);
        if (n > 1) expect(verifyInclusion(m, n, tree[(m + 1) % n]!, proof, root)).toBe(false);
      }
      for (let m = 1; m <= n; m++) {
        const proof = consistencyProof(m, tree);
        const first = merkleRoot(leaves.slice(0, m));
        expect(verifyConsistency(m, n, first, root, proof)).toBe(true);
        if (m < n) {
          // A different history of m leaves (one leaf swapped) is not a prefix of this tree.
          const forged = merkleRoot([...leaves.slice(0, m - 1), leafHash(Buffer.from("forged"))]);
          expect(verifyConsistency(m, n, forged, root, proof)).toBe(false);
        }
      }
    }
  });
});
