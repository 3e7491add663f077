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
}

export interface Database {
  cas: CasTable;
  certificates: CertificatesTable;
  api_tokens: ApiTokensTable;
}

export type { Generated };
