import cluster, { type Worker } from "node:cluster";
import type { Logger } from "pino";

/** What a worker tells the supervisor once its server is listening. */
interface ListeningMessage {
  keyward: "listening";
  url: string;
}

/** The workers' supervisor: the process's signals are main.ts's, which calls `stop`. */
export interface Supervisor {
  listening: Promise<string>;
  /** Asks every worker to drain and stop (SIGTERM); `onStopped` runs when the last has gone. */
  stop(signal: NodeJS.Signals): void;
}

/**
 * Runs `count` copies of `keyward serve` on one port (node:cluster hands out connections): one
 * Node process uses one core for JavaScript, and issuance and OCSP are CPU-bound. The workers are
 * the fleet of docs/deploy.md on one machine: they share storage and the token, and the
 * scheduler slots and OCSP change notices keep them consistent. A worker that dies is replaced;
 * one that dies before it ever listened stops the whole server (a bad port or config would
 * otherwise restart forever). `listening` resolves with the URL once every worker listens.
 */
export function superviseWorkers(count: number, logger: Logger, onStopped: (code: number) => void): Supervisor {
  let stopping = false;
  let url: string | undefined;
  const listening = new Set<number>();
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "stopping workers");
    // Each worker drains on SIGTERM (shutdownGraceSeconds), like a single server.
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill("SIGTERM");
  };
  const started = new Promise<string>((resolve, reject) => {
    const fork = () => {
      const worker = cluster.fork();
      worker.on("message", (message: ListeningMessage) => {
        if (message?.keyward !== "listening") return;
        listening.add(worker.id);
        url = message.url;
        if (listening.size === count) resolve(url);
      });
    };
    cluster.on("exit", (worker: Worker, code, signal) => {
      const wasListening = listening.delete(worker.id);
      if (stopping) {
        if (Object.keys(cluster.workers ?? {}).length === 0) onStopped(0);
        return;
      }
      if (!wasListening) {
        stopping = true;
        for (const other of Object.values(cluster.workers ?? {})) other?.process.kill("SIGTERM");
        reject(new Error(`a worker stopped before it was serving (exit code ${code ?? signal}); see its error above`));
        return;
      }
      logger.warn({ pid: worker.process.pid, code, signal }, "worker stopped; starting another");
      fork();
    });
    for (let i = 0; i < count; i++) fork();
  });
  return { listening: started, stop };
}

/** In a worker: tell the supervisor this server is listening. */
export function reportListening(url: string): void {
  process.send?.({ keyward: "listening", url } satisfies ListeningMessage);
}

export const isWorker = () => cluster.isWorker;
