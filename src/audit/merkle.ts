import { createHash } from "node:crypto";

/**
 * The Merkle tree of RFC 9162 §2.1 (Certificate Transparency 2.0): SHA-256, leaves hashed as
 * H(0x00 ‖ leaf) and interior nodes as H(0x01 ‖ left ‖ right), so a leaf can never pass for a node.
 * Pure functions over leaf hashes; the audit log's leaves are its events' canonical bodies.
 */

const LEAF = Buffer.from([0]);
const NODE = Buffer.from([1]);

export function leafHash(leaf: Uint8Array): Buffer {
  return createHash("sha256").update(LEAF).update(leaf).digest();
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  return createHash("sha256").update(NODE).update(left).update(right).digest();
}

/** MTH({}) = SHA-256 of the empty string. */
export const EMPTY_ROOT = createHash("sha256").digest();

/** The largest power of two smaller than n (n > 1): where RFC 9162 splits a tree of n leaves. */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH(D[n]) over leaf hashes. */
export function merkleRoot(leaves: readonly Buffer[]): Buffer {
  return leaves.length === 0 ? EMPTY_ROOT : subtreeRoot(leaves, 0, leaves.length);
}

function subtreeRoot(leaves: readonly Buffer[], start: number, end: number): Buffer {
  const n = end - start;
  if (n === 1) return leaves[start]!;
  const k = split(n);
  return nodeHash(subtreeRoot(leaves, start, start + k), subtreeRoot(leaves, start + k, end));
}

/**
 * A tree that grows one leaf at a time and keeps only the roots of its complete subtrees (at
 * most log2(n) hashes): the root of any size costs O(log n) after the leaves were added once.
 */
export class CompactTree {
  private size = 0;
  /** Roots of the perfect subtrees, largest (leftmost) first. */
  private readonly peaks: Buffer[] = [];

  get treeSize(): number {
    return this.size;
  }

  append(leaf: Buffer): void {
    let node = leaf;
    // Each trailing 1 bit of the old size is a peak of equal height to merge with.
    for (let s = this.size; s & 1; s >>= 1) node = nodeHash(this.peaks.pop()!, node);
    this.peaks.push(node);
    this.size++;
  }

  clone(): CompactTree {
    const copy = new CompactTree();
    copy.size = this.size;
    copy.peaks.push(...this.peaks);
    return copy;
  }

  /** MTH of the leaves so far: the peaks folded right to left. */
  root(): Buffer {
    if (this.peaks.length === 0) return EMPTY_ROOT;
    let node = this.peaks.at(-1)!;
    for (let i = this.peaks.length - 2; i >= 0; i--) node = nodeHash(this.peaks[i]!, node);
    return node;
  }
}

/** PATH(m, D[n]) of RFC 9162 §2.1.3.1: the audit path of leaf index m in the tree of these leaves. */
export function inclusionProof(m: number, leaves: readonly Buffer[]): Buffer[] {
  if (m < 0 || m >= leaves.length) throw new RangeError(`leaf ${m} is not in a tree of ${leaves.length}`);
  const path = (index: number, start: number, end: number): Buffer[] => {
    const n = end - start;
    if (n === 1) return [];
    const k = split(n);
    return index < k
      ? [...path(index, start, start + k), subtreeRoot(leaves, start + k, end)]
      : [...path(index - k, start + k, end), subtreeRoot(leaves, start, start + k)];
  };
  return path(m, 0, leaves.length);
}

/** PROOF(m, D[n]) of RFC 9162 §2.1.4.1: proves the tree of the first m leaves is a prefix of this one. */
export function consistencyProof(m: number, leaves: readonly Buffer[]): Buffer[] {
  const n = leaves.length;
  if (m < 1 || m > n) throw new RangeError(`no consistency proof from ${m} to ${n}`);
  const subproof = (m: number, start: number, end: number, complete: boolean): Buffer[] => {
    const n = end - start;
    if (m === n) return complete ? [] : [subtreeRoot(leaves, start, end)];
    const k = split(n);
    return m <= k
      ? [...subproof(m, start, start + k, complete), subtreeRoot(leaves, start + k, end)]
      : [...subproof(m - k, start + k, end, false), subtreeRoot(leaves, start, start + k)];
  };
  return subproof(m, 0, n, true);
}

/** RFC 9162 §2.1.3.2: does `proof` show leaf index m with this hash in the tree of size n and root? */
export function verifyInclusion(m: number, n: number, leaf: Buffer, proof: readonly Buffer[], root: Buffer): boolean {
  if (m >= n) return false;
  let fn = m;
  let sn = n - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn & 1 || fn === sn) {
      r = nodeHash(p, r);
      if (!(fn & 1)) {
        while (!(fn & 1) && fn !== 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn === 0 && r.equals(root);
}

/** RFC 9162 §2.1.4.2: does `proof` show the tree (m, first) is a prefix of the tree (n, second)? */
export function verifyConsistency(
  m: number,
  n: number,
  first: Buffer,
  second: Buffer,
  proof: readonly Buffer[],
): boolean {
  if (m > n || m < 1) return false;
  if (m === n) return proof.length === 0 && first.equals(second);
  if (proof.length === 0) return false;
  const path = (m & (m - 1)) === 0 ? [first, ...proof] : [...proof];
  let fn = m - 1;
  let sn = n - 1;
  while (fn & 1) {
    fn >>= 1;
    sn >>= 1;
  }
  let fr = path[0]!;
  let sr = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn & 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (!(fn & 1)) {
        while (!(fn & 1) && fn !== 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return fr.equals(first) && sr.equals(second) && sn === 0;
}
