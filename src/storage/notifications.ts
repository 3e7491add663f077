import { sql } from "kysely";
import pg from "pg";
import type { Logger } from "pino";
import type { OpenDatabase } from "./database.js";

/** Change notices between instances (PostgreSQL LISTEN/NOTIFY); a no-op on SQLite (one host). */
export interface Notifier {
  publish(channel: string, payload: string): Promise<void>;
  subscribe(channel: string, handler: (payload: string) => void): Promise<void>;
  close(): Promise<void>;
}

const CHANNEL = /^[a-z_][a-z0-9_]{0,62}$/;

export function createNotifier(database: OpenDatabase, url: string, logger?: Logger): Notifier {
  if (database.dialect !== "postgres") {
    return { publish: async () => undefined, subscribe: async () => undefined, close: async () => undefined };
  }
  let listener: pg.Client | undefined;
  const handlers = new Map<string, Array<(payload: string) => void>>();
  return {
    async publish(channel, payload) {
      if (!CHANNEL.test(channel)) throw new Error(`bad channel ${channel}`);
      await sql`SELECT pg_notify(${channel}, ${payload})`.execute(database.db);
    },
    async subscribe(channel, handler) {
      if (!CHANNEL.test(channel)) throw new Error(`bad channel ${channel}`);
      if (!listener) {
        const parsed = new URL(url);
        // Keyward's own URL parameters (see openPostgres), not pg's.
        for (const own of ["schema", "prepared"]) parsed.searchParams.delete(own);
        listener = new pg.Client({ connectionString: parsed.toString() });
        listener.on("notification", (message) => {
          for (const h of handlers.get(message.channel) ?? []) h(message.payload ?? "");
        });
        // A lost listener only delays cache invalidation to the next sweep; it must not crash.
        listener.on("error", (error) => logger?.warn({ err: error }, "change listener lost its connection"));
        await listener.connect();
      }
      if (!handlers.has(channel)) {
        handlers.set(channel, []);
        await listener.query(`LISTEN ${channel}`);
      }
      handlers.get(channel)!.push(handler);
    },
    async close() {
      // Shutting down: a listener connection that is already gone needs no ending.
      await listener?.end().catch(() => undefined);
    },
  };
}
