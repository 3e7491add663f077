import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { ThreadFailure, ThreadPool } from "../../src/threads/index.js";
import type { EchoRequest } from "../fixtures/threads/echo-thread.js";

const echo = () =>
  new ThreadPool<EchoRequest, string>("echo", new URL("../fixtures/threads/echo-thread.js", import.meta.url), [
    { name: "a" },
    { name: "b" },
  ]);

describe("ThreadPool (real worker threads)", () => {
  it("spreads concurrent requests over its threads, each answering with its own data", async () => {
    const pool = echo();
    try {
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => pool.run({ text: `m${i}` })));
      for (const [i, answer] of answers.entries()) expect(answer).toMatch(new RegExp(`^[ab]: m${i}$`));
      expect(new Set(answers.map((a) => a[0]))).toEqual(new Set(["a", "b"]));
    } finally {
      await pool.close();
    }
  });

  it("returns a thread's error with its message and code, and the thread goes on serving", async () => {
    const pool = echo();
    try {
      const error = await pool.run({ text: "x", fail: true }).catch((e) => e);
      expect(error).toBeInstanceOf(ThreadFailure);
      expect(error).toMatchObject({ message: "refused x", code: 7 });
      expect(await pool.run({ text: "y" })).toMatch(/^[ab]: y$/);
    } finally {
      await pool.close();
    }
  });

  it("answers from a handler's promise, its value or its error, while serving others meanwhile", async () => {
    const pool = echo();
    try {
      const [later, now, failed] = await Promise.all([
        pool.run({ text: "x", later: true }),
        pool.run({ text: "y" }),
        pool.run({ text: "z", later: true, fail: true }).catch((e) => e),
      ]);
      expect(later).toMatch(/^[ab]: x later$/);
      expect(now).toMatch(/^[ab]: y$/);
      expect(failed).toBeInstanceOf(ThreadFailure);
      expect(failed).toMatchObject({ message: "refused z later", code: 8 });
    } finally {
      await pool.close();
    }
  });

  it("replaces a thread that stops, failing only the request it held", async () => {
    const pool = echo();
    try {
      await pool.run({ text: "warm up" });
      await expect(pool.run({ text: "bye", stop: true })).rejects.toThrow(/echo thread stopped \(exit code 3\)/);
      const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => pool.run({ text: `again ${i}` })));
      expect(answers.every((a, i) => a.endsWith(`again ${i}`))).toBe(true);
      expect(pool.running).toBe(true);
    } finally {
      await pool.close();
    }
  });

  it("says so when its threads cannot start, and then reports that none is running", async () => {
    const pool = new ThreadPool<string, string>(
      "broken",
      new URL("../fixtures/threads/broken-thread.js", import.meta.url),
      [{}, {}],
    );
    expect(pool.running).toBe(true);
    await expect(pool.run("x")).rejects.toThrow(/cannot start the broken threads: this thread cannot start/);
    expect(pool.running).toBe(false);
    await pool.close();
  });

  it("holds the process open while it owes an answer, and not after", () => {
    const program = fileURLToPath(new URL("../fixtures/threads/uses-pool.ts", import.meta.url));
    const run = spawnSync(process.execPath, ["--import", "tsx", program], { encoding: "utf8", timeout: 30_000 });
    expect(run.signal).toBeNull(); // not killed by the timeout: it exited by itself
    expect(run.status).toBe(0); // not 13: it did not exit while awaiting the answer
    expect(run.stdout.trim()).toBe("a: once");
  });

  it("refuses requests once closed", async () => {
    const pool = echo();
    await pool.run({ text: "start" });
    await pool.close();
    expect(pool.running).toBe(false);
    await expect(pool.run({ text: "late" })).rejects.toThrow(/no echo thread is running/);
    // Closed before it ever started, it never starts (these threads would fail to, saying so).
    const unused = new ThreadPool<string, string>(
      "unused",
      new URL("../fixtures/threads/broken-thread.js", import.meta.url),
      [{}],
    );
    await unused.close();
    await expect(unused.run("never")).rejects.toThrow(/^no unused thread is running$/);
  });
});
