import type { Kysely, Migration, MigrationProvider } from "kysely";
import { up as m0001 } from "./0001-core.js";
import { up as m0002 } from "./0002-revocation.js";
import { up as m0003 } from "./0003-acme-accounts.js";
import { up as m0004 } from "./0004-acme-orders.js";
import { up as m0005 } from "./0005-acme-eab.js";
import { up as m0006 } from "./0006-rate-limits.js";
import { up as m0007 } from "./0007-acme-renewal.js";
import { up as m0008 } from "./0008-audit.js";
import { up as m0009 } from "./0009-people-and-approvals.js";
import { up as m0010 } from "./0010-token-scopes.js";
import { up as m0011 } from "./0011-token-client-certificates.js";
import { up as m0012 } from "./0012-keys.js";
import { up as m0013 } from "./0013-key-distribution.js";
import { up as m0014 } from "./0014-escrow.js";
import { up as m0015 } from "./0015-scheduler-slots.js";
import { up as m0016 } from "./0016-revoked-covering-index.js";
import { up as m0017 } from "./0017-deployment-settings.js";
import { up as m0018 } from "./0018-audit-tree-heads.js";
import { up as m0019 } from "./0019-crl-due.js";
import { up as m0020 } from "./0020-totp-enrolment.js";
import { up as m0021 } from "./0021-ssh.js";
import { up as m0022 } from "./0022-key-pairs.js";
import { up as m0023 } from "./0023-kmip-attributes.js";
import { up as m0024 } from "./0024-recovery-code-salts.js";
import { up as m0025 } from "./0025-sealed-keys.js";
import { up as m0026 } from "./0026-certificate-listing-indexes.js";
import { up as m0027 } from "./0027-certificate-name-search.js";
import { up as m0028 } from "./0028-blocked-key-trigger.js";
import { up as m0029 } from "./0029-ssh-blocked-key-trigger.js";
import { up as m0030 } from "./0030-acme-orders-pending-index.js";
import { up as m0031 } from "./0031-ssh-certificates-listing-index.js";
import { up as m0032 } from "./0032-key-schedule-indexes.js";
import { up as m0033 } from "./0033-certificate-name-search-batched.js";
import { up as m0034 } from "./0034-acme-authorizations-reusable-index.js";
import { type Columns, columnsFor, type Dialect } from "./columns.js";

export type { Dialect } from "./columns.js";

type Step = (db: Kysely<unknown>, columns: Columns) => Promise<void>;

/**
 * Every migration, in order. The name is what the database records as applied (Kysely's
 * kysely_migration table): never rename or reorder one, add a new file at the end.
 */
const STEPS: [name: string, up: Step][] = [
  ["0001_core", m0001],
  ["0002_revocation", m0002],
  ["0003_acme_accounts", m0003],
  ["0004_acme_orders", m0004],
  ["0005_acme_eab", m0005],
  ["0006_rate_limits", m0006],
  ["0007_acme_renewal", m0007],
  ["0008_audit", m0008],
  ["0009_people_and_approvals", m0009],
  ["0010_token_scopes", m0010],
  ["0011_token_client_certificates", m0011],
  ["0012_keys", m0012],
  ["0013_key_distribution", m0013],
  ["0014_escrow", m0014],
  ["0015_scheduler_slots", m0015],
  ["0016_revoked_covering_index", m0016],
  ["0017_deployment_settings", m0017],
  ["0018_audit_tree_heads", m0018],
  ["0019_crl_due", m0019],
  ["0020_totp_enrolment", m0020],
  ["0021_ssh", m0021],
  ["0022_key_pairs", m0022],
  ["0023_kmip_attributes", m0023],
  ["0024_recovery_code_salts", m0024],
  ["0025_sealed_keys", m0025],
  ["0026_certificate_listing_indexes", m0026],
  ["0027_certificate_name_search", m0027],
  ["0028_blocked_key_trigger", m0028],
  ["0029_ssh_blocked_key_trigger", m0029],
  ["0030_acme_orders_pending_index", m0030],
  ["0031_ssh_certificates_listing_index", m0031],
  ["0032_key_schedule_indexes", m0032],
  ["0033_certificate_name_search_batched", m0033],
  ["0034_acme_authorizations_reusable_index", m0034],
];

/** Migrations live in code so the same list runs from src/, dist/ and tests on both engines. */
export function migrations(dialect: Dialect): MigrationProvider {
  const columns = columnsFor(dialect);
  const list: Record<string, Migration> = Object.fromEntries(
    STEPS.map(([name, up]) => [name, { up: (db: Kysely<unknown>) => up(db, columns) }]),
  );
  return { getMigrations: async () => list };
}
