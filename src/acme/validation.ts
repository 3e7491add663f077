import { createHash } from "node:crypto";
import { Resolver } from "node:dns/promises";
import { lookup as systemLookup } from "node:dns";
import http from "node:http";
import type { LookupFunction } from "node:net";
import { isIP } from "node:net";
import { AcmeError } from "./problems.js";
import type { Identifier } from "./ports.js";

export interface ValidationSettings {
  /** Port http-01 connects to (80 in production; tests and private networks set their own). */
  http01Port: number;
  /** host:port of the DNS server for lookups and dns-01 TXT records; the system resolver otherwise. */
  dnsResolver?: string;
  timeoutMs: number;
}

const MAX_REDIRECTS = 10;
const MAX_BODY = 4096;

function resolverFor(settings: ValidationSettings): Resolver | undefined {
  if (!settings.dnsResolver) return undefined;
  const resolver = new Resolver({ timeout: settings.timeoutMs, tries: 2 });
  resolver.setServers([settings.dnsResolver]);
  return resolver;
}

/** A lookup for http.request that asks the configured resolver (A, then AAAA). */
function lookupWith(resolver: Resolver | undefined): LookupFunction {
  if (!resolver) return systemLookup as unknown as LookupFunction;
  return ((hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    const literal = isIP(hostname);
    const found = literal
      ? Promise.resolve([{ address: hostname, family: literal }])
      : resolver
          .resolve4(hostname)
          .then((a) => a.map((address) => ({ address, family: 4 })))
          .catch(() => resolver.resolve6(hostname).then((a) => a.map((address) => ({ address, family: 6 }))));
    found.then(
      (addresses) =>
        options?.all ? callback(null, addresses) : callback(null, addresses[0]!.address, addresses[0]!.family),
      (error) => callback(error),
    );
  }) as unknown as LookupFunction;
}

/** RFC 8555 §8.3: fetch the key authorization over HTTP, following at most 10 redirects. */
export async function validateHttp01(
  identifier: Identifier,
  token: string,
  keyAuthorization: string,
  settings: ValidationSettings,
): Promise<void> {
  const lookup = lookupWith(resolverFor(settings));
  const host = identifier.type === "ip" && isIP(identifier.value) === 6 ? `[${identifier.value}]` : identifier.value;
  let url = new URL(`http://${host}:${settings.http01Port}/.well-known/acme-challenge/${token}`);
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const { status, location, body } = await get(url, lookup, settings.timeoutMs);
    if (status >= 300 && status < 400 && location) {
      const next = new URL(location, url);
      const port = Number(next.port || (next.protocol === "https:" ? 443 : 80));
      if (next.protocol !== "http:" || ![80, 443, settings.http01Port].includes(port)) {
        throw new AcmeError(
          "connection",
          `http-01: redirect to ${next.origin} is not allowed (http on port 80, 443 or ${settings.http01Port} only)`,
        );
      }
      url = next;
      continue;
    }
    if (status !== 200) throw new AcmeError("unauthorized", `http-01: ${url.href} answered HTTP ${status}`);
    if (body.trim() !== keyAuthorization) {
      throw new AcmeError("incorrectResponse", `http-01: ${url.href} did not return the key authorization`);
    }
    return;
  }
  throw new AcmeError("connection", `http-01: more than ${MAX_REDIRECTS} redirects`);
}

function get(
  url: URL,
  lookup: LookupFunction,
  timeoutMs: number,
): Promise<{ status: number; location?: string; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.get(
      url,
      { lookup, timeout: timeoutMs, headers: { "user-agent": "keyward-acme-validator" } },
      (response) => {
        let body = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => {
          body += chunk;
          if (body.length > MAX_BODY) request.destroy(new Error("response too large"));
        });
        response.on("end", () =>
          resolve({ status: response.statusCode ?? 0, location: response.headers.location, body }),
        );
        response.on("error", reject);
      },
    );
    request.on("timeout", () => request.destroy(new Error("timed out")));
    request.on("error", (error: NodeJS.ErrnoException) => {
      const dnsFailure = error.code === "ENOTFOUND" || error.code === "ENODATA" || error.code === "ESERVFAIL";
      reject(
        new AcmeError(
          dnsFailure ? "dns" : "connection",
          `http-01: cannot fetch ${url.href}: ${error.code ?? error.message}`,
        ),
      );
    });
  });
}

/** RFC 8555 §8.4: a TXT record at _acme-challenge.<domain> holding base64url(SHA-256(key authorization)). */
export async function validateDns01(
  identifier: Identifier,
  keyAuthorization: string,
  settings: ValidationSettings,
): Promise<void> {
  const resolver = resolverFor(settings) ?? new Resolver({ timeout: settings.timeoutMs, tries: 2 });
  const name = `_acme-challenge.${identifier.value}`;
  const expected = createHash("sha256").update(keyAuthorization).digest("base64url");
  let records: string[][];
  try {
    records = await resolver.resolveTxt(name);
  } catch (error) {
    throw new AcmeError(
      "dns",
      `dns-01: no TXT record at ${name} (${(error as NodeJS.ErrnoException).code ?? "error"})`,
    );
  }
  if (!records.some((chunks) => chunks.join("") === expected)) {
    throw new AcmeError("incorrectResponse", `dns-01: no TXT record at ${name} holds the expected digest`);
  }
}
