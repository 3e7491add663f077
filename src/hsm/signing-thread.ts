/**
 * A signing thread: C_SignInit and C_Sign on its own session, off the event loop. The process has
 * already loaded, initialised and logged in to the module (login holds for every session of the
 * process); this thread only loads the same library to reach it, and never finalises it.
 */
import { parentPort, workerData } from "node:worker_threads";
import pkcs11js from "pkcs11js";
import { serveRequests } from "../threads/serve.js";

export interface SignRequest {
  key: Uint8Array;
  mechanism: number;
  input: Uint8Array;
}

// Handles and inputs arrive as Uint8Array (structured clone); pkcs11js takes Buffers.
const asBuffer = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

const { modulePath, session } = workerData as { modulePath: string; session: Uint8Array };
const sessionHandle = asBuffer(session);
const p11 = new pkcs11js.PKCS11();
p11.load(modulePath);

serveRequests(parentPort!, ({ key, mechanism, input }: SignRequest): Uint8Array => {
  p11.C_SignInit(sessionHandle, { mechanism }, asBuffer(key));
  return p11.C_Sign(sessionHandle, asBuffer(input), Buffer.alloc(512));
});
