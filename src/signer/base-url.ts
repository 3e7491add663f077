import * as x509 from "@peculiar/x509";
import { BadRequestError } from "../errors/index.js";
import { toArrayBuffer } from "../pki/spki.js";
import type { CaRecord } from "./ports.js";

/**
 * The base URL is a property of the deployment: certificates carry it (AIA, CRL distribution
 * point) and a CRL's issuingDistributionPoint must repeat it exactly, whichever process signs
 * (the server, or the CLI in a shell with another config). It is stored at init and changed only
 * with `keyward ca set-base-url`; a process's own setting never overrides it.
 */
export interface BaseUrlChoice {
  baseUrl: string;
  /** Why the process's own setting was not used, for the operator (undefined when they agree). */
  warning?: string;
}

export function chooseBaseUrl(input: {
  /** What the database holds (or what the hierarchy's certificates carry, for a database from before). */
  deployment: string | undefined;
  /** The process's setting: config `baseUrl`, KEYWARD_BASE_URL, or http://<listen>. */
  configured: string;
  /** Whether `configured` was set on purpose (config or environment) rather than derived from listen. */
  explicit: boolean;
}): BaseUrlChoice {
  const { deployment, configured, explicit } = input;
  if (deployment === undefined || deployment === configured) return { baseUrl: configured };
  if (!explicit) return { baseUrl: deployment };
  return {
    baseUrl: deployment,
    warning:
      `the configured base URL ${configured} (baseUrl / KEYWARD_BASE_URL) differs from the deployment's ` +
      `${deployment}, which certificates and CRLs carry; using ${deployment}. ` +
      "To change the deployment's base URL on purpose: keyward ca set-base-url URL",
  };
}

/** A base URL as certificates carry it: absolute http(s), no query or fragment, no trailing slash. */
export function normalizeBaseUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new BadRequestError(`base URL "${value}" is not an absolute URL (e.g. https://ca.example.com)`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new BadRequestError(`base URL "${value}" must be http or https (CRL and OCSP clients fetch over HTTP)`);
  if (url.search || url.hash || url.username || url.password)
    throw new BadRequestError(`base URL "${value}" must have no query, fragment or credentials`);
  return url.href.replace(/\/+$/, "");
}

/**
 * For a database from before the base URL was stored: the one the hierarchy's certificates
 * already carry, read from an intermediate's CRL distribution point (`<base>/crl/<parent>.crl`).
 */
export function baseUrlOfHierarchy(records: CaRecord[]): string | undefined {
  for (const record of records) {
    if (!record.parentId) continue;
    const certificate = new x509.X509Certificate(toArrayBuffer(record.certificate));
    const cdp = certificate.getExtension(x509.CRLDistributionPointsExtension);
    const suffix = `/crl/${record.parentId}.crl`;
    for (const point of cdp?.distributionPoints ?? []) {
      for (const name of point.distributionPoint?.fullName ?? []) {
        const uri = name.uniformResourceIdentifier;
        if (uri?.endsWith(suffix)) return uri.slice(0, -suffix.length);
      }
    }
  }
  return undefined;
}
