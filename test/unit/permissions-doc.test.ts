import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { PERMISSIONS, ROLES } from "../../src/access/index.js";

describe("the permission table in docs/access.md", () => {
  it("says exactly what src/access/roles.ts enforces", () => {
    const doc = readFileSync(new URL("../../docs/access.md", import.meta.url), "utf8");
    const lines = doc.split("\n").filter((l) => /^\| `[a-z:]+` \|/.test(l));
    const documented = Object.fromEntries(
      lines.map((line) => {
        const cells = line
          .split("|")
          .slice(1, -1)
          .map((c) => c.trim());
        const permission = cells[0]!.replaceAll("`", "");
        return [permission, ROLES.filter((_, i) => cells[i + 1] === "✓")];
      }),
    );
    const enforced = Object.fromEntries(
      Object.entries(PERMISSIONS).map(([p, roles]) => [
        p,
        ROLES.filter((r) => (roles as readonly string[]).includes(r)),
      ]),
    );
    expect(documented).toEqual(enforced);
  });
});
