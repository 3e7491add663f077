/**
 * Roles and what each may do: the one permission table (DESIGN.md §6). Every /api/v1 route and CLI
 * command names a permission from here.
 */
export const ROLES = ["admin", "ca-operator", "key-officer", "auditor", "requester"] as const;
export type Role = (typeof ROLES)[number];

export const PERMISSIONS = {
  "ca:read": ["admin", "ca-operator", "key-officer", "auditor", "requester"],
  "ca:manage": ["admin", "ca-operator"],
  /** The console's overview and activity charts: read-only health of the whole service. */
  "overview:read": ["admin", "ca-operator", "key-officer", "auditor"],
  "certificates:read": ["admin", "ca-operator", "auditor", "requester"],
  "certificates:issue": ["admin", "ca-operator", "requester"],
  "certificates:revoke": ["admin", "ca-operator"],
  "revocations:read": ["admin", "ca-operator", "auditor"],
  "keys:block": ["admin", "ca-operator"],
  "acme:manage": ["admin", "ca-operator"],
  /** SSH certificates: which principals each may get is the SSH profiles' business (config `ssh.profiles`). */
  "ssh:read": ["admin", "ca-operator", "auditor", "requester"],
  /** Not auditors: they change nothing, not even by getting a certificate. */
  "ssh:sign": ["admin", "ca-operator", "key-officer", "requester"],
  "ssh:revoke": ["admin", "ca-operator"],
  "tokens:manage": ["admin"],
  "audit:read": ["admin", "auditor"],
  "users:manage": ["admin"],
  "keys:read": ["admin", "key-officer", "auditor"],
  "keys:manage": ["admin", "key-officer"],
  "keys:use": ["admin", "key-officer", "requester"],
  "keys:distribute": ["admin", "key-officer"],
  "backup:manage": ["admin"],
  /** The token's capability profile (GET /api/v1/hsm, keyward hsm check). */
  "hsm:read": ["admin"],
  "approvals:read": ["admin", "ca-operator", "key-officer", "auditor"],
  "approvals:decide": ["admin", "ca-operator", "key-officer"],
  /** Anything about the caller's own identity and session. */
  self: ["admin", "ca-operator", "key-officer", "auditor", "requester"],
} as const satisfies Record<string, readonly Role[]>;
export type Permission = keyof typeof PERMISSIONS;

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

export function roleAllows(role: Role, permission: Permission): boolean {
  return (PERMISSIONS[permission] as readonly Role[]).includes(role);
}
