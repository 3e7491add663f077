import type { Socket } from "node:net";
import type { Principal } from "../access/index.js";

/** An admin API request as its route sees it (http/api-handler.ts builds it from node:http's). */
export interface ApiRequest {
  method: string;
  /** The path without the query string, as sent (not decoded). */
  path: string;
  /** The route's pattern under which it was matched, e.g. /api/v1/certificates/:serial. */
  route: string;
  /** The pattern's `:name` segments, percent-decoded. */
  params: Record<string, string>;
  /** The query string as node:querystring reads it: a repeated name is an array. */
  query: Record<string, string | string[] | undefined>;
  /** The JSON body: undefined without one, `{}` for an empty one. */
  body: unknown;
  /** The peer's address (no proxy header is trusted). */
  ip?: string;
  socket: Socket;
  /** A request header by its lower-case name. */
  header(name: string): string | undefined;
  /** Whether the Accept header admits application/json (no Accept admits everything). */
  acceptsJson(): boolean;
}

/** The answer a route writes: a status and headers, then one JSON or text body. */
export interface ApiResponse {
  locals: { requestId: string; principal?: Principal };
  status(code: number): this;
  setHeader(name: string, value: string): this;
  /** The body's content type; a text body gets `; charset=utf-8`. */
  type(contentType: string): this;
  json(body: unknown): void;
  send(body: string | Buffer): void;
  /** The answer without a body (a 204). */
  end(): void;
}
