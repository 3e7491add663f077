import { userInfo } from "node:os";
import type { Actor } from "../audit/index.js";

/**
 * Whoever runs the CLI on this machine: commands here act with the data directory's own rights
 * (the PIN file), so the audit log records the operating-system account that used them.
 */
export function cliActor(): Actor {
  let user = "unknown";
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry (some containers): the uid still says who it was.
    user = `uid:${process.getuid?.() ?? "?"}`;
  }
  return { id: `cli:${user}`, name: `cli:${user}`, kind: "cli" };
}
