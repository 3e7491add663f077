import { createHash, createPublicKey } from "node:crypto";
import * as x509 from "@peculiar/x509";
import type { Logger } from "pino";
import { type Clock, wholeSeconds } from "../clock/index.js";
import type { CertificateRecord } from "../issuance/index.js";
import { DerError, NULL, octetString, oid as derOid, sequence as derSequence, unsignedInteger } from "../pki/der.js";
import type { KeyType } from "../pki/key-types.js";
import { keyTypeOf } from "../pki/spki.js";
import type { CaRecord, CertificateAuthority, ServiceKeys } from "../signer/index.js";
import {
  type CertId,
  certificateSubjectAndSpki,
  describeOcspResponse,
  type OcspAnswerSummary,
  errorResponse,
  hash,
  OCSP_STATUS,
  parseOcspRequest,
  responseData,
  type SingleResponse,
  type SingleStatus,
  subjectPublicKeyBits,
  successfulResponse,
} from "./ocsp-der.js";
import type { OcspResponderRecord, RevocationStore, StoredOcspResponse } from "./ports.js";

export interface OcspSettings {
  /** Validity of each signed response (nextUpdate - thisUpdate). */
  validityHours: number;
  /** "ignore": answer from the cache (like large public CAs); "echo": sign a fresh response with the nonce. */
  nonce: "ignore" | "echo";
  /** Most responses kept in memory; the rest are read from storage. */
  cacheEntries: number;
}

/** What the responder needs to know about certificates. */
export interface CertificateLookup {
  get(serial: string): Promise<CertificateRecord | undefined>;
  /** The records of those serials that exist (the refresh reads a batch at once). */
  getMany(serials: readonly string[]): Promise<Map<string, CertificateRecord>>;
}

/** Issues the delegated responder certificate for a CA (record-then-sign, like any certificate). */
export type ResponderIssuer = (
  caId: string,
  spki: Buffer,
) => Promise<{ serial: string; certificate: Buffer; notAfter: Date }>;

export interface OcspAnswer {
  der: Buffer;
  /** Present for cacheable successful answers: HTTP caching headers come from these. */
  thisUpdate?: Date;
  nextUpdate?: Date;
  etag?: string;
  /** For metrics: answered from the pre-signed cache, signed now, refused, or unreadable. */
  outcome: "hit" | "miss" | "unknown" | "malformed";
}

interface Responder {
  record: OcspResponderRecord;
  keyHash: Buffer;
  keyType: KeyType;
  /** When half the certificate's validity is gone: the responder is renewed from then on. */
  renewAfter: number;
}

/** A pre-signed answer in memory, with the answer object every hit returns. */
type CachedAnswer = StoredOcspResponse & { answer: OcspAnswer };

interface IssuerMatch {
  ca: CaRecord;
}

/**
 * Answers the refresh signs at once: the default number of signing threads. With 8 the refresh
 * was faster but cached answers waited (p99 several times higher during it, loaded machine).
 */
const REFRESH_IN_FLIGHT = 2;

/**
 * RFC 6960 responder with the RFC 5019 profile: answers are pre-signed per certificate and CertID
 * hash, kept in memory and storage, re-signed at once on revocation and before half their
 * validity has passed; a request without nonce is answered without touching the HSM.
 */
export class OcspResponder {
  private readonly cache = new Map<string, CachedAnswer>();
  /** Request bytes already answered from the cache → its cache key (RFC 5019 clients repeat requests). */
  private readonly byRequest = new Map<string, string>();
  private issuers: Map<string, IssuerMatch> | undefined;
  private readonly responders = new Map<string, Responder>();
  private readonly renewing = new Map<string, Promise<Responder>>();
  private readonly issuerHashCache = new Map<string, IssuerHashes>();
  private refresher: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: {
      store: RevocationStore;
      certificates: CertificateLookup;
      ca: CertificateAuthority;
      /** The signer's port to Keyward's own keys: responder keys are made and used through it. */
      keys: Pick<ServiceKeys, "generateKeyPair" | "signOcspResponse" | "keyType">;
      issueResponder: ResponderIssuer;
      clock: Clock;
      settings: OcspSettings;
      logger?: Logger;
      /** Tells the other instances that this certificate's answers changed (they drop their copies). */
      publishChange?: (serial: string) => Promise<void>;
    },
  ) {}

  /** Answers a DER OCSPRequest. Never throws for bad input: that is a malformedRequest answer. */
  /**
   * The answer to a request seen before, byte for byte, straight from memory (no parsing, no
   * lookups): most OCSP traffic. Undefined when unknown or no longer fresh (then `respond`).
   */
  answerRepeated(requestKey: string): OcspAnswer | undefined {
    const key = this.byRequest.get(requestKey);
    const entry = key === undefined ? undefined : this.cache.get(key);
    return entry && entry.nextUpdate > this.deps.clock.now() ? entry.answer : undefined;
  }

  /** `requestKey` (the request's bytes as a string) lets a repeat be answered by `answerRepeated`. */
  async respond(requestDer: Buffer, requestKey?: string): Promise<OcspAnswer> {
    let request: ReturnType<typeof parseOcspRequest>;
    try {
      request = parseOcspRequest(requestDer);
    } catch (error) {
      if (error instanceof DerError) return { der: errorResponse(OCSP_STATUS.malformedRequest), outcome: "malformed" };
      throw error;
    }
    const matches = await Promise.all(request.certIds.map((id) => this.matchIssuer(id)));
    const first = matches[0];
    if (!first || matches.some((m) => m === undefined || m.ca.id !== first.ca.id)) {
      return { der: errorResponse(OCSP_STATUS.unauthorized), outcome: "unknown" };
    }
    const nonce = this.deps.settings.nonce === "echo" ? request.nonce : undefined;
    if (request.certIds.length === 1 && !nonce) {
      const certId = request.certIds[0]!;
      const cached = await this.cached(certId.serial, certId.hash, first.ca.id);
      if (cached) {
        // Requests with a nonce are unique: remembering them would only push out the rest. Plain
        // requests are ~100 bytes; a bound keeps padded ones from filling memory.
        if (requestKey !== undefined && requestKey.length <= 512 && !request.nonce) {
          this.byRequest.set(requestKey, `${certId.hash}:${certId.serial}`);
          if (this.byRequest.size > this.deps.settings.cacheEntries)
            this.byRequest.delete(this.byRequest.keys().next().value!);
        }
        return cached;
      }
    }
    // Several CertIDs, a nonce to echo, or nothing cached: sign this answer now.
    const answers = await Promise.all(
      request.certIds.map(async (certId) => ({ certId, status: await this.status(certId.serial, first.ca.id) })),
    );
    const signed = await this.sign(first.ca.id, answers, nonce);
    return { der: signed.der, outcome: "miss" };
  }

  /** Signs and stores the answer for one certificate (after revocation, or when one is missing). */
  async presign(serial: string, hashes: readonly string[] = ["sha1"]): Promise<void> {
    const record = await this.deps.certificates.get(serial);
    if (!record) return;
    for (const h of hashes) {
      const response = await this.signFor(record, h);
      await this.deps.store.saveOcspResponse(response);
      this.remember(response);
    }
  }

  private async signFor(record: CertificateRecord, h: string): Promise<StoredOcspResponse> {
    const certId = certIdFor(h as "sha1" | "sha256", await this.issuerHashes(record.caId), record.serial);
    const signed = await this.sign(record.caId, [{ certId, status: statusOf(record) }], undefined);
    return {
      serial: record.serial,
      hash: h,
      thisUpdate: signed.thisUpdate,
      nextUpdate: signed.nextUpdate,
      der: signed.der,
    };
  }

  /**
   * The "good" answer for a certificate being issued now, for the issuing transaction to store
   * with the certificate (one commit, no lookups); `remember` it once that has committed.
   */
  async answerForNew(serial: string, caId: string): Promise<StoredOcspResponse> {
    const certId = certIdFor("sha1", await this.issuerHashes(caId), serial);
    const signed = await this.sign(caId, [{ certId, status: { status: "good" } }], undefined);
    return { serial, hash: "sha1", thisUpdate: signed.thisUpdate, nextUpdate: signed.nextUpdate, der: signed.der };
  }

  /** Re-signs every stored answer for the certificate (after a revocation or release). */
  async refresh(serial: string): Promise<void> {
    const hashes = [] as string[];
    for (const h of ["sha1", "sha256"]) {
      if (this.cache.has(`${h}:${serial}`) || (await this.deps.store.ocspResponse(serial, h))) hashes.push(h);
    }
    await this.presign(serial, hashes.length ? hashes : ["sha1"]);
    await this.deps
      .publishChange?.(serial)
      .catch((error) =>
        this.deps.logger?.warn({ err: error, serial }, "cannot notify other instances of an OCSP change"),
      );
  }

  /** Whether an answer for the certificate is held in memory (tests, diagnostics). */
  inMemory(serial: string): boolean {
    return this.cache.has(`sha1:${serial}`) || this.cache.has(`sha256:${serial}`);
  }

  /** Another instance changed this certificate's answers: the next request reads them from storage. */
  dropFromMemory(serial: string): void {
    for (const h of ["sha1", "sha256"]) this.cache.delete(`${h}:${serial}`);
  }

  /**
   * The backstop for missed notices (and the only channel on SQLite, e.g. a CLI revocation while a
   * server runs): every interval, drop cached answers that storage says were re-signed since.
   */
  watchStorage(intervalMs = 1000): void {
    let since = this.deps.clock.now();
    const sweep = async () => {
      // Overlap a little: answers are stamped in whole seconds by whichever instance signed them.
      const from = new Date(since.getTime() - 2000);
      since = this.deps.clock.now();
      for (const serial of await this.deps.store.ocspSignedSince(from)) this.dropFromMemory(serial);
    };
    this.watcher = setInterval(
      () => void sweep().catch((error) => this.deps.logger?.warn({ err: error }, "OCSP change sweep failed")),
      intervalMs,
    );
    this.watcher.unref();
  }
  private watcher: NodeJS.Timeout | undefined;

  /**
   * Re-signs answers older than half their validity, in batches, until none are due. A batch's
   * certificates are read in one query, its answers signed two at a time (the signing threads work
   * in parallel) and stored in one transaction: one durable commit per batch, where each answer
   * had been its own (on PostgreSQL the refresh of 10,000 answers took 106 s that way, three times
   * SQLite's 34 s). Only answers already in memory are replaced there: a refresh of a million
   * answers must not push the ones being asked for out of the cache.
   */
  async refreshStale(batch = 200): Promise<number> {
    const running = this.refreshBatches(batch);
    this.refreshing = running;
    try {
      return await running;
    } finally {
      if (this.refreshing === running) this.refreshing = undefined;
    }
  }
  /** The refresh under way, which `stop` waits for; `stopping` ends it after its current batch. */
  private refreshing: Promise<number> | undefined;
  private stopping = false;

  private async refreshBatches(batch: number): Promise<number> {
    const halfLife = (this.deps.settings.validityHours * 3_600_000) / 2;
    let total = 0;
    // A server stopping mid-refresh (a million answers take minutes) ends it between batches,
    // before the token it signs with is closed.
    while (!this.stopping) {
      const due = await this.deps.store.staleOcspResponses(new Date(this.deps.clock.now().getTime() - halfLife), batch);
      const records = await this.deps.certificates.getMany([...new Set(due.map((d) => d.serial))]);
      const signed: StoredOcspResponse[] = [];
      let failed = 0;
      let next = 0;
      await Promise.all(
        Array.from({ length: Math.min(REFRESH_IN_FLIGHT, due.length) }, async () => {
          while (next < due.length) {
            const { serial, hash: h } = due[next++]!;
            const record = records.get(serial);
            // Gone: nothing to answer for; counted as done so the batch moves on.
            if (!record) continue;
            try {
              signed.push(await this.signFor(record, h));
            } catch (error) {
              // An answer whose CA or responder key is not at hand (left in a previous token) keeps
              // being served until it expires; it must not hold back the answers after it.
              failed++;
              this.deps.logger?.warn({ err: error, serial }, "cannot re-sign an OCSP answer; serving the previous one");
            }
          }
        }),
      );
      await this.deps.store.saveOcspResponses(signed);
      for (const response of signed) {
        if (this.cache.has(`${response.hash}:${response.serial}`)) this.remember(response);
      }
      total += due.length - failed;
      // A batch with nothing re-signed would come back unchanged: stop until the next run.
      if (due.length < batch || failed === due.length) return total;
    }
    return total;
  }

  start(intervalMs = 60_000, claim: (job: string, periodMs: number) => Promise<boolean> = async () => true): void {
    this.stopping = false;
    const run = () =>
      void claim("ocsp-refresh", intervalMs)
        .then((won) => (won ? this.refreshStale() : 0))
        .catch((error) => this.deps.logger?.error({ err: error }, "OCSP refresh failed"));
    this.refresher = setInterval(run, intervalMs);
    this.refresher.unref();
  }

  /** Stops the timers and waits for a refresh under way to end after its current batch. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.refresher) clearInterval(this.refresher);
    if (this.watcher) clearInterval(this.watcher);
    await this.refreshing?.catch(() => undefined);
  }

  /**
   * What a client asking about this certificate is told right now: a real request (SHA-1 CertID,
   * no nonce, like `openssl ocsp`) through the same path as /ocsp, its answer decoded.
   */
  async answerFor(serial: string): Promise<OcspAnswerSummary | undefined> {
    const record = await this.deps.certificates.get(serial);
    if (!record) return undefined;
    const certId = certIdFor("sha1", await this.issuerHashes(record.caId), serial);
    const answer = await this.respond(derSequence(derSequence(derSequence(derSequence(certId.raw)))));
    return describeOcspResponse(answer.der);
  }

  /** Drops every answer for the certificate, in memory and storage, so the next request re-signs. */
  async forget(serial: string): Promise<void> {
    for (const h of ["sha1", "sha256"]) this.cache.delete(`${h}:${serial}`);
    await this.deps.store.deleteOcspResponses(serial);
  }

  /** Drops what is known about the CA hierarchy (after a new intermediate appears). */
  forgetIssuers(): void {
    this.issuers = undefined;
  }

  private async cached(serial: string, h: string, caId: string): Promise<OcspAnswer | undefined> {
    const key = `${h}:${serial}`;
    let entry = this.cache.get(key);
    const now = this.deps.clock.now();
    if (!entry) {
      const stored = await this.deps.store.ocspResponse(serial, h);
      if (stored) entry = this.remember(stored);
    }
    // Unknown serials are not pre-signed; a record for another CA must not answer this CertID.
    if (!entry || entry.nextUpdate <= now) {
      const record = await this.deps.certificates.get(serial);
      if (!record || record.caId !== caId || (record.status !== "valid" && record.status !== "revoked"))
        return undefined;
      await this.presign(serial, [h]);
      entry = this.cache.get(key);
      if (!entry) return undefined;
    }
    return entry.answer;
  }

  remember(response: StoredOcspResponse): CachedAnswer {
    const etag = `"${createHash("sha1").update(response.der).digest("hex")}"`;
    const answer: OcspAnswer = {
      der: response.der,
      thisUpdate: response.thisUpdate,
      nextUpdate: response.nextUpdate,
      etag,
      outcome: "hit",
    };
    const entry = { ...response, answer };
    const key = `${response.hash}:${response.serial}`;
    this.cache.delete(key);
    this.cache.set(key, entry);
    if (this.cache.size > this.deps.settings.cacheEntries) this.cache.delete(this.cache.keys().next().value!);
    return entry;
  }

  private async sign(
    caId: string,
    answers: ReadonlyArray<{ certId: CertId; status: SingleStatus }>,
    nonce: Buffer | undefined,
  ) {
    const responder = await this.responder(caId);
    const now = wholeSeconds(this.deps.clock.now());
    const validUntil = new Date(now.getTime() + this.deps.settings.validityHours * 3_600_000);
    // A response never outlives the certificate that signs it.
    const nextUpdate = validUntil > responder.record.notAfter ? responder.record.notAfter : validUntil;
    const singles: SingleResponse[] = answers.map((a) => ({
      certId: a.certId.raw,
      status: a.status,
      thisUpdate: now,
      nextUpdate,
    }));
    const tbs = responseData(responder.keyHash, now, singles, nonce);
    const basic = await this.deps.keys.signOcspResponse(responder.record.keyUri, responder.keyType, tbs);
    return { der: successfulResponse(basic, responder.record.certificate), thisUpdate: now, nextUpdate };
  }

  private async status(serial: string, caId: string): Promise<SingleStatus> {
    const record = await this.deps.certificates.get(serial);
    return record && record.caId === caId ? statusOf(record) : { status: "unknown" };
  }

  /** The issuer's Name and key hashes for CertIDs, computed once per CA. */
  private async issuerHashes(caId: string): Promise<IssuerHashes> {
    let hashes = this.issuerHashCache.get(caId);
    if (!hashes) {
      const { subject, spki } = certificateSubjectAndSpki((await this.deps.ca.get(caId)).certificate);
      const bits = subjectPublicKeyBits(spki);
      hashes = {
        sha1: { name: hash("sha1", subject), key: hash("sha1", bits) },
        sha256: { name: hash("sha256", subject), key: hash("sha256", bits) },
      };
      this.issuerHashCache.set(caId, hashes);
    }
    return hashes;
  }

  /** The CA's delegated responder, issued on first use and renewed when half its validity is gone. */
  async responder(caId: string): Promise<Responder> {
    const now = this.deps.clock.now().getTime();
    let current = this.responders.get(caId);
    if (!current) {
      const stored = await this.deps.store.currentResponder(caId);
      if (stored) current = this.toResponder(stored);
    }
    if (current && now < current.renewAfter) {
      this.responders.set(caId, current);
      return current;
    }
    let renewal = this.renewing.get(caId);
    if (!renewal) {
      renewal = this.createResponder(caId).finally(() => this.renewing.delete(caId));
      this.renewing.set(caId, renewal);
    }
    return renewal;
  }

  private async createResponder(caId: string): Promise<Responder> {
    const label = `ocsp-${caId}-${this.deps.clock.now().toISOString().slice(0, 10)}`;
    // The CA's own key type when the token can make it (opencryptoki's soft token has no EC).
    const keyType = await this.deps.keys.keyType({ preferred: (await this.deps.ca.get(caId)).keyType });
    const { uri, spki } = await this.deps.keys.generateKeyPair(keyType, label);
    const issued = await this.deps.issueResponder(caId, spki);
    const record: OcspResponderRecord = {
      caId,
      serial: issued.serial,
      keyUri: uri,
      certificate: issued.certificate,
      notAfter: issued.notAfter,
    };
    await this.deps.store.saveResponder(record);
    this.deps.logger?.info({ caId, serial: issued.serial }, "OCSP responder certificate issued");
    const responder = this.toResponder(record);
    this.responders.set(caId, responder);
    return responder;
  }

  private toResponder(record: OcspResponderRecord): Responder {
    const { spki } = certificateSubjectAndSpki(record.certificate);
    const cert = new x509.X509Certificate(new Uint8Array(record.certificate));
    const renewAfter = cert.notBefore.getTime() + (cert.notAfter.getTime() - cert.notBefore.getTime()) / 2;
    const keyType = keyTypeOf(createPublicKey({ key: spki, format: "der", type: "spki" }));
    if (!keyType) throw new Error(`OCSP responder ${record.serial} has a key Keyward cannot sign with`);
    return { record, keyHash: hash("sha1", subjectPublicKeyBits(spki)), keyType, renewAfter };
  }

  private async matchIssuer(certId: CertId): Promise<IssuerMatch | undefined> {
    if (certId.hash !== "sha1" && certId.hash !== "sha256") return undefined;
    const key = (h: string, name: Buffer, keyHash: Buffer) => `${h}:${name.toString("hex")}:${keyHash.toString("hex")}`;
    const lookup = async () => {
      if (!this.issuers) {
        const map = new Map<string, IssuerMatch>();
        // Intermediates only: the root signs CRLs offline and has no online responder.
        for (const ca of (await this.deps.ca.list()).filter((c) => c.kind === "intermediate")) {
          const { subject, spki } = certificateSubjectAndSpki(ca.certificate);
          const bits = subjectPublicKeyBits(spki);
          for (const h of ["sha1", "sha256"] as const) map.set(key(h, hash(h, subject), hash(h, bits)), { ca });
        }
        this.issuers = map;
      }
      return this.issuers.get(key(certId.hash, certId.issuerNameHash, certId.issuerKeyHash));
    };
    const found = await lookup();
    if (found) return found;
    // A CA created since (by another instance or the CLI) is found on a second look.
    this.issuers = undefined;
    return lookup();
  }
}

type IssuerHashes = Record<"sha1" | "sha256", { name: Buffer; key: Buffer }>;

function statusOf(record: CertificateRecord): SingleStatus {
  if (record.status === "revoked")
    return { status: "revoked", revokedAt: record.revokedAt!, reason: record.revocationReason };
  return record.status === "valid" ? { status: "good" } : { status: "unknown" };
}

/** The CertID a client builds for one of our certificates. */
function certIdFor(h: "sha1" | "sha256", issuer: IssuerHashes, serial: string): CertId {
  const algOid = h === "sha1" ? "1.3.14.3.2.26" : "2.16.840.1.101.3.4.2.1";
  const { name, key } = issuer[h];
  // Built with the same encoder the responses use, so the echo is byte-identical to a client's.
  const raw = certIdDer(algOid, name, key, serial);
  return { hash: h, issuerNameHash: name, issuerKeyHash: key, serial, raw };
}

function certIdDer(algOid: string, nameHash: Buffer, keyHash: Buffer, serial: string): Buffer {
  return derSequence(
    derSequence(derOid(algOid), NULL),
    octetString(nameHash),
    octetString(keyHash),
    unsignedInteger(Buffer.from(serial.length % 2 ? `0${serial}` : serial, "hex")),
  );
}
