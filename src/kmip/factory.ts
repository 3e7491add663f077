import { createHash } from "node:crypto";
import type { PeerCertificate } from "node:tls";
import * as x509 from "@peculiar/x509";
import type { Logger } from "pino";
import type { Principal } from "../access/index.js";
import type { Actor, AuditEvent } from "../audit/index.js";
import type { Clock } from "../clock/index.js";
import { listenAddress } from "../config/index.js";
import { UnauthorizedError } from "../errors/index.js";
import { certificatePem } from "../pki/pem.js";
import { KmipError } from "./errors.js";
import { KmipListener } from "./listener.js";
import type { MessageOutcome } from "./messages.js";
import { type KmipClient, KmipOperations, type KmipOperationsDeps } from "./operations.js";
import { OutsideClients, type OutsideAnchorSettings } from "./outside-clients.js";
import { type IssueForCsr, issueServerIdentity, renewalDue, type ServerIdentity } from "./server-identity.js";
import type { OperationName } from "./spec.js";
import { DEFAULT_LIMITS } from "./ttlv.js";

export interface KmipSettings {
  /** host:port; undefined: no listener. */
  listen?: string;
  /** Names (DNS or IP) in the server certificate; default: the listen host. */
  serverNames: string[];
  maxMessageBytes: number;
  idleTimeoutSeconds: number;
  requireApproval: ReadonlyArray<"destroy" | "compromise">;
  /** CAs besides Keyward's whose client certificates are accepted, and the clients each may have. */
  trustAnchors: readonly OutsideAnchorSettings[];
}

export interface KmipDeps extends Omit<KmipOperationsDeps, "vendor" | "requireApproval" | "now"> {
  /** Issues the listener's own TLS certificate (profile `server`). */
  issuance: IssueForCsr;
  /** Keyward's CAs: the client certificates they issued are the ones accepted. */
  cas(): Promise<Array<{ certificate: Buffer }>>;
  /** Keyward's record of a certificate: its revocation status, checked on every message. */
  findCertificate(
    serial: string,
  ): Promise<{ status: string; subject: string; spkiSha256: string; notAfter: Date } | undefined>;
  /** The API token bound to a client certificate (`keyward token create --client-cert SERIAL`). */
  tokens: { authenticateCertificate(serial: string): Promise<Principal> };
  audit: { record(event: Omit<AuditEvent, "at">): Promise<unknown> };
  clock: Clock;
  logger?: Logger;
  settings: KmipSettings;
}

export interface Kmip {
  /** Listens when `kmip.listen` is configured; resolves to the bound address, else undefined. */
  start(): Promise<{ host: string; port: number } | undefined>;
  /** Reissues the listener's certificate once 2/3 of its validity have passed (checked hourly); true when it did. */
  renewCertificate(): Promise<boolean>;
  stop(): Promise<void>;
}

/** Operations whose domain call writes its own audit event on success (key.create, key.encrypt, …). */
const AUDITED_BY_KEYS = new Set<OperationName>([
  "Create",
  "CreateKeyPair",
  "Register",
  "AddAttribute",
  "ModifyAttribute",
  "DeleteAttribute",
  "ReKey",
  "Activate",
  "Revoke",
  "Destroy",
  "Encrypt",
  "Decrypt",
  "Mac",
  "Get",
]);
const RENEWAL_CHECK_MS = 3_600_000;
const SERVER_ACTOR: Actor = { id: "kmip", name: "kmip-listener", kind: "system" };

export function createKmip(deps: KmipDeps): Kmip {
  const { settings, clock, logger } = deps;
  const operations = new KmipOperations({
    ...deps,
    vendor: "Keyward",
    requireApproval: settings.requireApproval,
    now: () => clock.now(),
  });
  const outside = new OutsideClients(settings.trustAnchors);
  // Certificate (by fingerprint) → its SPKI hash: parsed once, compared on every message.
  const spkiCache = new Map<string, string>();
  let identity: ServerIdentity | undefined;
  let renewal: NodeJS.Timeout | undefined;

  const listener = new KmipListener({
    limits: { ...DEFAULT_LIMITS, maxBytes: settings.maxMessageBytes },
    idleTimeoutMs: settings.idleTimeoutSeconds * 1000,
    now: () => clock.now(),
    logger,
    async tlsOptions() {
      identity ??= await issueServerIdentity(deps.issuance, serverNames(settings), SERVER_ACTOR);
      const cas = await deps.cas();
      return {
        key: identity.key,
        cert: identity.cert,
        ca: [...cas.map((c) => certificatePem(c.certificate)), ...outside.pems()],
      };
    },
    async authenticate(peer, address, requestId): Promise<KmipClient> {
      const serial = peer.serialNumber?.toLowerCase().replace(/^(00)+/, "");
      if (!serial) throw new KmipError("AuthenticationNotSuccessful", "no client certificate");
      if (outside.issuedByOutside(peer)) {
        const found = await outside.authenticate(peer, serial, clock.now());
        return { ...found, actor: actorOf(found.principal, requestId, address) };
      }
      // TLS checked the chain; whether Keyward still considers the certificate good is checked here,
      // on every message: a revocation ends access at once, even on an open connection.
      const record = await deps.findCertificate(serial);
      // The serial alone is not the certificate: a certificate another CA issued with the same serial
      // must not stand for ours, so its key must be the one Keyward certified.
      if (record && spkiOf(peer, spkiCache) !== record.spkiSha256) {
        throw new KmipError("PermissionDenied", `client certificate ${serial} is not the one Keyward issued`);
      }
      if (record?.status !== "valid" || record.notAfter <= clock.now()) {
        throw new KmipError(
          "PermissionDenied",
          `client certificate ${serial} is not valid here (unknown to Keyward, revoked or expired)`,
        );
      }
      let principal: Principal;
      try {
        principal = await deps.tokens.authenticateCertificate(serial);
      } catch (error) {
        if (error instanceof UnauthorizedError) throw new KmipError("PermissionDenied", error.message);
        throw error;
      }
      return {
        principal,
        actor: actorOf(principal, requestId, address),
        certificate: { serial, subject: record.subject, spkiSha256: record.spkiSha256, notAfter: record.notAfter },
      };
    },
    handle: (request, client) => operations.handle(request, client),
    async outcome(outcome: MessageOutcome, client, address) {
      if (outcome.cause) logger?.error({ err: outcome.cause, operation: outcome.operation }, "KMIP operation failed");
      if (!outcome.error && outcome.operation !== "unknown" && AUDITED_BY_KEYS.has(outcome.operation)) return;
      const actor: Actor = client?.actor ?? {
        id: "anonymous",
        name: "anonymous",
        kind: "anonymous",
        ...(address ? { address } : {}),
      };
      const refused =
        outcome.error?.reason === "PermissionDenied" || outcome.error?.reason === "AuthenticationNotSuccessful";
      await deps.audit.record({
        action: `kmip.${kebab(outcome.operation)}`,
        actor,
        ...(outcome.uniqueIdentifier ? { target: { type: "key", id: outcome.uniqueIdentifier } } : {}),
        outcome: outcome.error ? (refused ? "denied" : "failure") : "success",
        details: {
          ...(client ? { clientCertificate: client.certificate.serial } : {}),
          ...(outcome.error ? { reason: outcome.error.reason, message: outcome.error.message } : {}),
        },
      });
    },
  });

  async function renewCertificate(): Promise<boolean> {
    if (!identity || !renewalDue(identity, clock.now())) return false;
    identity = await issueServerIdentity(deps.issuance, serverNames(settings), SERVER_ACTOR);
    await listener.reload();
    logger?.info({ notAfter: identity.notAfter.toISOString() }, "KMIP server certificate renewed");
    return true;
  }

  return {
    async start() {
      if (!settings.listen) return undefined;
      const { host, port } = listenAddress(settings.listen);
      const bound = await listener.listen(host, port);
      renewal = setInterval(() => {
        renewCertificate().catch((error: unknown) =>
          logger?.error({ err: error }, "KMIP server certificate renewal failed"),
        );
      }, RENEWAL_CHECK_MS);
      renewal.unref();
      logger?.info({ kmip: `${bound.host}:${bound.port}` }, "KMIP listening");
      return bound;
    },
    renewCertificate,
    async stop() {
      if (renewal) clearInterval(renewal);
      await listener.close();
    },
  };
}

/** The names clients connect to: configured, else the listen host (a wildcard address: localhost). */
function serverNames(settings: KmipSettings): string[] {
  if (settings.serverNames.length) return settings.serverNames;
  const host = settings.listen ? listenAddress(settings.listen).host : "localhost";
  return [host === "0.0.0.0" || host === "::" ? "localhost" : host];
}

function actorOf(principal: Principal, requestId: string, address: string | undefined): Actor {
  return { id: principal.id, name: principal.name, kind: principal.kind, requestId, ...(address ? { address } : {}) };
}

function spkiOf(peer: PeerCertificate, cache: Map<string, string>): string {
  let spki = cache.get(peer.fingerprint256);
  if (!spki) {
    const key = new x509.X509Certificate(new Uint8Array(peer.raw)).publicKey.rawData;
    spki = createHash("sha256").update(Buffer.from(key)).digest("hex");
    if (cache.size >= 1000) cache.clear();
    cache.set(peer.fingerprint256, spki);
  }
  return spki;
}

const kebab = (name: string) => name.replace(/([a-z])([A-Z])/g, "$1-$2").toLowerCase();
