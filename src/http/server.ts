import { createServer, type Server } from "node:http";
import { createServer as createTlsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { Express } from "express";

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

export async function listen(app: Express, host: string, port: number, tls?: TlsOptions): Promise<RunningServer> {
  // Client certificates are asked for but optional: bearer tokens still work over the same port,
  // and a certificate that does not chain to `ca` simply leaves the request unauthenticated.
  const server: Server = tls
    ? createTlsServer({ cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: true, rejectUnauthorized: false }, app)
    : createServer(app);
  // Longer than common load balancer idle timeouts, so they close first.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 30_000;
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
    // Graceful: stop accepting, let in-flight requests finish, close each keep-alive connection as
    // soon as it is idle (or the client would hold the process for keepAliveTimeout), and cut what
    // is left after requestTimeout.
    close: () =>
      new Promise<void>((resolve, reject) => {
        const sweep = setInterval(() => server.closeIdleConnections(), 50);
        const deadline = setTimeout(() => server.closeAllConnections(), server.requestTimeout);
        server.close((error) => {
          clearInterval(sweep);
          clearTimeout(deadline);
          if (error) reject(error);
          else resolve();
        });
        server.closeIdleConnections();
      }),
  };
}
