export { ThreadFailure, ThreadPool } from "./pool.js";
export { serveRequests } from "./serve.js";
