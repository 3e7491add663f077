import { BadRequestError } from "../errors/index.js";

/** RFC 5280 §5.3.1 CRLReason codes (7 is unused). */
export const REASONS = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  removeFromCRL: 8,
  privilegeWithdrawn: 9,
  aACompromise: 10,
} as const;
export type ReasonName = keyof typeof REASONS;

/** Reasons an operator may revoke with; removeFromCRL only undoes a hold (see release). */
export type RevocationReasonName = Exclude<ReasonName, "removeFromCRL">;
export const REVOCATION_REASONS = Object.keys(REASONS).filter((r) => r !== "removeFromCRL") as RevocationReasonName[];

/**
 * The reasons BR §7.2.2 allows on a subscriber certificate's CRL entry (unspecified meaning the
 * reasonCode is left out): no certificateHold, no cACompromise or aACompromise.
 */
export const SUBSCRIBER_REASONS: readonly RevocationReasonName[] = [
  "unspecified",
  "keyCompromise",
  "affiliationChanged",
  "superseded",
  "cessationOfOperation",
  "privilegeWithdrawn",
];

export function reasonCode(name: string): number {
  if (name === "removeFromCRL") {
    throw new BadRequestError('"removeFromCRL" only releases a certificateHold: use the release operation');
  }
  if (!Object.hasOwn(REASONS, name)) {
    throw new BadRequestError(`unknown revocation reason "${name}"; reasons are ${REVOCATION_REASONS.join(", ")}`);
  }
  return REASONS[name as ReasonName];
}

export function reasonName(code: number | null): ReasonName | null {
  if (code === null) return null;
  return (Object.entries(REASONS).find(([, c]) => c === code)?.[0] as ReasonName | undefined) ?? null;
}
