import { createHash } from "node:crypto";

/** Who did something: a person, a service token, an ACME account, the CLI or Keyward itself. */
export interface Actor {
  id: string;
  name: string;
  kind: "user" | "token" | "acme" | "cli" | "system" | "anonymous";
  requestId?: string;
  /** Client IP address for HTTP requests. */
  address?: string;
}

export type AuditOutcome = "success" | "denied" | "failure";

/** Values an event may carry; never PINs, tokens, passwords or key material. */
export type AuditDetail = string | number | boolean | null | string[];

export interface AuditEvent {
  /** `<object>.<verb>`, e.g. `certificate.issue`, `ca.revoke`, `auth.login`. */
  action: string;
  actor: Actor;
  target?: { type: string; id: string };
  outcome: AuditOutcome;
  details?: Record<string, AuditDetail>;
  at: Date;
}

export interface StoredAuditEvent extends AuditEvent {
  seq: number;
  prevHash: string;
  hash: string;
}

/** The hash before the first event. */
export const GENESIS_HASH = "0".repeat(64);

export const SYSTEM_ACTOR: Actor = { id: "keyward", name: "keyward", kind: "system" };

/**
 * Canonical JSON (RFC 8785 style: sorted keys, no whitespace) so the same event always hashes the
 * same, whichever engine stored it and in whatever key order it came back.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
}

/** Everything an event says, in the form that is hashed. */
export function eventBody(seq: number, event: AuditEvent): Record<string, unknown> {
  return {
    seq,
    at: event.at.toISOString(),
    action: event.action,
    actor: { id: event.actor.id, name: event.actor.name, kind: event.actor.kind },
    requestId: event.actor.requestId ?? null,
    address: event.actor.address ?? null,
    target: event.target ?? null,
    outcome: event.outcome,
    details: event.details ?? {},
  };
}

/** hash(n) = SHA-256(hash(n-1) ‖ canonical(event n)): changing or removing any event breaks every later link. */
export function chainHash(prevHash: string, seq: number, event: AuditEvent): string {
  return createHash("sha256")
    .update(prevHash)
    .update("\n")
    .update(canonicalJson(eventBody(seq, event)))
    .digest("hex");
}

/** The leaf of the audit log's Merkle tree for an event: its canonical body, sequence number included. */
export function eventLeaf(seq: number, event: AuditEvent): Buffer {
  return Buffer.from(canonicalJson(eventBody(seq, event)));
}

/** What a tree head says: the first `size` events have this Merkle root (hex), as of `at`. */
export interface TreeHead {
  size: number;
  rootHash: string;
  at: Date;
}

/** The bytes a tree head's signature covers. */
export function treeHeadMessage(head: TreeHead): Buffer {
  return Buffer.from(
    canonicalJson({
      type: "keyward-audit-tree-head",
      size: head.size,
      rootHash: head.rootHash,
      at: head.at.toISOString(),
    }),
  );
}
