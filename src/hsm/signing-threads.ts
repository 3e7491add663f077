import { Worker } from "node:worker_threads";
import pkcs11js from "pkcs11js";
import { HsmModuleError } from "../errors/index.js";
import type { SignReply, SignRequest, SigningThreadData } from "./signing-thread.js";

interface Pending {
  resolve: (signature: Buffer) => void;
  reject: (error: unknown) => void;
}

interface Thread {
  worker: Worker;
  pending: Map<number, Pending>;
  ready: Promise<void>;
}

// Run from the compiled dist/ the thread is plain JavaScript; run from src/ (tests, tsx) it is
// TypeScript, which the thread loads through tsx's loader (a development dependency).
const here = import.meta.url;
const fromSource = here.endsWith(".ts");
const threadUrl = new URL(fromSource ? "./signing-thread.ts" : "./signing-thread.js", here);
const threadScript = fromSource
  ? `import("tsx/esm/api").then(({ register }) => { register(); return import(${JSON.stringify(threadUrl.href)}); });`
  : undefined;

/**
 * Threads that sign with a session each. pkcs11js runs C_SignInit on the calling thread, and a
 * token does real work there (SoftHSM decrypts the key and builds it; a network HSM makes a round
 * trip): on the event loop that stalls every request. A thread signs one request at a time; a
 * request goes to the thread with the fewest waiting.
 */
export class SigningThreads {
  private readonly threads: Thread[] = [];
  private starting: Promise<void> | undefined;
  private nextId = 0;
  private closed = false;

  /** The threads start with the first signature: commands that never sign do not wait for them. */
  constructor(
    private readonly modulePath: string,
    private readonly sessions: Buffer[],
  ) {}

  /** False once closed, or once every thread has died without a replacement: the caller then signs itself. */
  get running(): boolean {
    return !this.closed && (this.starting === undefined || this.threads.length > 0);
  }

  async sign(key: Buffer, mechanism: number, input: Buffer): Promise<Buffer> {
    this.starting ??= this.start();
    await this.starting;
    if (!this.running) throw new HsmModuleError("no signing thread is running");
    let thread = this.threads[0]!;
    for (const candidate of this.threads) if (candidate.pending.size < thread.pending.size) thread = candidate;
    const id = this.nextId++;
    return new Promise<Buffer>((resolve, reject) => {
      thread.pending.set(id, { resolve, reject });
      thread.worker.postMessage({ id, key, mechanism, input } satisfies SignRequest);
    });
  }

  /** Stops the threads; the caller closes their sessions afterwards. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.threads.map((thread) => thread.worker.terminate()));
  }

  /** A thread per session; when one cannot load the module none is kept (and callers sign themselves). */
  private async start(): Promise<void> {
    try {
      await Promise.all(this.sessions.map((session) => this.spawn(session).ready));
    } catch (error) {
      await Promise.all(this.threads.map((thread) => thread.worker.terminate()));
      throw new HsmModuleError(`cannot start the signing threads: ${(error as Error).message}`, { cause: error });
    }
  }

  private spawn(session: Buffer): Thread {
    const workerData: SigningThreadData = { modulePath: this.modulePath, session };
    const worker = threadScript
      ? new Worker(threadScript, { eval: true, workerData })
      : new Worker(threadUrl, { workerData });
    // Idle threads must not keep the process alive; close() ends them on a proper shutdown.
    worker.unref();
    let started = false;
    let ready!: () => void;
    let failed!: (error: Error) => void;
    const thread: Thread = {
      worker,
      pending: new Map(),
      ready: new Promise((resolve, reject) => {
        ready = resolve;
        failed = reject;
      }),
    };
    thread.ready.catch(() => {}); // awaited by start(); a replacement's failure is handled on exit
    this.threads.push(thread);
    worker.on("message", (reply: SignReply) => {
      if ("ready" in reply) {
        started = true;
        ready();
        return;
      }
      const pending = thread.pending.get(reply.id);
      if (!pending) return;
      thread.pending.delete(reply.id);
      if ("signature" in reply) pending.resolve(Buffer.from(reply.signature));
      else pending.reject(new pkcs11js.Pkcs11Error(reply.error.message, reply.error.code));
    });
    worker.on("error", (error) => {
      failed(error);
      this.failAll(thread, error);
    });
    worker.on("exit", (code) => {
      failed(new Error(`the thread exited with code ${code}`));
      this.failAll(thread, new HsmModuleError(`a signing thread stopped (exit code ${code})`));
      this.threads.splice(this.threads.indexOf(thread), 1);
      // One that never started would fail again; one that did is replaced on the same session.
      if (started && !this.closed) this.spawn(session);
    });
    return thread;
  }

  private failAll(thread: Thread, error: unknown): void {
    for (const pending of thread.pending.values()) pending.reject(error);
    thread.pending.clear();
  }
}
