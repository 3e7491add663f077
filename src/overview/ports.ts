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
   * Unexpired issued certificates (valid or revoked; not Keyward's own: responders' and the
   * internal profiles') and how many have a stored OCSP answer that is still valid, how many of
   * those were signed before `refreshBefore` (due again), and the first few without one.
   */
  ocspCoverage(
    now: Date,
    refreshBefore: Date,
    internalProfiles: readonly string[],
  ): Promise<{ certificates: number; answered: number; due: number; unansweredSerials: string[] }>;
}
