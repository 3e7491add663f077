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

/** The path and the query string (without its "?") of a request URL. */
export function splitUrl(url: string): { path: string; search: string } {
  const query = url.indexOf("?");
  return query < 0 ? { path: url, search: "" } : { path: url.slice(0, query), search: url.slice(query + 1) };
}

/** A body's declared format: its media type and charset (lower case), and its content coding. */
export interface BodyFormat {
  media: string;
  charset?: string;
  /** "identity" when none is declared. */
  encoding: string;
}

export function bodyFormat(req: IncomingMessage): BodyFormat {
  const [media, ...parameters] = (header(req, "content-type") ?? "").split(";").map((p) => p.trim().toLowerCase());
  const charset = parameters
    .find((p) => p.startsWith("charset="))
    ?.slice("charset=".length)
    .replace(/"/g, "");
  const encoding = (header(req, "content-encoding") ?? "identity").trim().toLowerCase();
  return { media: media!, ...(charset === undefined ? {} : { charset }), encoding };
}

/** A body as JSON's strict reading takes it, an object or an array; undefined for anything else. */
export function strictJson(body: Buffer): unknown {
  const text = body.toString("utf8").trim();
  if (text[0] !== "{" && text[0] !== "[") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
