import { randomFillSync } from "node:crypto";

/**
 * CSPRNG bytes for values that are public once used: X.509 and SSH certificate serials, SSH
 * certificate nonces, ACME nonces, ACME object ids and challenge tokens. Drawn 4 KiB at a time:
 * one randomBytes call per value cost 3 µs alone and 15–20 µs under load in the servers' profiles
 * (a new-order makes eight of them); the pool costs a tenth. Never for secrets (API and session
 * tokens, keys): holding values in memory before they are used is only harmless because they are
 * published anyway.
 */
const pool = Buffer.alloc(4096);
let offset = pool.length;

/** `size` fresh random bytes (a copy: the pool's bytes are never handed out twice). */
export function publicRandom(size: number): Buffer {
  if (offset + size > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const bytes = Buffer.from(pool.subarray(offset, offset + size));
  offset += size;
  return bytes;
}
