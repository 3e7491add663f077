import type { MessagePort } from "node:worker_threads";
import type { ThreadMessage, ThreadReply } from "./pool.js";

/**
 * The thread's side: answers each request with `handle`'s result, or with the error's message and
 * `code` (a CKR value from pkcs11js). Says it is ready first.
 */
export function serveRequests<Request, Result>(port: MessagePort, handle: (request: Request) => Result): void {
  port.on("message", ({ id, request }: ThreadMessage<Request>) => {
    let reply: ThreadReply<Result>;
    try {
      reply = { id, result: handle(request) };
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      reply = { id, error: { message: (error as Error).message, code: typeof code === "number" ? code : undefined } };
    }
    port.postMessage(reply);
  });
  port.postMessage({ ready: true } satisfies ThreadReply<Result>);
}
