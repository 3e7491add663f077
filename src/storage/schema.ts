import type { Generated } from "kysely";

/**
 * Table shapes shared by SQLite and PostgreSQL. Times are ISO-8601 UTC strings (they sort and
 * compare the same on both engines); booleans are 0/1 integers; blobs are Buffers.
 */
export interface CasTable {
  id: string;
  parent_id: string | null;
  kind: "root" | "intermediate";
  key_type: string;
  key_uri: string;
  certificate: Buffer;
  subject: string;
  spki_sha256: string;
  not_before: string;
  not_after: string;
  is_default: number;
  created_at: string;
  revoked_at: string | null;
  revocation_reason: number | null;
}

/** Settings of the deployment (e.g. `base_url`), one row each. */
export interface DeploymentSettingsTable {
  name: string;
  value: string;
  updated_at: string;
}

export interface SshCaKeysTable {
  type: "user" | "host";
  key_type: string;
  key_uri: string;
  spki: Buffer;
  created_at: string;
}

export interface SshCertificatesTable {
  /** uint64 serial in decimal. */
  serial: string;
  type: "user" | "host";
  key_id: string;
  /** JSON array of principals. */
  principals: string;
  profile: string;
  key_algorithm: string;
  fingerprint: string;
  spki_sha256: string;
  public_key: Buffer;
  valid_after: string;
  valid_before: string;
  status: "pending" | "valid" | "revoked" | "failed";
  body: Buffer;
  certificate: Buffer | null;
  requested_by: string;
  created_at: string;
  revoked_at: string | null;
  revocation_reason: string | null;
}

export interface SshKrlsTable {
  /** bigint: a string from PostgreSQL, a number from SQLite. */
  version: number | string;
  generated_at: string;
  krl: Buffer;
}

export interface CertificatesTable {
  serial: string;
  ca_id: string;
  profile: string;
  status: "pending" | "valid" | "revoked" | "failed";
  subject: string;
  /** JSON array of `type:value` names, lowercase, for display and LIKE search. */
  names: string;
  spki_sha256: string;
  key_type: string;
  tbs: Buffer;
  certificate: Buffer | null;
  not_before: string;
  not_after: string;
  created_at: string;
  requested_by: string | null;
  revoked_at: string | null;
  revocation_reason: number | null;
  invalidity_date: string | null;
}

export interface BlockedKeysTable {
  spki_sha256: string;
  reason: string;
  blocked_at: string;
  blocked_by: string | null;
}

export interface CrlNumbersTable {
  ca_id: string;
  /** bigint: pg returns it as a string, SQLite as a number. */
  last_number: number | string;
}

export interface CrlsTable {
  ca_id: string;
  number: number | string;
  this_update: string;
  next_update: string;
  der: Buffer;
}

export interface OcspResponsesTable {
  serial: string;
  hash: string;
  this_update: string;
  next_update: string;
  der: Buffer;
}

export interface OcspRespondersTable {
  serial: string;
  ca_id: string;
  key_uri: string;
  certificate: Buffer;
  not_after: string;
}

export interface ApiTokensTable {
  id: string;
  name: string;
  role: string;
  token_hash: string;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
  /** JSON: allowed profiles, name patterns, key ids/tags. */
  scopes: string;
  client_cert_serial: string | null;
}

export interface AcmeNoncesTable {
  nonce: string;
  expires_at: string;
}

export interface AcmeAccountsTable {
  id: string;
  thumbprint: string;
  /** JSON of the public JWK. */
  jwk: string;
  status: "valid" | "deactivated" | "revoked";
  /** JSON array of contact URLs. */
  contact: string;
  created_at: string;
}

export interface AcmeOrdersTable {
  id: string;
  account_id: string;
  status: string;
  identifiers: string;
  authorization_ids: string;
  profile: string;
  expires_at: string;
  created_at: string;
  certificate_serial: string | null;
  error: string | null;
  replaces: string | null;
}

export interface AcmeRenewalWindowsTable {
  serial: string;
  window_start: string;
  window_end: string;
  explanation_url: string | null;
  set_at: string;
  set_by: string;
}

export interface AcmeAuthorizationsTable {
  id: string;
  account_id: string;
  identifier_type: string;
  identifier_value: string;
  wildcard: number;
  status: string;
  expires_at: string;
}

export interface AcmeChallengesTable {
  id: string;
  authorization_id: string;
  type: string;
  token: string;
  status: string;
  validated_at: string | null;
  error: string | null;
}

export interface AcmeEabKeysTable {
  kid: string;
  name: string;
  /** pkcs11: URI of the HMAC key in the token; the key itself is never stored here. */
  key_uri: string;
  created_at: string;
  account_id: string | null;
  used_at: string | null;
}

export interface RateLimitCountersTable {
  key: string;
  window_start: string;
  count: number;
}

export interface AuditEventsTable {
  seq: number;
  at: string;
  action: string;
  actor_id: string;
  actor_name: string;
  actor_kind: string;
  request_id: string | null;
  address: string | null;
  target_type: string | null;
  target_id: string | null;
  outcome: string;
  /** Canonical JSON of the event's details. */
  details: string;
  prev_hash: string;
  hash: string;
}

export interface AuditHeadTable {
  id: number;
  seq: number;
  hash: string;
}

export interface AuditCheckpointsTable {
  seq: number;
  hash: string;
  at: string;
  signature: Buffer;
  signer_serial: string;
}

export interface AuditTreeHeadsTable {
  size: number;
  root_hash: string;
  at: string;
  signature: Buffer;
  signer_serial: string;
  leaves_from: number;
  leaves: Buffer | null;
}

export interface CrlDueTable {
  ca_id: string;
  generation: number;
  since: string;
}

export interface AuditKeysTable {
  id: number;
  key_uri: string;
  certificate_serial: string;
  created_at: string;
}

export interface UsersTable {
  id: string;
  name: string;
  role: string;
  password_hash: string;
  totp_key_uri: string;
  totp_last_step: number | null;
  failed_attempts: number;
  locked_until: string | null;
  /** JSON: allowed profiles, name patterns, key ids/tags. */
  scopes: string;
  created_at: string;
  disabled_at: string | null;
  totp_enrolment_required: Generated<number>;
  totp_pending_key_uri: string | null;
}

export interface RecoveryCodesTable {
  user_id: string;
  code_hash: string;
  used_at: string | null;
}

export interface SessionsTable {
  id: string;
  token_hash: string;
  user_id: string;
  created_at: string;
  expires_at: string;
  revoked_at: string | null;
}

export interface ApprovalsTable {
  id: string;
  operation: string;
  /** JSON of the operation's parameters, exactly as it will run. */
  params: string;
  summary: string;
  requested_by_id: string;
  requested_by_name: string;
  required_approvals: number;
  approver_role: string;
  status: string;
  created_at: string;
  expires_at: string;
  decided_at: string | null;
  /** JSON of the outcome once executed (or the error). */
  result: string | null;
}

export interface ApprovalVotesTable {
  approval_id: string;
  user_id: string;
  user_name: string;
  decision: string;
  at: string;
}

export interface KeysTable {
  id: string;
  name: string;
  algorithm: string;
  purpose: string;
  distributable: number;
  rotation_days: number | null;
  cryptoperiod_days: number | null;
  /** JSON array. */
  tags: string;
  created_at: string;
  on_recipient_revoked: Generated<string>;
  oaep_hash: string | null;
  certify_profile: string | null;
}

export interface KeyVersionsTable {
  key_id: string;
  version: number;
  key_uri: string;
  state: string;
  created_at: string;
  activate_at: string | null;
  deactivate_at: string | null;
  destroy_after: string | null;
  destroyed_at: string | null;
  /** Key pairs: DER SubjectPublicKeyInfo. */
  public_key: Uint8Array | null;
  certificate_serial: string | null;
}

export interface KeyDistributionsTable {
  id: string;
  key_id: string;
  version: number;
  format: string;
  recipient_serial: string;
  recipient_subject: string;
  recipient_spki_sha256: string;
  recipient_not_after: string;
  created_at: string;
  created_by: string;
  exposed_at: string | null;
  exposure_reason: string | null;
}

export interface ServiceSigningKeysTable {
  purpose: string;
  key_uri: string;
  certificate_serial: string;
  created_at: string;
}

export interface EscrowAgentsTable {
  id: string;
  name: string;
  user_name: string | null;
  certificate: Buffer;
  serial: string;
  created_at: string;
}

export interface EscrowPoliciesTable {
  id: string;
  key_id: string | null;
  tag: string | null;
  /** JSON array. */
  agent_ids: string;
  threshold: number;
  created_at: string;
}

export interface KeyEscrowsTable {
  key_id: string;
  version: number;
  threshold: number;
  wrapped: Buffer;
  created_at: string;
}

export interface EscrowSharesTable {
  key_id: string;
  version: number;
  agent_id: string;
  cms: Buffer;
  share_hash: string;
}

export interface EscrowRecoveriesTable {
  id: string;
  key_id: string;
  version: number;
  status: string;
  sealing_key_uri: string | null;
  requested_by: string;
  created_at: string;
  completed_at: string | null;
}

export interface EscrowRecoverySharesTable {
  recovery_id: string;
  agent_id: string;
  sealed: Buffer;
  submitted_by: string;
  submitted_at: string;
}

export interface SchedulerSlotsTable {
  name: string;
  slot: string;
  claimed_by: string;
  claimed_at: string;
}

export interface KmipAttributesTable {
  key_id: string;
  name: string;
  idx: number;
  value: string;
}

/** Secret keys kept sealed by a token key pair (kms.protection sealed/auto). */
export interface SealedKeysTable {
  id: string;
  algorithm: string;
  kek_uri: string;
  oaep_hash: string;
  wrapped: Buffer;
  extractable: number;
  created_at: string;
}

export interface Database {
  cas: CasTable;
  deployment_settings: DeploymentSettingsTable;
  ssh_ca_keys: SshCaKeysTable;
  ssh_certificates: SshCertificatesTable;
  ssh_krls: SshKrlsTable;
  certificates: CertificatesTable;
  api_tokens: ApiTokensTable;
  blocked_keys: BlockedKeysTable;
  crl_numbers: CrlNumbersTable;
  crls: CrlsTable;
  ocsp_responses: OcspResponsesTable;
  ocsp_responders: OcspRespondersTable;
  acme_nonces: AcmeNoncesTable;
  acme_accounts: AcmeAccountsTable;
  acme_orders: AcmeOrdersTable;
  acme_authorizations: AcmeAuthorizationsTable;
  acme_challenges: AcmeChallengesTable;
  acme_eab_keys: AcmeEabKeysTable;
  rate_limit_counters: RateLimitCountersTable;
  acme_renewal_windows: AcmeRenewalWindowsTable;
  audit_events: AuditEventsTable;
  audit_head: AuditHeadTable;
  audit_checkpoints: AuditCheckpointsTable;
  audit_tree_heads: AuditTreeHeadsTable;
  crl_due: CrlDueTable;
  audit_keys: AuditKeysTable;
  sealed_keys: SealedKeysTable;
  users: UsersTable;
  recovery_codes: RecoveryCodesTable;
  sessions: SessionsTable;
  approvals: ApprovalsTable;
  approval_votes: ApprovalVotesTable;
  keys: KeysTable;
  key_versions: KeyVersionsTable;
  key_distributions: KeyDistributionsTable;
  kmip_attributes: KmipAttributesTable;
  service_signing_keys: ServiceSigningKeysTable;
  escrow_agents: EscrowAgentsTable;
  escrow_policies: EscrowPoliciesTable;
  key_escrows: KeyEscrowsTable;
  escrow_shares: EscrowSharesTable;
  escrow_recoveries: EscrowRecoveriesTable;
  escrow_recovery_shares: EscrowRecoverySharesTable;
  scheduler_slots: SchedulerSlotsTable;
}

export type { Generated };
