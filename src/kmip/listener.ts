import type { AddressInfo } from "node:net";
import * as tls from "node:tls";
import type { Logger } from "pino";
import { KmipError } from "./errors.js";
import { type BatchRequest, type BatchResult, type MessageOutcome, processMessage, refuseMessage } from "./messages.js";
import type { KmipClient } from "./operations.js";
import { messageLength, type TtlvLimits, type TtlvError } from "./ttlv.js";

export interface KmipListenerDeps {
  /** TLS material: our identity and the CAs whose client certificates are accepted (PEM). */
  tlsOptions(): Promise<{ key: string; cert: string; ca: string[] }>;
  /**
   * The client of a request, from its certificate serial (already verified by TLS): checked against
   * Keyward's records on every message, so a revocation ends access at once. Throws a KmipError.
   */
  authenticate(peer: tls.PeerCertificate, address: string | undefined, requestId: string): Promise<KmipClient>;
  handle(request: BatchRequest, client: KmipClient): Promise<BatchResult>;
  /** After each batch item (audit, log). */
  outcome(outcome: MessageOutcome, client: KmipClient | undefined, address: string | undefined): Promise<void>;
  now(): Date;
  limits: TtlvLimits;
  /** A connection that sends nothing this long is closed. */
  idleTimeoutMs: number;
  logger?: Logger;
}

/**
 * The KMIP edge: TLS 1.2+ with a client certificate required and verified against our CAs, TTLV
 * messages framed by their length, one at a time per connection.
 */
export class KmipListener {
  private server?: tls.Server;
  private sockets = new Set<tls.TLSSocket>();
  private requests = 0;

  constructor(private readonly deps: KmipListenerDeps) {}

  async listen(host: string, port: number): Promise<{ host: string; port: number }> {
    const server = tls.createServer({
      ...(await this.deps.tlsOptions()),
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: "TLSv1.2",
    });
    server.on("secureConnection", (socket) => this.serve(socket));
    server.on("tlsClientError", (error, socket) => {
      this.deps.logger?.info({ err: error.message, address: socket.remoteAddress }, "KMIP TLS handshake refused");
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => resolve());
    });
    this.server = server;
    const address = server.address() as AddressInfo;
    return { host: address.address, port: address.port };
  }

  /** New certificate, key or CAs for the connections to come (renewal, a new intermediate). */
  async reload(): Promise<void> {
    this.server?.setSecureContext({ ...(await this.deps.tlsOptions()) });
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private serve(socket: tls.TLSSocket): void {
    this.sockets.add(socket);
    socket.setTimeout(this.deps.idleTimeoutMs, () => socket.destroy());
    socket.on("close", () => this.sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    let pending = Buffer.alloc(0);
    let busy = Promise.resolve();
    socket.on("data", (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        let length: number | undefined;
        try {
          length = messageLength(pending, this.deps.limits.maxBytes);
        } catch (error) {
          // No framing to recover: answer Invalid Message once and close.
          const message = pending;
          pending = Buffer.alloc(0);
          socket.pause();
          busy = busy
            .then(() => this.answer(socket, message, error as TtlvError))
            .then(() => {
              socket.end();
            });
          return;
        }
        if (length === undefined || pending.length < length) return;
        const message = pending.subarray(0, length);
        pending = pending.subarray(length);
        busy = busy.then(() => this.answer(socket, message));
      }
    });
  }

  private async answer(socket: tls.TLSSocket, message: Buffer, framingError?: TtlvError): Promise<void> {
    const address = socket.remoteAddress;
    try {
      if (framingError) {
        const error = new KmipError("InvalidMessage", `malformed TTLV: ${framingError.message}`);
        await this.deps.outcome({ operation: "unknown", error }, undefined, address);
        socket.write(refuseMessage(error, this.deps.now()));
        return;
      }
      let client: KmipClient | undefined;
      let refusal: KmipError | undefined;
      try {
        client = await this.deps.authenticate(socket.getPeerCertificate(true), address, `kmip-${++this.requests}`);
      } catch (error) {
        refusal =
          error instanceof KmipError
            ? error
            : new KmipError("PermissionDenied", "the client certificate is not accepted");
      }
      const response = await processMessage(message, {
        limits: this.deps.limits,
        now: () => this.deps.now(),
        handle: async (request) => {
          if (!client) throw refusal!;
          return this.deps.handle(request, client);
        },
        outcome: (outcome) => this.deps.outcome(outcome, client, address),
      });
      if (!socket.destroyed) socket.write(response);
      // A refused certificate gets its answer, then the connection ends.
      if (refusal) socket.end();
    } catch (error) {
      this.deps.logger?.error({ err: error, address }, "KMIP request failed");
      socket.destroy();
    }
  }
}
