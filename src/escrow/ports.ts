import type { AuditEvent } from "../audit/index.js";

export interface EscrowAgent {
  id: string;
  name: string;
  /** The person who may submit this agent's share over the API; null: only through the CLI. */
  userName: string | null;
  /** DER certificate (from our CA, keyEncipherment or keyAgreement) the agent's shares are sealed to. */
  certificate: Buffer;
  serial: string;
  createdAt: Date;
}

/** M-of-N escrow for one key, or for every key with a tag. */
export interface EscrowPolicy {
  id: string;
  keyId: string | null;
  tag: string | null;
  agentIds: string[];
  threshold: number;
  createdAt: Date;
}

export interface KeyEscrow {
  keyId: string;
  version: number;
  threshold: number;
  /** The version wrapped (AES-KW, in the token) under the escrow secret. */
  wrapped: Buffer;
  createdAt: Date;
  shares: Array<{ agentId: string; cms: Buffer; shareHash: string }>;
}

export type RecoveryStatus = "open" | "completed" | "cancelled";

export interface Recovery {
  id: string;
  keyId: string;
  version: number;
  status: RecoveryStatus;
  sealingKeyUri: string | null;
  requestedBy: string;
  createdAt: Date;
  completedAt: Date | null;
  submitted: Array<{ agentId: string; sealed: Buffer; submittedBy: string; submittedAt: Date }>;
}

export interface EscrowStore {
  addAgent(agent: EscrowAgent, audit: AuditEvent): Promise<void>;
  agents(): Promise<EscrowAgent[]>;
  savePolicy(policy: EscrowPolicy, audit: AuditEvent): Promise<void>;
  policies(): Promise<EscrowPolicy[]>;
  saveEscrow(escrow: KeyEscrow, audit: AuditEvent): Promise<void>;
  escrow(keyId: string, version: number): Promise<KeyEscrow | undefined>;
  escrowedVersions(): Promise<Array<{ keyId: string; version: number }>>;
  openRecovery(recovery: Recovery, audit: AuditEvent): Promise<void>;
  recovery(id: string): Promise<Recovery | undefined>;
  recoveries(): Promise<Recovery[]>;
  /** False when the agent already submitted to this recovery. */
  addShare(recoveryId: string, share: Recovery["submitted"][number], audit: AuditEvent): Promise<boolean>;
  /** Ends a recovery and deletes its submitted shares; false when it was no longer open. */
  finishRecovery(id: string, status: "completed" | "cancelled", at: Date, audit: AuditEvent): Promise<boolean>;
}
