/**
 * A signing thread: C_SignInit and C_Sign on its own session, off the event loop. The process has
 * already loaded, initialised and logged in to the module (login holds for every session of the
 * process); this thread only loads the same library to reach it, and never finalises it.
 */
import { parentPort, workerData } from "node:worker_threads";
import pkcs11js from "pkcs11js";

export interface SigningThreadData {
  modulePath: string;
  session: Uint8Array;
}

export interface SignRequest {
  id: number;
  key: Uint8Array;
  mechanism: number;
  input: Uint8Array;
}

export type SignReply =
  | { ready: true }
  | { id: number; signature: Uint8Array }
  | { id: number; error: { message: string; code: number | undefined } };

// Handles and inputs arrive as Uint8Array (structured clone); pkcs11js takes Buffers.
const asBuffer = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

const { modulePath, session } = workerData as SigningThreadData;
const sessionHandle = asBuffer(session);
const p11 = new pkcs11js.PKCS11();
p11.load(modulePath);
const port = parentPort!;
port.postMessage({ ready: true } satisfies SignReply);

port.on("message", ({ id, key, mechanism, input }: SignRequest) => {
  let reply: SignReply;
  try {
    p11.C_SignInit(sessionHandle, { mechanism }, asBuffer(key));
    reply = { id, signature: p11.C_Sign(sessionHandle, asBuffer(input), Buffer.alloc(512)) };
  } catch (error) {
    const code = error instanceof pkcs11js.Pkcs11Error ? error.code : undefined;
    reply = { id, error: { message: (error as Error).message, code } };
  }
  port.postMessage(reply);
});
