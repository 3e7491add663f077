import { createHash } from "node:crypto";
import { Resolver } from "node:dns/promises";
import { lookup as systemLookup } from "node:dns";
import http from "node:http";
import tls from "node:tls";
import * as x509 from "@peculiar/x509";
import type { LookupFunction } from "node:net";
import { isIP } from "node:net";
import { AcmeError } from "./problems.js";
import type { Identifier } from "./ports.js";

export interface ValidationSettings {
  /** Port http-01 connects to (80 in production; tests and private networks set their own). */
  http01Port: number;
  /** Port tls-alpn-01 connects to (443 in production). */
  tlsAlpn01Port: number;
  /** host:port of the DNS server for lookups and dns-01 TXT records; the system resolver otherwise. */
  dnsResolver?: string;
  timeoutMs: number;
}

const MAX_REDIRECTS = 10;
const MAX_BODY = 4096;

/**
 * One resolver per server and timeout, shared by every validation: a resolver is a c-ares channel
 * (it answers concurrent queries), and making two per validation was a measurable share of it.
 */
const resolvers = new Map<string, Resolver>();

function sharedResolver(server: string | undefined, timeoutMs: number): Resolver {
  const id = `${server ?? ""}|${timeoutMs}`;
  let resolver = resolvers.get(id);
  if (!resolver) {
    resolver = new Resolver({ timeout: timeoutMs, tries: 2 });
    if (server) resolver.setServers([server]);
    resolvers.set(id, resolver);
  }
  return resolver;
}

/** The configured DNS server's resolver; undefined means the system's lookup. */
function resolverFor(settings: ValidationSettings): Resolver | undefined {
  return settings.dnsResolver ? sharedResolver(settings.dnsResolver, settings.timeoutMs) : undefined;
}

/** For record lookups (TXT, CAA): the configured DNS server, else the system's servers. */
export function recordResolver(settings: ValidationSettings): Resolver {
  return sharedResolver(settings.dnsResolver, settings.timeoutMs);
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
          // On purpose: no A record (or an A lookup that failed) is not the end, a host may be
          // IPv6-only; when AAAA fails too, its error reaches http/tls and becomes the dns problem.
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
  const resolver = recordResolver(settings);
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

const ACME_IDENTIFIER_OID = "1.3.6.1.5.5.7.1.31";

/**
 * RFC 8737: a TLS handshake with ALPN "acme-tls/1" and SNI = the name must present a certificate
 * whose only SAN is that name and whose critical acmeIdentifier extension holds
 * SHA-256(key authorization).
 */
export async function validateTlsAlpn01(
  identifier: Identifier,
  keyAuthorization: string,
  settings: ValidationSettings,
): Promise<void> {
  const lookup = lookupWith(resolverFor(settings));
  const where = `${identifier.value}:${settings.tlsAlpn01Port}`;
  const der = await new Promise<Buffer>((resolve, reject) => {
    const socket = tls.connect({
      host: identifier.value,
      port: settings.tlsAlpn01Port,
      servername: identifier.value,
      ALPNProtocols: ["acme-tls/1"],
      rejectUnauthorized: false,
      lookup,
      timeout: settings.timeoutMs,
    });
    socket.once("secureConnect", () => {
      const protocol = socket.alpnProtocol;
      const certificate = socket.getPeerX509Certificate();
      socket.end();
      if (protocol !== "acme-tls/1") reject(new AcmeError("tls", `tls-alpn-01: ${where} did not negotiate acme-tls/1`));
      else if (!certificate) reject(new AcmeError("tls", `tls-alpn-01: ${where} presented no certificate`));
      else resolve(certificate.raw);
    });
    socket.once("timeout", () => socket.destroy(new Error("timed out")));
    socket.once("error", (error: NodeJS.ErrnoException) => {
      const dnsFailure = error.code === "ENOTFOUND" || error.code === "ENODATA";
      reject(
        new AcmeError(
          dnsFailure ? "dns" : "connection",
          `tls-alpn-01: cannot connect to ${where}: ${error.code ?? error.message}`,
        ),
      );
    });
  });
  const certificate = new x509.X509Certificate(new Uint8Array(der));
  const sans = certificate.getExtension(x509.SubjectAlternativeNameExtension)?.names.toJSON() ?? [];
  if (sans.length !== 1 || sans[0]!.type !== "dns" || sans[0]!.value.toLowerCase() !== identifier.value) {
    throw new AcmeError("unauthorized", `tls-alpn-01: the certificate must name exactly ${identifier.value}`);
  }
  const extension = certificate.getExtension(ACME_IDENTIFIER_OID);
  const expected = Buffer.concat([Buffer.from([0x04, 0x20]), createHash("sha256").update(keyAuthorization).digest()]);
  if (!extension?.critical || !Buffer.from(extension.value).equals(expected)) {
    throw new AcmeError(
      "incorrectResponse",
      "tls-alpn-01: the acmeIdentifier extension is missing, not critical, or wrong",
    );
  }
}
