/** True when the driver reports a unique/primary-key violation (SQLite or PostgreSQL). */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === "SQLITE_CONSTRAINT_PRIMARYKEY" || code === "SQLITE_CONSTRAINT_UNIQUE" || code === "23505";
}

/** Migration 0028's (and 0029's) trigger refused an intent: its key is in blocked_keys. */
export function isBlockedKeyRefusal(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (code === "KW001") return true;
  return code === "SQLITE_CONSTRAINT_TRIGGER" && String(message).includes("keyward: the key is blocked");
}
