/** Claims a periodic job's current slot: true for the one instance (of all sharing a database) that runs it now. */
export type ClaimSlot = (job: string, periodMs: number) => Promise<boolean>;

/** Background work of a module: started by a serving instance, stopped (in reverse order) at shutdown. */
export interface Background {
  start(): void;
  stop(): void | Promise<void>;
}

/**
 * Runs `work` every `periodMs` — on one instance per period when `claim` is given. A failure is
 * reported to `onError` and the next period runs as usual; the timer never holds the process open.
 */
export function every(
  periodMs: number,
  work: () => Promise<unknown>,
  onError: (error: unknown) => void,
  claim?: { slots: ClaimSlot; job: string },
): Background {
  let timer: NodeJS.Timeout | undefined;
  const run = async () => {
    if (claim && !(await claim.slots(claim.job, periodMs))) return;
    await work();
  };
  return {
    start() {
      timer ??= setInterval(() => void run().catch(onError), periodMs);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}
