export type { EscrowAgent, EscrowPolicy, EscrowStore, KeyEscrow, Recovery, RecoveryStatus } from "./ports.js";
export { EscrowService, type EscrowTokenOps, policyFor } from "./service.js";
