import type { Role } from "./roles.js";

/** What a principal may touch beyond its role: empty lists mean no restriction. */
export interface UserScopes {
  profiles?: string[];
  names?: string[];
  keys?: string[];
}

/** Who a request authenticated as: an API token or a person's session. */
export interface Principal {
  id: string;
  name: string;
  role: Role;
  /** Limits beyond the role (allowed profiles, name patterns, keys); empty lists: no limit. */
  scopes: UserScopes;
  kind: "token" | "user";
  /** A person who logged in with a recovery code (or was told to by an admin): enrol first. */
  totpEnrolmentRequired?: boolean;
}
