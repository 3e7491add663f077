import { existsSync, readFileSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import type { z } from "zod";
import { ConfigError } from "../errors/index.js";
import { issuingScope } from "./issuing-scope.js";
import { PRESET_SETTINGS } from "./presets.js";
import { type Config, ConfigSchema, PRESETS, type PresetName } from "./schema.js";

/** Shipped defaults: `config/default.yaml` at the package root (from src/ or dist/ alike). */
export const DEFAULT_CONFIG_FILE = resolve(dirname(fileURLToPath(import.meta.url)), "../../config/default.yaml");

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Objects merge key by key (so a file can add one profile); arrays and scalars replace. */
export function deepMerge(base: Json, over: Json): Json {
  const out: Json = { ...base };
  for (const [key, value] of Object.entries(over)) {
    out[key] = isObject(value) && isObject(out[key]) ? deepMerge(out[key] as Json, value) : value;
  }
  return out;
}

function readYaml(path: string): Json {
  let parsed: unknown;
  try {
    parsed = parseYaml(readFileSync(path, "utf8"));
  } catch (error) {
    throw new ConfigError(`cannot read config file ${path}: ${(error as Error).message}`, error);
  }
  if (parsed == null) return {};
  if (!isObject(parsed)) throw new ConfigError(`config file ${path} must hold a mapping at the top level`);
  return parsed;
}

export interface LoadConfigOptions {
  env?: NodeJS.ProcessEnv;
  /** Security-needs preset to use instead of the one the operator's file names (`init --profile`). */
  preset?: PresetName;
  /** Overrides applied last (CLI flags, tests). */
  overrides?: Json;
}

/**
 * Builds the configuration: shipped defaults, then the operator's file (`KEYWARD_CONFIG`, or
 * `<dataDir>/keyward.yaml` when present), then `KEYWARD_*` variables, then overrides. Validated
 * once; every problem is reported with its path.
 */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  let raw = readYaml(DEFAULT_CONFIG_FILE);
  const dataDir = resolve(
    String(options.overrides?.dataDir ?? env.KEYWARD_DATA_DIR ?? (raw.dataDir as string | undefined) ?? "./data"),
  );
  const file = env.KEYWARD_CONFIG ?? join(dataDir, "keyward.yaml");
  if (env.KEYWARD_CONFIG && !existsSync(file)) throw new ConfigError(`KEYWARD_CONFIG names a missing file: ${file}`);
  const operator = existsSync(file) ? readYaml(file) : {};
  // The file is found through the data dir, so it cannot also choose it.
  if ("dataDir" in operator) {
    throw new ConfigError(
      `invalid configuration: ${file}: dataDir cannot be set in a config file; use KEYWARD_DATA_DIR or --data-dir`,
    );
  }
  // The preset sits between the shipped defaults and the operator's own settings.
  const preset = options.preset ?? options.overrides?.preset ?? operator.preset;
  if (preset !== undefined) {
    if (!PRESETS.includes(preset as PresetName)) {
      throw new ConfigError(`invalid configuration: preset: must be one of ${PRESETS.join(", ")}, got "${preset}"`);
    }
    raw = deepMerge(deepMerge(raw, PRESET_SETTINGS[preset as PresetName]), { preset });
  }
  raw = deepMerge(raw, operator);
  if (options.preset) raw.preset = options.preset;

  const fromEnv: Json = { dataDir };
  if (env.KEYWARD_LISTEN) fromEnv.listen = env.KEYWARD_LISTEN;
  if (env.KEYWARD_WORKERS) fromEnv.workers = Number(env.KEYWARD_WORKERS);
  if (env.KEYWARD_BASE_URL) fromEnv.baseUrl = env.KEYWARD_BASE_URL;
  if (env.KEYWARD_DATABASE_URL) fromEnv.database = { url: env.KEYWARD_DATABASE_URL };
  const hsm: Json = {};
  if (env.KEYWARD_HSM_MODULE) hsm.module = env.KEYWARD_HSM_MODULE;
  if (env.KEYWARD_HSM_TOKEN) hsm.token = env.KEYWARD_HSM_TOKEN;
  if (env.KEYWARD_HSM_PIN_SOURCE) hsm.pinSource = env.KEYWARD_HSM_PIN_SOURCE;
  if (env.KEYWARD_HSM_ROOT_TOKEN) hsm.rootToken = env.KEYWARD_HSM_ROOT_TOKEN;
  if (env.KEYWARD_HSM_ROOT_PIN_SOURCE) hsm.rootPinSource = env.KEYWARD_HSM_ROOT_PIN_SOURCE;
  if (env.KEYWARD_HSM_SIGNING_THREADS) hsm.signingThreads = Number(env.KEYWARD_HSM_SIGNING_THREADS);
  if (env.KEYWARD_HSM_DISABLE_MECHANISMS) hsm.disableMechanisms = env.KEYWARD_HSM_DISABLE_MECHANISMS.split(",");
  if (Object.keys(hsm).length) fromEnv.hsm = hsm;
  if (env.KEYWARD_LOG_LEVEL) fromEnv.log = { level: env.KEYWARD_LOG_LEVEL };
  const acme: Json = {};
  if (env.KEYWARD_ACME_HTTP01_PORT) acme.http01Port = Number(env.KEYWARD_ACME_HTTP01_PORT);
  if (env.KEYWARD_ACME_TLSALPN01_PORT) acme.tlsAlpn01Port = Number(env.KEYWARD_ACME_TLSALPN01_PORT);
  if (env.KEYWARD_ACME_DNS_RESOLVER) acme.dnsResolver = env.KEYWARD_ACME_DNS_RESOLVER;
  if (Object.keys(acme).length) fromEnv.acme = acme;
  if (env.KEYWARD_KMIP_LISTEN) fromEnv.kmip = { listen: env.KEYWARD_KMIP_LISTEN };
  if (env.KEYWARD_KMS_PROTECTION) fromEnv.kms = { protection: env.KEYWARD_KMS_PROTECTION };
  raw = deepMerge(deepMerge(raw, fromEnv), options.overrides ?? {});

  const result = ConfigSchema.safeParse(expandDataDir(raw, dataDir));
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join(".") || "(top)"}: ${i.message}`);
    throw new ConfigError(`invalid configuration: ${problems.join("; ")}`);
  }
  const config = result.data;
  checkCrossReferences(config);
  const baseUrl = (config.baseUrl ?? `http://${config.listen}`).replace(/\/+$/, "");
  const databaseUrl = config.database.url ?? `sqlite:${join(dataDir, "keyward.db")}`;
  return {
    ...config,
    baseUrl,
    ...(config.baseUrl === undefined ? { baseUrlFromListen: true } : {}),
    database: { url: resolveSqlitePath(databaseUrl) },
    audit: { ...config.audit, witness: resolve(config.audit.witness ?? join(dataDir, "audit-witness.log")) },
  };
}

/**
 * What one field cannot say alone: issuers exist, and what the lint gate would refuse at the first
 * issuance (or at `init`) is refused here, when the operator can still fix the file.
 */
function checkCrossReferences(config: z.infer<typeof ConfigSchema>): void {
  const ids = [config.ca.root.id, ...config.ca.intermediates.map((i) => i.id)];
  for (const [name, profile] of Object.entries(config.profiles)) {
    if (profile.issuer && !ids.includes(profile.issuer)) {
      throw new ConfigError(`invalid configuration: profiles.${name}.issuer: no CA "${profile.issuer}" is configured`);
    }
    if (profile.extKeyUsage.includes("serverAuth") && profile.policies.length === 0) {
      throw new ConfigError(
        `invalid configuration: profiles.${name}.policies: a profile issuing TLS server certificates asserts a policy (BR §7.1.2.7.9), e.g. [2.23.140.1.2.1] for domain validation`,
      );
    }
  }
  for (const operation of config.kmip.requireApproval) {
    if (!config.access.quorum[`key.${operation}`]) {
      throw new ConfigError(
        `invalid configuration: kmip.requireApproval names ${operation}, but access.quorum has no "key.${operation}" rule saying who approves it`,
      );
    }
  }
  for (const [index, ca] of config.ca.intermediates.entries()) {
    if (issuingScope(ca.id, config.profiles).extKeyUsage.length === 0) {
      throw new ConfigError(
        `invalid configuration: ca.intermediates[${index}] (${ca.id}): none of the profiles it may issue has an extKeyUsage, and a subordinate CA carries the EKUs it issues for (BR §7.1.2.10.6)`,
      );
    }
  }
}

/** `${dataDir}` in string values lets the shipped defaults point into whichever data dir is in use. */
const DATA_DIR_PLACEHOLDER = "$" + "{dataDir}";
function expandDataDir(value: unknown, dataDir: string): unknown {
  if (typeof value === "string") return value.replaceAll(DATA_DIR_PLACEHOLDER, dataDir);
  if (Array.isArray(value)) return value.map((v) => expandDataDir(v, dataDir));
  if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expandDataDir(v, dataDir)]));
  return value;
}

function resolveSqlitePath(url: string): string {
  if (!url.startsWith("sqlite:")) return url;
  const path = url.slice("sqlite:".length);
  return path === ":memory:" || isAbsolute(path) ? url : `sqlite:${resolve(path)}`;
}

export function listenAddress(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(":");
  return { host: listen.slice(0, i).replace(/^\[|\]$/g, ""), port: Number(listen.slice(i + 1)) };
}
