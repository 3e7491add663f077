import { ConflictError } from "../errors/index.js";

/** NIST SP 800-57 Part 1 §7 key states, per key version. */
export const KEY_STATES = ["pre-activation", "active", "suspended", "deactivated", "compromised", "destroyed"] as const;
export type KeyState = (typeof KEY_STATES)[number];

/**
 * The allowed transitions: the one table (docs/keys.md repeats it). Destruction is reached through
 * a scheduled destroy (waiting period), so `destroyed` here is only the scheduler's final step.
 */
export const TRANSITIONS: Record<KeyState, readonly KeyState[]> = {
  "pre-activation": ["active", "compromised", "destroyed"],
  active: ["suspended", "deactivated", "compromised"],
  suspended: ["active", "deactivated", "compromised"],
  deactivated: ["compromised", "destroyed"],
  compromised: ["destroyed"],
  destroyed: [],
};

export function checkTransition(from: KeyState, to: KeyState, what: string): void {
  if (!TRANSITIONS[from].includes(to)) {
    const allowed = TRANSITIONS[from];
    throw new ConflictError(
      `${what} is ${from} and cannot become ${to}${allowed.length ? `; from ${from} it may become ${allowed.join(", ")}` : ""}`,
    );
  }
}

/** What a version in each state may do. Deactivated keys still decrypt what they protected. */
export const USES: Record<KeyState, { protect: boolean; process: boolean }> = {
  "pre-activation": { protect: false, process: false },
  active: { protect: true, process: true },
  suspended: { protect: false, process: false },
  deactivated: { protect: false, process: true },
  compromised: { protect: false, process: false },
  destroyed: { protect: false, process: false },
};
