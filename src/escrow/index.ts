export type { EscrowAgent, EscrowPolicy, EscrowStore, KeyEscrow, Recovery, RecoveryStatus } from "./ports.js";
export { type EscrowSecretKeys, EscrowService, type EscrowWrapping, policyFor } from "./service.js";
export { agentView, recoveryView } from "./views.js";
