import type { IncomingMessage } from "node:http";

/**
 * A request header read from the raw list: `req.headers` builds an object of every header on
 * first use, which a hot path served before express would pay on every request. `name` is lower
 * case.
 */
export function header(req: IncomingMessage, name: string): string | undefined {
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const key = raw[i]!;
    if (key.length === name.length && key.toLowerCase() === name) return raw[i + 1];
  }
  return undefined;
}

/**
 * The whole body, or "too large" once it passes `limit` bytes (the rest is read and dropped, so
 * the connection stays usable for the client's next request). A body of one chunk is that chunk.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer | "too large"> {
  const declared = Number(header(req, "content-length"));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = declared > limit;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) tooLarge = true;
      if (!tooLarge) chunks.push(chunk);
    });
    req.on("end", () => resolve(tooLarge ? "too large" : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.on("error", reject);
  });
}
