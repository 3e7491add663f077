/** Injected wherever time matters so tests can move it. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** Certificates, CRLs and OCSP carry whole seconds; sub-second parts only confuse comparisons. */
export function wholeSeconds(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 1000) * 1000);
}

export function addDays(date: Date, days: number): Date {
  return new Date(date.getTime() + days * 86_400_000);
}

export { type Background, type ClaimSlot, every } from "./periodic.js";
