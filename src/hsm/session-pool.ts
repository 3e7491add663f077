/**
 * A PKCS#11 session runs one operation at a time, so concurrent callers lease a session each and
 * wait in FIFO order when all are busy.
 */
export class SessionPool<S> {
  private readonly free: S[];
  private readonly waiters: Array<(session: S) => void> = [];

  constructor(sessions: S[]) {
    this.free = [...sessions];
  }

  async withSession<T>(work: (session: S) => Promise<T> | T): Promise<T> {
    const session = await this.acquire();
    try {
      return await work(session);
    } finally {
      this.release(session);
    }
  }

  private acquire(): Promise<S> {
    const session = this.free.pop();
    if (session !== undefined) return Promise.resolve(session);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private release(session: S): void {
    const next = this.waiters.shift();
    if (next) next(session);
    else this.free.push(session);
  }
}
