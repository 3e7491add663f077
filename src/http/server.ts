import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from "node:http";
import { createServer as createTlsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";

export interface RunningServer {
  url: string;
  port: number;
  /** Stops accepting, lets in-flight requests finish, then closes idle keep-alive sockets. */
  close(): Promise<void>;
}

/** TLS material for HTTPS; `ca` are the CAs whose client certificates are accepted (mTLS). */
export interface TlsOptions {
  cert: string;
  key: string;
  ca: string[];
}

export async function listen(
  app: RequestListener,
  host: string,
  port: number,
  tls?: TlsOptions,
): Promise<RunningServer> {
  // Client certificates are asked for but optional: bearer tokens still work over the same port,
  // and a certificate that does not chain to `ca` simply leaves the request unauthenticated.
  const server: Server = tls
    ? createTlsServer({ cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: true, rejectUnauthorized: false }, app)
    : createServer(app);
  // Longer than common load balancer idle timeouts, so they close first.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 30_000;
  let closing = false;
  const connections = new Map<Socket, { active: number; served: boolean; since: number }>();
  // For HTTPS, requests arrive on the TLS socket, not on the TCP one under it.
  server.on(tls ? "secureConnection" : "connection", (socket: Socket) => {
    connections.set(socket, { active: 0, served: false, since: Date.now() });
    socket.once("close", () => connections.delete(socket));
  });
  // One listener function for every response (no closure per request: this runs for each OCSP hit).
  function responseClosed(this: ServerResponse) {
    const state = connections.get(this.req.socket);
    if (state) {
      state.active--;
      state.served = true;
      state.since = Date.now();
    }
  }
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    const state = connections.get(req.socket);
    if (state) state.active++;
    if (closing) res.setHeader("connection", "close");
    res.on("close", responseClosed);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const hostPart = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    url: `${tls ? "https" : "http"}://${hostPart}:${address.port}`,
    port: address.port,
    // Graceful: stop accepting, let in-flight requests finish and answer them with
    // `Connection: close`, close keep-alive connections once they have been idle a moment (an idle
    // client would otherwise hold the process for keepAliveTimeout), and cut what is left after
    // requestTimeout. Node's own closeIdleConnections() is not used: it also drops connections
    // whose request has arrived but is not parsed yet.
    close: () =>
      new Promise<void>((resolve, reject) => {
        closing = true;
        const sweep = setInterval(() => {
          const now = Date.now();
          for (const [socket, state] of connections) {
            // Idle after a response: gone soon. Connected but nothing parsed yet: its request may
            // still be in the socket's buffer, so it gets longer.
            const grace = state.served ? 300 : 2000;
            if (state.active === 0 && now - state.since > grace) socket.destroy();
          }
        }, 100);
        const deadline = setTimeout(() => server.closeAllConnections(), server.requestTimeout);
        server.close((error) => {
          clearInterval(sweep);
          clearTimeout(deadline);
          if (error) reject(error);
          else resolve();
        });
      }),
  };
}
