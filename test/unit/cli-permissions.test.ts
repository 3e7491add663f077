import { describe, expect, it } from "vitest";
import { PERMISSIONS } from "../../src/access/index.js";
import { CLI_PERMISSIONS, commandPath, leafCommands } from "../../src/cli/permissions.js";
import { buildProgram } from "../../src/cli/program.js";

describe("CLI permission declarations", () => {
  const program = buildProgram();
  const paths = leafCommands(program).map(commandPath);

  it("covers every command, and names only commands that exist and permissions from the table", () => {
    expect(paths.filter((p) => !(p in CLI_PERMISSIONS))).toEqual([]);
    expect(Object.keys(CLI_PERMISSIONS).filter((p) => !paths.includes(p))).toEqual([]);
    for (const permission of Object.values(CLI_PERMISSIONS)) {
      expect(permission === "setup" || permission === "offline" || permission in PERMISSIONS, permission).toBe(true);
    }
  });

  it("shows the permission in each command's help", () => {
    const distribute = leafCommands(program).find((c) => commandPath(c) === "key distribute")!;
    let help = "";
    distribute.configureOutput({ writeOut: (text) => (help += text) });
    distribute.outputHelp();
    expect(help).toContain("Permission: keys:distribute");
  });
});
