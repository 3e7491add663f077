/** A thread that checks CSR keys and self-signatures (checkCsrKey) off the event loop. */
import { parentPort } from "node:worker_threads";
import { serveRequests } from "../threads/serve.js";
import { checkCsrKey } from "./csr-key.js";

serveRequests(parentPort!, checkCsrKey);
