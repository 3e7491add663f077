import pino, { type Logger } from "pino";

/**
 * JSON logs on stderr. Redaction is a second line of defence: code never logs secrets, but if a
 * header or field slips in, these paths are blanked.
 */
export function createLogger(level: string, name = "keyward"): Logger {
  return pino(
    {
      name,
      level,
      redact: {
        paths: [
          "pin",
          "*.pin",
          "token",
          "*.token",
          "password",
          "*.password",
          "authorization",
          "*.authorization",
          "req.headers.authorization",
        ],
        censor: "[redacted]",
      },
    },
    pino.destination(2),
  );
}
