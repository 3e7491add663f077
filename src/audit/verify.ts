import { chainHash, GENESIS_HASH, type StoredAuditEvent } from "./event.js";
import type { AuditCheckpoint } from "./ports.js";

export interface AuditProblem {
  /** The first event found wrong (or missing). */
  seq: number;
  kind: "altered" | "missing" | "checkpoint" | "signature";
  detail: string;
}

export interface AuditVerification {
  ok: boolean;
  events: number;
  lastSeq: number;
  checkpoints: number;
  problem?: AuditProblem;
}

/**
 * Walks the chain from the first event, recomputing every hash. A changed event no longer matches
 * its hash; a changed event whose hash was recomputed breaks the next event's link; a rewritten
 * tail no longer matches the last signed checkpoint; a removed event leaves a gap in the sequence.
 */
export async function verifyAuditChain(input: {
  page: (afterSeq: number) => Promise<StoredAuditEvent[]>;
  head: { seq: number; hash: string };
  checkpoints: AuditCheckpoint[];
  checkSignature: (checkpoint: AuditCheckpoint) => Promise<boolean>;
}): Promise<AuditVerification> {
  let prev = GENESIS_HASH;
  let lastSeq = 0;
  let events = 0;
  const result = (problem?: AuditProblem): AuditVerification => ({
    ok: !problem,
    events,
    lastSeq,
    checkpoints: input.checkpoints.length,
    ...(problem ? { problem } : {}),
  });
  for (const checkpoint of input.checkpoints) {
    if (!(await input.checkSignature(checkpoint))) {
      return result({
        seq: checkpoint.seq,
        kind: "signature",
        detail: `the checkpoint at event ${checkpoint.seq} does not carry a valid audit-key signature`,
      });
    }
  }
  const signed = new Map(input.checkpoints.map((c) => [c.seq, c]));
  for (;;) {
    const page = await input.page(lastSeq);
    if (page.length === 0) break;
    for (const event of page) {
      const expected = lastSeq + 1;
      if (event.seq !== expected) {
        return result({
          seq: expected,
          kind: "missing",
          detail: `event ${expected} is missing: the next stored event is ${event.seq}`,
        });
      }
      if (event.prevHash !== prev) {
        return result({
          seq: lastSeq,
          kind: "altered",
          detail: `event ${lastSeq} was altered: event ${event.seq} links to a different hash`,
        });
      }
      const hash = chainHash(prev, event.seq, event);
      if (hash !== event.hash) {
        return result({
          seq: event.seq,
          kind: "altered",
          detail: `event ${event.seq} was altered: its contents no longer match its hash`,
        });
      }
      const checkpoint = signed.get(event.seq);
      if (checkpoint && checkpoint.hash !== hash) {
        return result({
          seq: event.seq,
          kind: "checkpoint",
          detail: `events up to ${event.seq} were rewritten: they no longer match the checkpoint signed at ${checkpoint.at.toISOString()}`,
        });
      }
      prev = hash;
      lastSeq = event.seq;
      events++;
    }
  }
  const beyond = input.checkpoints.find((c) => c.seq > lastSeq);
  if (lastSeq < input.head.seq || beyond) {
    const until = Math.max(input.head.seq, beyond?.seq ?? 0);
    return result({
      seq: lastSeq + 1,
      kind: "missing",
      detail: `events ${lastSeq + 1} to ${until} are missing: the log ends at ${lastSeq}`,
    });
  }
  if (lastSeq > 0 && input.head.hash !== prev) {
    return result({ seq: lastSeq, kind: "altered", detail: `event ${lastSeq} does not match the recorded chain head` });
  }
  return result();
}
