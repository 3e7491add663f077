import { verifyAuditLog } from "../../src/audit/index.js";
import type { SqlAuditStore } from "../../src/storage/index.js";

/** The chain's hashes and sequence, read page by page (no tree heads: storage tests sign none). */
export const verifyChain = (audit: SqlAuditStore, head: { seq: number; hash: string }, pageSize = 7) =>
  verifyAuditLog({
    page: (after) => audit.page(after, pageSize),
    head,
    treeHeads: [],
    leavesOf: async () => undefined,
    checkSignature: async () => true,
    now: new Date(0),
    maxUncoveredMs: 1000,
  });
