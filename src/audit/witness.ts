import { mkdir, open, readFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { SignedTreeHead } from "./ports.js";
import type { WitnessEntry } from "./verify.js";

/** One witness line: a signed tree head as JSON (also what `--since-sth` reads and the API serves). */
export function treeHeadJson(head: SignedTreeHead) {
  return {
    type: "keyward-audit-tree-head",
    size: head.size,
    rootHash: head.rootHash,
    at: head.at.toISOString(),
    signature: head.signature.toString("base64"),
    signerSerial: head.signerSerial,
  };
}

/** Reads a tree head written by treeHeadJson; throws naming what is wrong. */
export function parseTreeHead(value: unknown): SignedTreeHead {
  const v = value as Record<string, unknown>;
  if (typeof v !== "object" || v === null || v.type !== "keyward-audit-tree-head") {
    throw new Error('not a tree head (type is not "keyward-audit-tree-head")');
  }
  if (!Number.isSafeInteger(v.size) || (v.size as number) < 1) throw new Error("size is not a positive integer");
  if (typeof v.rootHash !== "string" || !/^[0-9a-f]{64}$/.test(v.rootHash))
    throw new Error("rootHash is not 64 hex digits");
  const at = new Date(String(v.at));
  if (Number.isNaN(at.getTime())) throw new Error("at is not a time");
  if (typeof v.signature !== "string" || typeof v.signerSerial !== "string") {
    throw new Error("signature or signerSerial is missing");
  }
  return {
    size: v.size as number,
    rootHash: v.rootHash,
    at,
    signature: Buffer.from(v.signature, "base64"),
    signerSerial: v.signerSerial,
  };
}

/**
 * The witness outside the database: every signed tree head appended as a JSON line to a file
 * opened append-only (0600), synced before the head counts as witnessed. The operator's log
 * pipeline ships it off the box; a database writer can then neither drop heads nor truncate the
 * log unnoticed.
 */
export class WitnessFile {
  private queue: Promise<void> = Promise.resolve();

  constructor(readonly path: string) {}

  append(head: SignedTreeHead): Promise<void> {
    const line = `${JSON.stringify(treeHeadJson(head))}\n`;
    const write = async () => {
      await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
      const file = await open(this.path, "a", 0o600);
      try {
        await file.chmod(0o600);
        await file.appendFile(line);
        await file.datasync();
      } finally {
        await file.close();
      }
    };
    // One append at a time, in signing order.
    this.queue = this.queue.then(write, write);
    return this.queue;
  }
}

/** The witness file's tree heads, or why a line is not one. */
export async function readWitness(path: string): Promise<WitnessEntry[]> {
  const text = await readFile(path, "utf8");
  return text
    .split("\n")
    .map((line, i) => ({ line, number: i + 1 }))
    .filter(({ line }) => line.trim() !== "")
    .map(({ line, number }) => {
      try {
        return { line: number, head: parseTreeHead(JSON.parse(line)) };
      } catch (error) {
        return { line: number, error: (error as Error).message };
      }
    });
}
