import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";

/** A request sent to a thread, and what the thread sends back. */
export type ThreadMessage<Request> = { id: number; request: Request };
export type ThreadReply<Result> =
  | { ready: true }
  | { id: number; result: Result }
  | { id: number; error: { message: string; code: number | undefined } };

/** What a thread reports when a request fails: its message and, for PKCS#11, the CKR code. */
export class ThreadFailure extends Error {
  constructor(
    message: string,
    readonly code: number | undefined,
  ) {
    super(message);
  }
}

interface Pending<Result> {
  resolve: (result: Result) => void;
  reject: (error: unknown) => void;
}

interface Thread<Result> {
  worker: Worker;
  pending: Map<number, Pending<Result>>;
  ready: Promise<void>;
}

/**
 * Worker threads running one script, each with its own data (e.g. a token session). A request
 * goes to the thread with the fewest waiting. The threads start with the first request (commands
 * that never use them do not wait for them); one that dies after it started is replaced, and when
 * they cannot start, none is kept and `running` turns false so the caller can do the work itself.
 */
export class ThreadPool<Request, Result> {
  private readonly threads: Thread<Result>[] = [];
  private starting: Promise<void> | undefined;
  private nextId = 0;
  private closed = false;

  /**
   * `script` is the thread's compiled module next to the caller: `new URL("./x.js", import.meta.url)`.
   * Run from src/ (tests, tsx) there is only x.ts, loaded through tsx's loader (a development
   * dependency) as the caller was.
   */
  constructor(
    private readonly name: string,
    private readonly script: URL,
    private readonly threadData: unknown[],
  ) {}

  get running(): boolean {
    return !this.closed && (this.starting === undefined || this.threads.length > 0);
  }

  async run(request: Request): Promise<Result> {
    if (!this.closed) {
      this.starting ??= this.start();
      await this.starting;
    }
    if (!this.running) throw new Error(`no ${this.name} thread is running`);
    let thread = this.threads[0]!;
    for (const candidate of this.threads) if (candidate.pending.size < thread.pending.size) thread = candidate;
    const id = this.nextId++;
    return new Promise<Result>((resolve, reject) => {
      // A thread holds the process open only while it owes an answer.
      if (thread.pending.size === 0) thread.worker.ref();
      thread.pending.set(id, { resolve, reject });
      thread.worker.postMessage({ id, request } satisfies ThreadMessage<Request>);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.threads.map((thread) => thread.worker.terminate()));
  }

  private async start(): Promise<void> {
    try {
      await Promise.all(this.threadData.map((data) => this.spawn(data).ready));
    } catch (error) {
      await Promise.all(this.threads.map((thread) => thread.worker.terminate()));
      throw new Error(`cannot start the ${this.name} threads: ${(error as Error).message}`, { cause: error });
    }
  }

  private spawn(workerData: unknown): Thread<Result> {
    const source = this.script.href.replace(/\.js$/, ".ts");
    const worker = existsSync(fileURLToPath(this.script))
      ? new Worker(this.script, { workerData })
      : new Worker(
          `import("tsx/esm/api").then(({ register }) => { register(); return import(${JSON.stringify(source)}); });`,
          { eval: true, workerData },
        );
    let started = false;
    let ready!: () => void;
    let failed!: (error: Error) => void;
    const thread: Thread<Result> = {
      worker,
      pending: new Map(),
      ready: new Promise((resolve, reject) => {
        ready = resolve;
        failed = reject;
      }),
    };
    thread.ready.catch(() => {}); // start() awaits it; a replacement's failure shows on its exit
    this.threads.push(thread);
    worker.on("message", (reply: ThreadReply<Result>) => {
      if ("ready" in reply) {
        started = true;
        ready();
        if (thread.pending.size === 0) worker.unref();
        return;
      }
      const pending = thread.pending.get(reply.id);
      if (!pending) return;
      thread.pending.delete(reply.id);
      if (thread.pending.size === 0) worker.unref();
      if ("result" in reply) pending.resolve(reply.result);
      else pending.reject(new ThreadFailure(reply.error.message, reply.error.code));
    });
    worker.on("error", (error) => {
      failed(error);
      this.failAll(thread, error);
    });
    worker.on("exit", (code) => {
      const stopped = new Error(`a ${this.name} thread stopped (exit code ${code})`);
      failed(stopped);
      this.failAll(thread, stopped);
      this.threads.splice(this.threads.indexOf(thread), 1);
      if (started && !this.closed) this.spawn(workerData);
    });
    return thread;
  }

  private failAll(thread: Thread<Result>, error: unknown): void {
    for (const pending of thread.pending.values()) pending.reject(error);
    thread.pending.clear();
  }
}
