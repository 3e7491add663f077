import { chainHash, eventLeaf, GENESIS_HASH, type StoredAuditEvent } from "./event.js";
import { CompactTree, leafHash } from "./merkle.js";
import type { SignedTreeHead, StoredTreeHead } from "./ports.js";

export interface AuditProblem {
  /** The first event found wrong (or missing); for a tree-head problem, the head's size. */
  seq: number;
  kind: "altered" | "missing" | "uncovered" | "tree-head" | "signature";
  detail: string;
  /** The stored event at `seq`, when there is one. */
  event?: { action: string; at: string };
}

export interface AuditVerification {
  ok: boolean;
  events: number;
  lastSeq: number;
  /** Signed tree heads in the database. */
  treeHeads: number;
  /** The same count, under the name the console reads. */
  checkpoints: number;
  /** Tree heads read from the witness file, when one was given. */
  witnessed?: number;
  /** The largest tree size a valid signed head vouches for. */
  coveredSize: number;
  /** The first problem: the earliest bad event when there is one. */
  problem?: AuditProblem;
  problems: AuditProblem[];
}

/** A tree head from the witness file, with the line it came from. */
export interface WitnessEntry {
  line: number;
  head?: SignedTreeHead;
  /** Why the line is not a tree head. */
  error?: string;
}

export interface VerifyInput {
  page: (afterSeq: number) => Promise<StoredAuditEvent[]>;
  /** The chain head row: the database's own idea of the last event. */
  head: { seq: number; hash: string };
  treeHeads: StoredTreeHead[];
  /** The leaf hashes a database tree head added (read only for the head that fails to match). */
  leavesOf: (size: number) => Promise<Buffer | undefined>;
  witness?: WitnessEntry[];
  checkSignature: (head: SignedTreeHead) => Promise<boolean>;
  now: Date;
  /** Events older than this and covered by no signed tree head mean a head is missing. */
  maxUncoveredMs: number;
}

const EVENT_KINDS = new Set(["altered", "missing", "uncovered"]);
const describe = (e: StoredAuditEvent) => `event ${e.seq} (${e.action} at ${e.at.toISOString()})`;
const eventRef = (e: StoredAuditEvent) => ({ action: e.action, at: e.at.toISOString() });

/**
 * Rebuilds the Merkle tree (RFC 9162) from the stored events and holds every signed tree head of
 * the database and the witness against it; also checks the hash chain each event carries. A
 * database writer can rewrite events and the chain, but not the tree heads the HSM signed: any
 * altered, inserted, removed or reordered event changes the root of every head after it. The
 * first head that no longer matches brackets the damage; the leaf hashes that head stored (which
 * its signed root authenticates) then name the exact event.
 */
export async function verifyAuditLog(input: VerifyInput): Promise<AuditVerification> {
  const problems: AuditProblem[] = [];

  // 1. Which tree heads can be believed: signed by the audit key, and not contradicting each other.
  const trusted = new Map<number, SignedTreeHead & { where: string }>();
  const admit = async (head: SignedTreeHead, where: string) => {
    if (!(await input.checkSignature(head))) {
      problems.push({
        seq: head.size,
        kind: "signature",
        detail: `the tree head of size ${head.size} in ${where} (signed at ${head.at.toISOString()}) does not carry a valid audit-key signature`,
      });
      return;
    }
    const other = trusted.get(head.size);
    if (other && other.rootHash !== head.rootHash) {
      problems.push({
        seq: head.size,
        kind: "tree-head",
        detail: `two signed tree heads of size ${head.size} disagree: ${other.where} and ${where}`,
      });
      return;
    }
    if (!other) trusted.set(head.size, { ...head, where });
  };
  for (const head of input.treeHeads) await admit(head, "the database");
  const inDatabase = new Set(input.treeHeads.map((h) => `${h.size}:${h.rootHash}`));
  for (const entry of input.witness ?? []) {
    if (!entry.head) {
      problems.push({ seq: 0, kind: "tree-head", detail: `witness line ${entry.line}: ${entry.error}` });
      continue;
    }
    await admit(entry.head, `the witness (line ${entry.line})`);
    if (!inDatabase.has(`${entry.head.size}:${entry.head.rootHash}`)) {
      problems.push({
        seq: entry.head.size,
        kind: "tree-head",
        detail: `the tree head of size ${entry.head.size} signed at ${entry.head.at.toISOString()} (witness line ${entry.line}) is missing from the database`,
      });
    }
  }
  const coveredSize = Math.max(0, ...trusted.keys());

  // 2. Walk the events: sequence, chain, tree, and each trusted head as the tree reaches its size.
  const fromSizes = new Set(input.treeHeads.map((h) => h.leavesFrom));
  const snapshots = new Map<number, CompactTree>();
  const tree = new CompactTree();
  let since: { leaf: Buffer; event: StoredAuditEvent }[] = [];
  let matchedSize = 0;
  let treeBroken = false;
  let chainProblem: AuditProblem | undefined;
  let linkProblem: AuditProblem | undefined;
  let firstUncovered: StoredAuditEvent | undefined;
  let prev = GENESIS_HASH;
  let previous: StoredAuditEvent | undefined;
  let lastSeq = 0;
  let events = 0;
  if (fromSizes.has(0)) snapshots.set(0, tree.clone());
  walk: for (;;) {
    const page = await input.page(lastSeq);
    if (page.length === 0) break;
    for (const event of page) {
      const expected = lastSeq + 1;
      if (event.seq !== expected) {
        const after = previous ? `after ${describe(previous)}` : "at the start of the log";
        problems.push({
          seq: expected,
          kind: "missing",
          detail: `event ${expected} is missing ${after}: the next stored event is ${describe(event)}`,
        });
        break walk;
      }
      if (!chainProblem && chainHash(event.prevHash, event.seq, event) !== event.hash) {
        chainProblem = {
          seq: event.seq,
          kind: "altered",
          detail: `${describe(event)} was altered: its contents no longer match its hash`,
          event: eventRef(event),
        };
      }
      if (!linkProblem && event.prevHash !== prev) {
        linkProblem = {
          seq: event.seq,
          kind: "altered",
          detail: `${describe(event)} does not link to the hash of event ${event.seq - 1}: an event was altered or removed here`,
          event: eventRef(event),
        };
      }
      prev = event.hash;
      const leaf = leafHash(eventLeaf(event.seq, event));
      tree.append(leaf);
      if (!treeBroken) since.push({ leaf, event });
      if (fromSizes.has(event.seq)) snapshots.set(event.seq, tree.clone());
      if (event.seq > coveredSize) firstUncovered ??= event;
      const head = trusted.get(event.seq);
      if (head && !treeBroken) {
        if (tree.root().toString("hex") === head.rootHash) {
          matchedSize = event.seq;
          since = [];
        } else {
          treeBroken = true;
          problems.push(await locate(input, head, matchedSize, since, snapshots));
        }
      }
      previous = event;
      lastSeq = event.seq;
      events++;
    }
  }

  // 3. What is gone from the end: heads that cover more events than are stored, a shorter chain.
  const beyond = [...trusted.values()].filter((h) => h.size > lastSeq).sort((a, b) => b.size - a.size)[0];
  if (beyond && !problems.some((p) => p.kind === "missing")) {
    problems.push({
      seq: lastSeq + 1,
      kind: "missing",
      detail: `the log ends at event ${lastSeq}, but the tree head of size ${beyond.size} signed at ${beyond.at.toISOString()} (${beyond.where}) covers ${beyond.size} events: events ${lastSeq + 1} to ${beyond.size} were removed`,
    });
  } else if (lastSeq < input.head.seq && !problems.some((p) => p.kind === "missing")) {
    problems.push({
      seq: lastSeq + 1,
      kind: "missing",
      detail: `events ${lastSeq + 1} to ${input.head.seq} are missing: the log ends at ${lastSeq}`,
    });
  }
  if (chainProblem) {
    if (!problems.some((p) => p.seq === chainProblem.seq && p.kind === "altered")) problems.push(chainProblem);
  } else if (linkProblem && !treeBroken) problems.push(linkProblem);
  else if (lastSeq > 0 && lastSeq === input.head.seq && input.head.hash !== prev && !treeBroken) {
    problems.push({ seq: lastSeq, kind: "altered", detail: `event ${lastSeq} does not match the recorded chain head` });
  }

  // 4. Events no signed head covers, older than the signing interval: a head is missing.
  if (firstUncovered && input.now.getTime() - firstUncovered.at.getTime() > input.maxUncoveredMs) {
    problems.push({
      seq: firstUncovered.seq,
      kind: "uncovered",
      detail: `${describe(firstUncovered)} is covered by no signed tree head, ${Math.round((input.now.getTime() - firstUncovered.at.getTime()) / 1000)} s after it was recorded`,
      event: eventRef(firstUncovered),
    });
  }

  // Event problems first, earliest first: the first bad event is what an investigator needs.
  problems.sort((a, b) => Number(EVENT_KINDS.has(b.kind)) - Number(EVENT_KINDS.has(a.kind)) || a.seq - b.seq);
  return {
    ok: problems.length === 0,
    events,
    lastSeq,
    treeHeads: input.treeHeads.length,
    checkpoints: input.treeHeads.length,
    ...(input.witness ? { witnessed: input.witness.filter((w) => w.head).length } : {}),
    coveredSize,
    ...(problems[0] ? { problem: problems[0] } : {}),
    problems,
  };
}

/**
 * The tree no longer matches `head` but matched the head of size `matched`: an event after
 * `matched` is bad. When the database still holds the leaf hashes `head` added and they rebuild
 * its signed root, they are the original leaves and the first one that differs is the event.
 */
async function locate(
  input: VerifyInput,
  head: SignedTreeHead & { where: string },
  matched: number,
  since: { leaf: Buffer; event: StoredAuditEvent }[],
  snapshots: Map<number, CompactTree>,
): Promise<AuditProblem> {
  const stored = input.treeHeads.find((h) => h.size === head.size && h.rootHash === head.rootHash);
  const leaves = stored && stored.leavesFrom <= matched ? await input.leavesOf(stored.size) : undefined;
  const base = stored && snapshots.get(stored.leavesFrom);
  if (stored && leaves && base && leaves.length === 32 * (stored.size - stored.leavesFrom)) {
    const original = base.clone();
    for (let i = 0; i < leaves.length; i += 32) original.append(leaves.subarray(i, i + 32));
    if (original.root().toString("hex") === head.rootHash) {
      for (const { leaf, event } of since) {
        const offset = 32 * (event.seq - stored.leavesFrom - 1);
        if (!leaf.equals(leaves.subarray(offset, offset + 32))) {
          return {
            seq: event.seq,
            kind: "altered",
            detail: `${describe(event)} is not the event the tree head of size ${head.size} signed at ${head.at.toISOString()} covers: it was altered, inserted, or an event before it was removed or reordered`,
            event: eventRef(event),
          };
        }
      }
    }
  }
  const first = since[0]!.event;
  const last = since.at(-1)!.event;
  return {
    seq: first.seq,
    kind: "altered",
    detail: `events ${first.seq} to ${last.seq} no longer match the tree head of size ${head.size} signed at ${head.at.toISOString()} (${head.where}): one of them, from ${describe(first)} on, was altered, inserted, removed or reordered (no authenticated leaf hashes remain to tell which)`,
    event: eventRef(first),
  };
}
