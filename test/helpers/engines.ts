import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";

export const PG_URL = process.env.KEYWARD_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

/**
 * Databases of this test file's own on both engines (DESIGN.md §7): SQLite files in a temp dir,
 * PostgreSQL schemas named for this run. `cleanup` removes every one that `url` handed out.
 */
export function testDatabases(prefix: string) {
  const dir = mkdtempSync(join(tmpdir(), `keyward-${prefix}-`));
  const run = `kw_${prefix}_${randomBytes(4).toString("hex")}`;
  const schemas = new Set<string>();
  return {
    dir,
    /** The URL of database `name` on `engine`. */
    url(engine: "sqlite" | "postgres", name = "main"): string {
      if (engine === "sqlite") return `sqlite:${join(dir, `${name}.db`)}`;
      const schema = `${run}_${name}`;
      schemas.add(schema);
      return `${PG_URL}${PG_URL.includes("?") ? "&" : "?"}schema=${schema}`;
    },
    async cleanup(): Promise<void> {
      rmSync(dir, { recursive: true, force: true });
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
    },
  };
}
