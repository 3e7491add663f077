/** Counts per UTC day ("YYYY-MM-DD"). */
export interface DailyCount {
  day: string;
  count: number;
}

/** Aggregates the overview reads from storage; each is one query, whatever the table sizes. */
export interface OverviewStore {
  /** Certificates signed (valid or since revoked) per day since `since`. */
  issuedPerDay(since: Date): Promise<DailyCount[]>;
  revokedPerDay(since: Date): Promise<DailyCount[]>;
  /**
   * Unexpired issued certificates (valid or revoked; not OCSP responders') and how many have a stored OCSP answer
   * that is still valid, and how many of those were signed before `refreshBefore` (due again).
   */
  ocspCoverage(now: Date, refreshBefore: Date): Promise<{ certificates: number; answered: number; due: number }>;
}
