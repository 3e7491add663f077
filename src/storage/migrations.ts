import { type Kysely, type Migration, type MigrationProvider, sql } from "kysely";

export type Dialect = "sqlite" | "postgres";

/** Migrations live in code so the same list runs from src/, dist/ and tests on both engines. */
export function migrations(dialect: Dialect): MigrationProvider {
  const blob = dialect === "postgres" ? sql`bytea` : sql`blob`;
  const list: Record<string, Migration> = {
    "0001_core": {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable("cas")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("parent_id", "text", (c) => c.references("cas.id"))
          .addColumn("kind", "text", (c) => c.notNull())
          .addColumn("key_type", "text", (c) => c.notNull())
          .addColumn("key_uri", "text", (c) => c.notNull())
          .addColumn("certificate", blob, (c) => c.notNull())
          .addColumn("subject", "text", (c) => c.notNull())
          .addColumn("spki_sha256", "text", (c) => c.notNull())
          .addColumn("not_before", "text", (c) => c.notNull())
          .addColumn("not_after", "text", (c) => c.notNull())
          .addColumn("is_default", "integer", (c) => c.notNull().defaultTo(0))
          .addColumn("created_at", "text", (c) => c.notNull())
          .execute();

        await db.schema
          .createTable("certificates")
          .addColumn("serial", "text", (c) => c.primaryKey())
          .addColumn("ca_id", "text", (c) => c.notNull().references("cas.id"))
          .addColumn("profile", "text", (c) => c.notNull())
          .addColumn("status", "text", (c) => c.notNull())
          .addColumn("subject", "text", (c) => c.notNull())
          .addColumn("names", "text", (c) => c.notNull())
          .addColumn("spki_sha256", "text", (c) => c.notNull())
          .addColumn("key_type", "text", (c) => c.notNull())
          .addColumn("tbs", blob, (c) => c.notNull())
          .addColumn("certificate", blob)
          .addColumn("not_before", "text", (c) => c.notNull())
          .addColumn("not_after", "text", (c) => c.notNull())
          .addColumn("created_at", "text", (c) => c.notNull())
          .addColumn("requested_by", "text")
          .addColumn("revoked_at", "text")
          .addColumn("revocation_reason", "integer")
          .execute();
        await db.schema.createIndex("certificates_spki").on("certificates").column("spki_sha256").execute();
        await db.schema.createIndex("certificates_not_after").on("certificates").column("not_after").execute();
        await db.schema
          .createIndex("certificates_status")
          .on("certificates")
          .columns(["status", "not_after"])
          .execute();

        await db.schema
          .createTable("api_tokens")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("name", "text", (c) => c.notNull())
          .addColumn("role", "text", (c) => c.notNull())
          .addColumn("token_hash", "text", (c) => c.notNull().unique())
          .addColumn("created_at", "text", (c) => c.notNull())
          .addColumn("expires_at", "text")
          .addColumn("last_used_at", "text")
          .addColumn("revoked_at", "text")
          .execute();
      },
    },
    "0002_revocation": {
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable("certificates").addColumn("invalidity_date", "text").execute();
        await db.schema.alterTable("cas").addColumn("revoked_at", "text").execute();
        await db.schema.alterTable("cas").addColumn("revocation_reason", "integer").execute();
        await db.schema
          .createIndex("certificates_ca_status")
          .on("certificates")
          .columns(["ca_id", "status", "serial"])
          .execute();
        await db.schema
          .createTable("blocked_keys")
          .addColumn("spki_sha256", "text", (c) => c.primaryKey())
          .addColumn("reason", "text", (c) => c.notNull())
          .addColumn("blocked_at", "text", (c) => c.notNull())
          .addColumn("blocked_by", "text")
          .execute();
        await db.schema
          .createTable("crl_numbers")
          .addColumn("ca_id", "text", (c) => c.primaryKey().references("cas.id"))
          .addColumn("last_number", "bigint", (c) => c.notNull())
          .execute();
        await db.schema
          .createTable("crls")
          .addColumn("ca_id", "text", (c) => c.notNull().references("cas.id"))
          .addColumn("number", "bigint", (c) => c.notNull())
          .addColumn("this_update", "text", (c) => c.notNull())
          .addColumn("next_update", "text", (c) => c.notNull())
          .addColumn("der", blob, (c) => c.notNull())
          .addPrimaryKeyConstraint("crls_pk", ["ca_id", "number"])
          .execute();
        await db.schema
          .createTable("ocsp_responses")
          .addColumn("serial", "text", (c) => c.notNull())
          .addColumn("hash", "text", (c) => c.notNull())
          .addColumn("this_update", "text", (c) => c.notNull())
          .addColumn("next_update", "text", (c) => c.notNull())
          .addColumn("der", blob, (c) => c.notNull())
          .addPrimaryKeyConstraint("ocsp_responses_pk", ["serial", "hash"])
          .execute();
        await db.schema.createIndex("ocsp_responses_this_update").on("ocsp_responses").column("this_update").execute();
        await db.schema
          .createTable("ocsp_responders")
          .addColumn("serial", "text", (c) => c.primaryKey())
          .addColumn("ca_id", "text", (c) => c.notNull().references("cas.id"))
          .addColumn("key_uri", "text", (c) => c.notNull())
          .addColumn("certificate", blob, (c) => c.notNull())
          .addColumn("not_after", "text", (c) => c.notNull())
          .execute();
      },
    },
    "0003_acme_accounts": {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable("acme_nonces")
          .addColumn("nonce", "text", (c) => c.primaryKey())
          .addColumn("expires_at", "text", (c) => c.notNull())
          .execute();
        await db.schema.createIndex("acme_nonces_expiry").on("acme_nonces").column("expires_at").execute();
        await db.schema
          .createTable("acme_accounts")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("thumbprint", "text", (c) => c.notNull().unique())
          .addColumn("jwk", "text", (c) => c.notNull())
          .addColumn("status", "text", (c) => c.notNull())
          .addColumn("contact", "text", (c) => c.notNull())
          .addColumn("created_at", "text", (c) => c.notNull())
          .execute();
      },
    },
    "0004_acme_orders": {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable("acme_orders")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("account_id", "text", (c) => c.notNull().references("acme_accounts.id"))
          .addColumn("status", "text", (c) => c.notNull())
          .addColumn("identifiers", "text", (c) => c.notNull())
          .addColumn("authorization_ids", "text", (c) => c.notNull())
          .addColumn("profile", "text", (c) => c.notNull())
          .addColumn("expires_at", "text", (c) => c.notNull())
          .addColumn("created_at", "text", (c) => c.notNull())
          .addColumn("certificate_serial", "text")
          .addColumn("error", "text")
          .execute();
        await db.schema.createIndex("acme_orders_account").on("acme_orders").column("account_id").execute();
        await db.schema
          .createTable("acme_authorizations")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("account_id", "text", (c) => c.notNull().references("acme_accounts.id"))
          .addColumn("identifier_type", "text", (c) => c.notNull())
          .addColumn("identifier_value", "text", (c) => c.notNull())
          .addColumn("wildcard", "integer", (c) => c.notNull())
          .addColumn("status", "text", (c) => c.notNull())
          .addColumn("expires_at", "text", (c) => c.notNull())
          .execute();
        await db.schema
          .createTable("acme_challenges")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("authorization_id", "text", (c) => c.notNull().references("acme_authorizations.id"))
          .addColumn("type", "text", (c) => c.notNull())
          .addColumn("token", "text", (c) => c.notNull())
          .addColumn("status", "text", (c) => c.notNull())
          .addColumn("validated_at", "text")
          .addColumn("error", "text")
          .execute();
        await db.schema.createIndex("acme_challenges_authz").on("acme_challenges").column("authorization_id").execute();
      },
    },
    "0005_acme_eab": {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable("acme_eab_keys")
          .addColumn("kid", "text", (c) => c.primaryKey())
          .addColumn("name", "text", (c) => c.notNull())
          .addColumn("key_uri", "text", (c) => c.notNull())
          .addColumn("created_at", "text", (c) => c.notNull())
          .addColumn("account_id", "text")
          .addColumn("used_at", "text")
          .execute();
      },
    },
    "0006_rate_limits": {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable("rate_limit_counters")
          .addColumn("key", "text", (c) => c.notNull())
          .addColumn("window_start", "text", (c) => c.notNull())
          .addColumn("count", "integer", (c) => c.notNull())
          .addPrimaryKeyConstraint("rate_limit_counters_pk", ["key", "window_start"])
          .execute();
      },
    },
    "0007_acme_renewal": {
      async up(db: Kysely<unknown>) {
        // RFC 9773 §5: the certificate (by canonical ARI certID) a new order replaces.
        await db.schema.alterTable("acme_orders").addColumn("replaces", "text").execute();
        await db.schema.createIndex("acme_orders_replaces").on("acme_orders").column("replaces").execute();
        await db.schema.createIndex("acme_orders_expires").on("acme_orders").column("expires_at").execute();
        await db.schema
          .createIndex("acme_authorizations_expires")
          .on("acme_authorizations")
          .column("expires_at")
          .execute();
        // Windows an administrator forced, e.g. after a key compromise or before a CA rollover.
        await db.schema
          .createTable("acme_renewal_windows")
          .addColumn("serial", "text", (c) => c.primaryKey())
          .addColumn("window_start", "text", (c) => c.notNull())
          .addColumn("window_end", "text", (c) => c.notNull())
          .addColumn("explanation_url", "text")
          .addColumn("set_at", "text", (c) => c.notNull())
          .addColumn("set_by", "text", (c) => c.notNull())
          .execute();
      },
    },
    "0008_audit": {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable("audit_events")
          .addColumn("seq", "integer", (c) => c.primaryKey())
          .addColumn("at", "text", (c) => c.notNull())
          .addColumn("action", "text", (c) => c.notNull())
          .addColumn("actor_id", "text", (c) => c.notNull())
          .addColumn("actor_name", "text", (c) => c.notNull())
          .addColumn("actor_kind", "text", (c) => c.notNull())
          .addColumn("request_id", "text")
          .addColumn("address", "text")
          .addColumn("target_type", "text")
          .addColumn("target_id", "text")
          .addColumn("outcome", "text", (c) => c.notNull())
          .addColumn("details", "text", (c) => c.notNull())
          .addColumn("prev_hash", "text", (c) => c.notNull())
          .addColumn("hash", "text", (c) => c.notNull())
          .execute();
        await db.schema.createIndex("audit_events_action").on("audit_events").column("action").execute();
        await db.schema.createIndex("audit_events_target").on("audit_events").column("target_id").execute();
        // One row: the chain's head. Appending updates it first, which serializes appenders.
        await db.schema
          .createTable("audit_head")
          .addColumn("id", "integer", (c) => c.primaryKey())
          .addColumn("seq", "integer", (c) => c.notNull())
          .addColumn("hash", "text", (c) => c.notNull())
          .execute();
        await sql`INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, ${"0".repeat(64)})`.execute(db);
        await db.schema
          .createTable("audit_checkpoints")
          .addColumn("seq", "integer", (c) => c.primaryKey())
          .addColumn("hash", "text", (c) => c.notNull())
          .addColumn("at", "text", (c) => c.notNull())
          .addColumn("signature", blob, (c) => c.notNull())
          .addColumn("signer_serial", "text", (c) => c.notNull())
          .execute();
        await db.schema
          .createTable("audit_keys")
          .addColumn("id", "integer", (c) => c.primaryKey())
          .addColumn("key_uri", "text", (c) => c.notNull())
          .addColumn("certificate_serial", "text", (c) => c.notNull())
          .addColumn("created_at", "text", (c) => c.notNull())
          .execute();
      },
    },
    "0009_people_and_approvals": {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable("users")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("name", "text", (c) => c.notNull().unique())
          .addColumn("role", "text", (c) => c.notNull())
          .addColumn("password_hash", "text", (c) => c.notNull())
          // pkcs11: URI of the TOTP seed, a non-extractable secret in the token; never the seed itself.
          .addColumn("totp_key_uri", "text", (c) => c.notNull())
          .addColumn("totp_last_step", "integer")
          .addColumn("failed_attempts", "integer", (c) => c.notNull().defaultTo(0))
          .addColumn("locked_until", "text")
          .addColumn("scopes", "text", (c) => c.notNull())
          .addColumn("created_at", "text", (c) => c.notNull())
          .addColumn("disabled_at", "text")
          .execute();
        await db.schema
          .createTable("recovery_codes")
          .addColumn("user_id", "text", (c) => c.notNull().references("users.id"))
          .addColumn("code_hash", "text", (c) => c.notNull())
          .addColumn("used_at", "text")
          .addPrimaryKeyConstraint("recovery_codes_pk", ["user_id", "code_hash"])
          .execute();
        await db.schema
          .createTable("sessions")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("token_hash", "text", (c) => c.notNull().unique())
          .addColumn("user_id", "text", (c) => c.notNull().references("users.id"))
          .addColumn("created_at", "text", (c) => c.notNull())
          .addColumn("expires_at", "text", (c) => c.notNull())
          .addColumn("revoked_at", "text")
          .execute();
        await db.schema
          .createTable("approvals")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("operation", "text", (c) => c.notNull())
          .addColumn("params", "text", (c) => c.notNull())
          .addColumn("summary", "text", (c) => c.notNull())
          .addColumn("requested_by_id", "text", (c) => c.notNull())
          .addColumn("requested_by_name", "text", (c) => c.notNull())
          .addColumn("required_approvals", "integer", (c) => c.notNull())
          .addColumn("approver_role", "text", (c) => c.notNull())
          .addColumn("status", "text", (c) => c.notNull())
          .addColumn("created_at", "text", (c) => c.notNull())
          .addColumn("expires_at", "text", (c) => c.notNull())
          .addColumn("decided_at", "text")
          .addColumn("result", "text")
          .execute();
        await db.schema
          .createTable("approval_votes")
          .addColumn("approval_id", "text", (c) => c.notNull().references("approvals.id"))
          .addColumn("user_id", "text", (c) => c.notNull())
          .addColumn("user_name", "text", (c) => c.notNull())
          .addColumn("decision", "text", (c) => c.notNull())
          .addColumn("at", "text", (c) => c.notNull())
          // One vote per person per request: distinct approvers are the database's rule.
          .addPrimaryKeyConstraint("approval_votes_pk", ["approval_id", "user_id"])
          .execute();
      },
    },
    "0010_token_scopes": {
      async up(db: Kysely<unknown>) {
        await db.schema
          .alterTable("api_tokens")
          .addColumn("scopes", "text", (c) => c.notNull().defaultTo("{}"))
          .execute();
      },
    },
    "0011_token_client_certificates": {
      async up(db: Kysely<unknown>) {
        // A service may authenticate with a client certificate we issued instead of the token secret.
        await db.schema.alterTable("api_tokens").addColumn("client_cert_serial", "text").execute();
        await db.schema
          .createIndex("api_tokens_client_cert")
          .unique()
          .on("api_tokens")
          .column("client_cert_serial")
          .execute();
      },
    },
    "0012_keys": {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable("keys")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("name", "text", (c) => c.notNull().unique())
          .addColumn("algorithm", "text", (c) => c.notNull())
          .addColumn("purpose", "text", (c) => c.notNull())
          .addColumn("distributable", "integer", (c) => c.notNull())
          .addColumn("rotation_days", "integer")
          .addColumn("cryptoperiod_days", "integer")
          .addColumn("tags", "text", (c) => c.notNull())
          .addColumn("created_at", "text", (c) => c.notNull())
          .execute();
        await db.schema
          .createTable("key_versions")
          .addColumn("key_id", "text", (c) => c.notNull().references("keys.id"))
          .addColumn("version", "integer", (c) => c.notNull())
          // pkcs11: URI of the secret in the token; never the secret.
          .addColumn("key_uri", "text", (c) => c.notNull())
          .addColumn("state", "text", (c) => c.notNull())
          .addColumn("created_at", "text", (c) => c.notNull())
          .addColumn("deactivate_at", "text")
          .addColumn("destroy_after", "text")
          .addColumn("destroyed_at", "text")
          .addPrimaryKeyConstraint("key_versions_pk", ["key_id", "version"])
          .execute();
      },
    },
    "0013_key_distribution": {
      async up(db: Kysely<unknown>) {
        // What happens to a key when a certificate it was distributed to is revoked.
        await db.schema
          .alterTable("keys")
          .addColumn("on_recipient_revoked", "text", (c) => c.notNull().defaultTo("flag"))
          .execute();
        await db.schema
          .createTable("key_distributions")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("key_id", "text", (c) => c.notNull().references("keys.id"))
          .addColumn("version", "integer", (c) => c.notNull())
          .addColumn("format", "text", (c) => c.notNull())
          .addColumn("recipient_serial", "text", (c) => c.notNull())
          .addColumn("recipient_subject", "text", (c) => c.notNull())
          .addColumn("recipient_spki_sha256", "text", (c) => c.notNull())
          .addColumn("recipient_not_after", "text", (c) => c.notNull())
          .addColumn("created_at", "text", (c) => c.notNull())
          .addColumn("created_by", "text", (c) => c.notNull())
          .addColumn("exposed_at", "text")
          .addColumn("exposure_reason", "text")
          .execute();
        // Activation date of a version created in pre-activation (NIST SP 800-57 §7).
        await db.schema.alterTable("key_versions").addColumn("activate_at", "text").execute();
        await db.schema.createIndex("key_distributions_key").on("key_distributions").column("key_id").execute();
        await db.schema
          .createIndex("key_distributions_recipient")
          .on("key_distributions")
          .column("recipient_serial")
          .execute();
        // Keys Keyward signs its own statements with (e.g. the key revocation list), by purpose.
        await db.schema
          .createTable("service_signing_keys")
          .addColumn("purpose", "text", (c) => c.primaryKey())
          .addColumn("key_uri", "text", (c) => c.notNull())
          .addColumn("certificate_serial", "text", (c) => c.notNull())
          .addColumn("created_at", "text", (c) => c.notNull())
          .execute();
      },
    },
    "0014_escrow": {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable("escrow_agents")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("name", "text", (c) => c.notNull().unique())
          // The person who may submit this agent's share (null: only the local operator, via the CLI).
          .addColumn("user_name", "text")
          .addColumn("certificate", blob, (c) => c.notNull())
          .addColumn("serial", "text", (c) => c.notNull())
          .addColumn("created_at", "text", (c) => c.notNull())
          .execute();
        await db.schema
          .createTable("escrow_policies")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("key_id", "text", (c) => c.unique())
          .addColumn("tag", "text", (c) => c.unique())
          .addColumn("agent_ids", "text", (c) => c.notNull())
          .addColumn("threshold", "integer", (c) => c.notNull())
          .addColumn("created_at", "text", (c) => c.notNull())
          .execute();
        await db.schema
          .createTable("key_escrows")
          .addColumn("key_id", "text", (c) => c.notNull().references("keys.id"))
          .addColumn("version", "integer", (c) => c.notNull())
          .addColumn("threshold", "integer", (c) => c.notNull())
          // The version wrapped (AES-KW) under the escrow secret; the secret itself is only in shares.
          .addColumn("wrapped", blob, (c) => c.notNull())
          .addColumn("created_at", "text", (c) => c.notNull())
          .addPrimaryKeyConstraint("key_escrows_pk", ["key_id", "version"])
          .execute();
        await db.schema
          .createTable("escrow_shares")
          .addColumn("key_id", "text", (c) => c.notNull())
          .addColumn("version", "integer", (c) => c.notNull())
          .addColumn("agent_id", "text", (c) => c.notNull().references("escrow_agents.id"))
          // CMS EnvelopedData to the agent's certificate; and a salted hash that recognises the share.
          .addColumn("cms", blob, (c) => c.notNull())
          .addColumn("share_hash", "text", (c) => c.notNull())
          .addPrimaryKeyConstraint("escrow_shares_pk", ["key_id", "version", "agent_id"])
          .execute();
        await db.schema
          .createTable("escrow_recoveries")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("key_id", "text", (c) => c.notNull())
          .addColumn("version", "integer", (c) => c.notNull())
          .addColumn("status", "text", (c) => c.notNull())
          // A token key that seals submitted shares at rest until the recovery completes.
          .addColumn("sealing_key_uri", "text")
          .addColumn("requested_by", "text", (c) => c.notNull())
          .addColumn("created_at", "text", (c) => c.notNull())
          .addColumn("completed_at", "text")
          .execute();
        await db.schema
          .createTable("escrow_recovery_shares")
          .addColumn("recovery_id", "text", (c) => c.notNull().references("escrow_recoveries.id"))
          .addColumn("agent_id", "text", (c) => c.notNull())
          .addColumn("sealed", blob, (c) => c.notNull())
          .addColumn("submitted_by", "text", (c) => c.notNull())
          .addColumn("submitted_at", "text", (c) => c.notNull())
          .addPrimaryKeyConstraint("escrow_recovery_shares_pk", ["recovery_id", "agent_id"])
          .execute();
      },
    },
    "0015_scheduler_slots": {
      async up(db: Kysely<unknown>) {
        // A periodic job claims its time slot here; the database lets one instance of a fleet win.
        await db.schema
          .createTable("scheduler_slots")
          .addColumn("name", "text", (c) => c.notNull())
          .addColumn("slot", "text", (c) => c.notNull())
          .addColumn("claimed_by", "text", (c) => c.notNull())
          .addColumn("claimed_at", "text", (c) => c.notNull())
          .addPrimaryKeyConstraint("scheduler_slots_pk", ["name", "slot"])
          .execute();
      },
    },
    "0016_revoked_covering_index": {
      async up(db: Kysely<unknown>) {
        // CRL generation reads every revoked entry of a CA in serial order: a partial index that
        // holds all the columns it needs is read alone, never the (large) certificate rows.
        await db.schema
          .createIndex("certificates_revoked")
          .on("certificates")
          .columns(["ca_id", "serial", "revoked_at", "revocation_reason", "invalidity_date"])
          .where(sql.ref("status"), "=", sql.lit("revoked"))
          .execute();
      },
    },
  };
  return { getMigrations: async () => list };
}
