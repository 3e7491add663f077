import { type Actor, SYSTEM_ACTOR } from "../audit/index.js";
import type { Logger } from "pino";
import type { Clock } from "../clock/index.js";
import { ConflictError } from "../errors/index.js";
import { wholeSeconds } from "../clock/index.js";
import {
  booleanTrue,
  explicit,
  generalizedTime,
  header,
  octetString,
  oid,
  sequence,
  smallInteger,
  tlv,
  x509Time,
  x509TimeText,
  enumerated,
} from "../pki/der.js";
import type { CertificateAuthority } from "../signer/index.js";
import { signatureAlgorithmIdentifier } from "../signer/index.js";
import type { RevocationRecord, RevocationStore, StoredCrl } from "./ports.js";

function extension(id: string, value: Buffer, critical = false): Buffer {
  return critical ? sequence(oid(id), booleanTrue, octetString(value)) : sequence(oid(id), octetString(value));
}

/**
 * The revokedCertificates entries of a CRL, written into one growing buffer: a million entries
 * are a million small structures, and allocating each one (and its parts) was most of the time.
 * Room kept in front lets the TBSCertList and the signed CRL enclose them in place (no copies).
 */
export class CrlEntries {
  private buffer: Buffer;
  /** Where the content starts: `front` bytes are kept free for what encloses the entries. */
  private start: number;
  /** Where the content ends. */
  private end: number;
  count = 0;
  private readonly reasonExtensions = new Map<number, Buffer>();

  constructor(front = 0) {
    this.buffer = Buffer.allocUnsafe(Math.max(1 << 16, front * 2));
    this.start = front;
    this.end = front;
  }

  /** Bytes of content. */
  get length(): number {
    return this.end - this.start;
  }

  /** One entry: serial, revocation date, reason (absent when unspecified), invalidity date. */
  add(r: RevocationRecord): void {
    const hex = r.serial.length % 2 ? `0${r.serial}` : r.serial;
    let start = 0;
    while (start < hex.length - 2 && hex.charCodeAt(start) === 48 && hex.charCodeAt(start + 1) === 48) start += 2;
    const magnitude = (hex.length - start) / 2;
    const sign = Number.parseInt(hex.slice(start, start + 2), 16) & 0x80 ? 1 : 0;
    const time = x509TimeText(r.revokedAt);
    const extensions = this.extensions(r);
    const content =
      headerLength(magnitude + sign) + magnitude + sign + 2 + time.text.length + (extensions?.length ?? 0);
    this.reserve(headerLength(content) + content);
    this.header(0x30, content);
    this.header(0x02, magnitude + sign);
    if (sign) this.buffer[this.end++] = 0;
    this.end += this.buffer.write(hex.slice(start), this.end, "hex");
    this.header(time.tag, time.text.length);
    this.end += this.buffer.write(time.text, this.end, "latin1");
    if (extensions) this.end += extensions.copy(this.buffer, this.end);
    this.count++;
  }

  /** The content, as a view (no copy). */
  bytes(): Buffer {
    return this.buffer.subarray(this.start, this.end);
  }

  /** Writes `bytes` just before the content, in the space kept in front. */
  prepend(bytes: Buffer): void {
    if (bytes.length > this.start) throw new Error("no room left in front of the CRL entries");
    this.start -= bytes.length;
    bytes.copy(this.buffer, this.start);
  }

  append(bytes: Buffer): void {
    this.reserve(bytes.length);
    this.end += bytes.copy(this.buffer, this.end);
  }

  /** Makes the content one DER element with this tag, in place. */
  enclose(tag: number): void {
    this.prepend(header(tag, this.length));
  }

  private extensions(r: RevocationRecord): Buffer | undefined {
    if (r.invalidityDate) {
      const exts = [extension("2.5.29.24", generalizedTime(r.invalidityDate))];
      if (r.reason !== 0) exts.unshift(extension("2.5.29.21", enumerated(r.reason)));
      return sequence(...exts);
    }
    if (r.reason === 0) return undefined;
    let cached = this.reasonExtensions.get(r.reason);
    if (!cached) {
      cached = sequence(extension("2.5.29.21", enumerated(r.reason)));
      this.reasonExtensions.set(r.reason, cached);
    }
    return cached;
  }

  private header(tag: number, length: number): void {
    this.buffer[this.end++] = tag;
    if (length < 0x80) {
      this.buffer[this.end++] = length;
      return;
    }
    const bytes = headerLength(length) - 2;
    this.buffer[this.end++] = 0x80 | bytes;
    for (let i = bytes - 1; i >= 0; i--) this.buffer[this.end++] = Math.floor(length / 256 ** i) & 0xff;
  }

  private reserve(bytes: number): void {
    if (this.end + bytes <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.end + bytes));
    this.buffer.copy(grown, this.start, this.start, this.end);
    this.buffer = grown;
  }
}

/** Tag + length octets for content of this length. */
function headerLength(length: number): number {
  if (length < 0x80) return 2;
  let bytes = 0;
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes++;
  return 2 + bytes;
}

export interface CrlSettings {
  validityHours: number;
  /** The root's CRL: signed at ceremonies only, so it must outlast the time between them. */
  rootValidityHours?: number;
  /** Wait this long after a revocation before regenerating, so bursts produce one CRL. */
  debounceMs: number;
  pageSize: number;
}

/**
 * CRLs per CA (RFC 5280 v2): numbers from storage (strictly increasing across restarts and
 * instances), entries streamed page by page, signed in the HSM. The last good CRL is served
 * until a new one is signed.
 */
export class CrlPublisher {
  private readonly latest = new Map<string, StoredCrl>();
  private readonly pending = new Map<string, NodeJS.Timeout>();
  private readonly running = new Map<string, Promise<StoredCrl>>();
  private scheduler: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: {
      store: RevocationStore;
      ca: CertificateAuthority;
      clock: Clock;
      settings: CrlSettings;
      logger?: Logger;
    },
  ) {}

  /** Signs a fresh CRL for the CA; concurrent calls for one CA share the run. */
  generate(caId: string, actor: Actor = SYSTEM_ACTOR): Promise<StoredCrl> {
    // This CRL covers every revocation committed so far: a regeneration they scheduled is redundant
    // (one committed later schedules its own).
    const pending = this.pending.get(caId);
    if (pending) {
      clearTimeout(pending);
      this.pending.delete(caId);
    }
    const inFlight = this.running.get(caId);
    if (inFlight) return inFlight.then(() => this.generate(caId, actor));
    const run = this.build(caId, actor).finally(() => this.running.delete(caId));
    this.running.set(caId, run);
    return run;
  }

  /** The newest CRL for the CA (from memory, else storage), or undefined when none was made. */
  async current(caId: string): Promise<StoredCrl | undefined> {
    const cached = this.latest.get(caId);
    const stored = await this.deps.store.latestCrl(caId);
    // Another instance (or the CLI) may have signed a newer one.
    if (stored && (!cached || stored.number > cached.number)) this.latest.set(caId, stored);
    return this.latest.get(caId);
  }

  /** Debounced regeneration after a revocation. */
  scheduleRegeneration(caId: string): void {
    if (this.pending.has(caId)) return;
    const timer = setTimeout(() => {
      this.pending.delete(caId);
      this.generate(caId).catch((error) =>
        this.deps.logger?.error({ err: error, caId }, "CRL generation failed; serving the previous CRL"),
      );
    }, this.deps.settings.debounceMs);
    timer.unref();
    this.pending.set(caId, timer);
  }

  /**
   * Every minute (and at once, so at startup): re-signs each intermediate's CRL that is due (a
   * revocation since its last CRL, recorded durably with the revocation) or half through its
   * validity (or missing), and the root's when due. An offline root's stays due, with a warning,
   * until a ceremony signs it.
   */
  start(
    cas: () => Promise<Array<{ id: string; kind: "root" | "intermediate" }>>,
    intervalMs = 60_000,
    /** Across a fleet, only the instance that claims a CA's slot checks it (see SchedulerSlots). */
    claim: (job: string, periodMs: number) => Promise<boolean> = async () => true,
  ): void {
    const tick = async () => {
      for (const { id: caId, kind } of await cas()) {
        const due = await this.deps.store.crlDue(caId);
        if (kind === "root" && !due) continue;
        // A due CRL is not left to whoever claimed this minute (maybe the instance that just died):
        // two instances signing it at once only spend a CRL number.
        if (!due && !(await claim(`crl:${caId}`, intervalMs))) continue;
        const crl = await this.current(caId);
        const now = this.deps.clock.now();
        const half = crl ? crl.thisUpdate.getTime() + (crl.nextUpdate.getTime() - crl.thisUpdate.getTime()) / 2 : 0;
        // One CA whose key is not at hand (left in a previous token) must not hold back the others.
        if (due || now.getTime() >= half) {
          await this.generate(caId).catch((error) =>
            error instanceof ConflictError
              ? this.deps.logger?.warn(
                  { caId, dueSince: due?.since },
                  `the ${caId} CRL lacks revocations: ${error.message}; sign it at the next ceremony (keyward crl root)`,
                )
              : this.deps.logger?.error({ err: error, caId }, "CRL generation failed; serving the previous CRL"),
          );
        }
      }
    };
    const run = () => void tick().catch((error) => this.deps.logger?.error({ err: error }, "CRL scheduler failed"));
    run();
    this.scheduler = setInterval(run, intervalMs);
    this.scheduler.unref();
  }

  stop(): void {
    if (this.scheduler) clearInterval(this.scheduler);
    for (const timer of this.pending.values()) clearTimeout(timer);
    this.pending.clear();
  }

  /**
   * The CRL's scope (RFC 5280 §5.2.5), which must cover every certificate its CA issued: a
   * verifier compares it with each certificate's CRL distribution point (§6.3.3 b.2; openssl's
   * "different CRL scope" otherwise). An intermediate's CRL names the URL its certificates carry
   * and covers end-entity certificates only. The root's covers CA certificates, and names no
   * distribution point: the root certificate carries none (BR §7.1.2.1), and a verifier that
   * checks every certificate of the chain (openssl -crl_check_all) checks the root against its
   * own CRL, which a named distribution point would then not cover; the intermediates' CDP
   * (the root CRL's URL) is in scope all the same, since an IDP without a name matches any.
   */
  private async issuingDistributionPoint(caId: string, kind: "root" | "intermediate"): Promise<Buffer> {
    const onlyContains = (tag: number) => tlv(tag, Buffer.from([0xff]));
    if (kind === "root") return sequence(onlyContains(0x82));
    // Every URL certificates of this CA may carry (more than one after `ca set-base-url`).
    const names = (await this.deps.ca.crlScopeUrls(caId)).map((url) => tlv(0x86, Buffer.from(url, "ascii")));
    return sequence(explicit(0, explicit(0, Buffer.concat(names))), onlyContains(0x81));
  }

  /** `actor`: who asked for this CRL (the CLI's operator, a person through the API), else Keyward itself. */
  private async build(caId: string, actor: Actor): Promise<StoredCrl> {
    // Read before the entries: a revocation committed after this keeps the CA due.
    const due = await this.deps.store.crlDue(caId);
    const issuer = await this.deps.ca.issuerInfo(caId);
    const thisUpdate = wholeSeconds(this.deps.clock.now());
    const { validityHours, rootValidityHours } = this.deps.settings;
    const hours = issuer.record.kind === "root" ? (rootValidityHours ?? validityHours) : validityHours;
    const nextUpdate = new Date(thisUpdate.getTime() + hours * 3_600_000);
    const prefix = Buffer.concat([
      smallInteger(1),
      signatureAlgorithmIdentifier(issuer.record.keyType),
      issuer.subject,
      x509Time(thisUpdate),
      x509Time(nextUpdate),
    ]);
    // Built in place (a million entries are ~48 MB): room in front for the prefix and the headers
    // of the entries, the TBSCertList and the CertificateList; the rest is appended.
    const entries = new CrlEntries(prefix.length + 3 * 6);
    for await (const page of this.deps.store.revokedEntries(caId, this.deps.settings.pageSize)) {
      for (const record of page) entries.add(record);
    }
    const previous = await this.deps.store.latestCrlNumber(caId);
    const number = await this.deps.store.nextCrlNumber(caId);
    const extensions = [
      ...(issuer.keyIdentifier ? [extension("2.5.29.35", sequence(tlv(0x80, issuer.keyIdentifier)))] : []),
      extension("2.5.29.20", smallInteger(number)),
      extension("2.5.29.28", await this.issuingDistributionPoint(caId, issuer.record.kind), true),
    ];
    const count = entries.count;
    if (count) entries.enclose(0x30);
    entries.prepend(prefix);
    entries.append(explicit(0, sequence(...extensions)));
    entries.enclose(0x30);
    const [algorithm, signature] = await this.deps.ca.signCrl(caId, entries.bytes(), {
      previousNumber: previous === undefined ? undefined : BigInt(previous),
    });
    entries.append(algorithm);
    entries.append(signature);
    entries.enclose(0x30);
    const der = entries.bytes();
    const crl: StoredCrl = { caId, number, thisUpdate, nextUpdate, der };
    await this.deps.store.saveCrl(
      crl,
      {
        action: "crl.sign",
        actor,
        target: { type: "ca", id: caId },
        outcome: "success",
        details: { number, entries: count, nextUpdate: nextUpdate.toISOString() },
        at: thisUpdate,
      },
      due?.generation,
    );
    this.latest.set(caId, crl);
    this.deps.logger?.info({ caId, number, entries: count }, "CRL signed");
    return crl;
  }
}
