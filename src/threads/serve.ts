import type { MessagePort } from "node:worker_threads";
import type { ThreadMessage, ThreadReply } from "./pool.js";

/**
 * The thread's side: answers each request with `handle`'s result, or with the error's message and
 * `code` (a CKR value from pkcs11js). Says it is ready first. A synchronous handler's reply goes
 * in the same turn (the signing thread's: no promise per signature).
 */
export function serveRequests<Request, Result>(
  port: MessagePort,
  handle: (request: Request) => Result | Promise<Result>,
): void {
  const failed = (id: number, error: unknown): ThreadReply<Result> => {
    const code = (error as { code?: unknown }).code;
    return { id, error: { message: (error as Error).message, code: typeof code === "number" ? code : undefined } };
  };
  port.on("message", ({ id, request }: ThreadMessage<Request>) => {
    let result: Result | Promise<Result>;
    try {
      result = handle(request);
    } catch (error) {
      port.postMessage(failed(id, error));
      return;
    }
    if (result instanceof Promise) {
      result.then(
        (value) => port.postMessage({ id, result: value } satisfies ThreadReply<Result>),
        (error: unknown) => port.postMessage(failed(id, error)),
      );
    } else port.postMessage({ id, result } satisfies ThreadReply<Result>);
  });
  port.postMessage({ ready: true } satisfies ThreadReply<Result>);
}
