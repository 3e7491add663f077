import { existsSync } from "node:fs";
import type * as x509 from "@peculiar/x509";
import type { Logger } from "pino";
import type { Clock } from "../clock/index.js";
import { BadRequestError, NotFoundError } from "../errors/index.js";
import { ecdsaRawToDer } from "../pki/ecdsa-signature.js";
import type { KeyType, SigningAlgorithm } from "../pki/key-types.js";
import { isEcdsa, statementAlgorithm, statementKeyType, verifyStatement } from "../pki/statement-signature.js";
import { type AuditEvent, eventLeaf, type StoredAuditEvent, treeHeadMessage } from "./event.js";
import { CompactTree, consistencyProof, inclusionProof, leafHash } from "./merkle.js";
import type { AuditFilter, AuditStore, SignedTreeHead, StoredTreeHead } from "./ports.js";
import { type AuditVerification, verifyAuditLog, type WitnessEntry } from "./verify.js";
import { readWitness, treeHeadJson, WitnessFile } from "./witness.js";

/**
 * What the audit log needs from the token: a key pair it signs tree heads with, of a type the token
 * can make (the default issuer's unless the token cannot: an RSA-only token signs with RSA).
 */
export interface AuditKeys {
  keyType(): Promise<KeyType>;
  generateKeyPair(keyType: KeyType, label: string): Promise<{ uri: string; spki: Buffer }>;
  sign(uri: string, algorithm: SigningAlgorithm, data: Uint8Array): Promise<Buffer>;
}

interface AuditSigner {
  keyUri: string;
  certificateSerial: string;
  keyType: KeyType;
}

export interface AuditSettings {
  /** Sign a tree head this often while events arrive (and at shutdown). */
  treeHeadSeconds: number;
  /** The witness file every signed tree head is appended to. */
  witness: string;
}

/** Tree heads store the leaf hashes they add up to this many; a larger batch (a first head over an old log) stores none. */
const MAX_STORED_LEAVES = 100_000;
/** Slack on top of the signing interval before an uncovered event counts as a missing head. */
const UNCOVERED_GRACE_MS = 10_000;

/**
 * The tamper-evident audit log (DESIGN.md §6). Events of state changes are written by the stores
 * inside the change's own transaction; this service records the rest (logins, denied requests).
 * The events are the leaves of an RFC 9162 Merkle tree: at most once per `treeHeadSeconds` while
 * events arrive, and at shutdown, the service signs the tree head (size, root, time) with an HSM
 * key certified under our root, stores it and appends it to the witness file. Verification
 * rebuilds the tree and holds every head against it.
 */
export class AuditLog {
  private timer: NodeJS.Timeout | undefined;
  private signing: Promise<SignedTreeHead | undefined> | undefined;
  /** The tree of the events this process has read, and the leaves added since the last head it knows. */
  private tree: CompactTree | undefined;
  private signedSize = 0;
  private pending: Buffer[] = [];
  private readonly witness: WitnessFile;
  private signer: { key: AuditSigner; renewAt: number } | undefined;

  constructor(
    private readonly deps: {
      store: AuditStore;
      keys: AuditKeys;
      clock: Clock;
      settings: AuditSettings;
      /** Issues the audit key's certificate (profile audit-signer) and returns it with its chain to the root. */
      issueAuditCertificate: (spki: Buffer) => Promise<{ serial: string }>;
      /**
       * The audit certificate by serial and the chain above it, root last; undefined when no such
       * certificate exists. A storage failure rejects: it is not evidence of tampering.
       */
      certificateChain: (serial: string) => Promise<x509.X509Certificate[] | undefined>;
      logger?: Logger;
    },
  ) {
    this.witness = new WitnessFile(deps.settings.witness);
  }

  /** For events that are not part of a data change (their own transaction). Fails closed: throws. */
  record(event: Omit<AuditEvent, "at">): Promise<StoredAuditEvent> {
    return this.deps.store.append({ ...event, at: this.deps.clock.now() });
  }

  search(filter: AuditFilter): Promise<StoredAuditEvent[]> {
    return this.deps.store.search(filter);
  }

  /** The last event's sequence number. */
  async lastSeq(): Promise<number> {
    return (await this.deps.store.head()).seq;
  }

  /** Signs a tree head over every stored event unless the last head already covers them. */
  treeHead(): Promise<SignedTreeHead | undefined> {
    this.signing ??= this.signTreeHead().finally(() => {
      this.signing = undefined;
    });
    return this.signing;
  }

  private async signTreeHead(): Promise<SignedTreeHead | undefined> {
    // The key first: certifying a new one records an event that this head then covers.
    const key = await this.key();
    const latest = await this.deps.store.latestTreeHead();
    const tree = await this.catchUp(latest);
    if (!latest && tree.treeSize === 0) return undefined;
    if (latest && tree.treeSize <= latest.size) {
      if (tree.treeSize < latest.size) {
        // Never sign a shorter log over a longer signed one: that is what truncation looks like.
        this.deps.logger?.error(
          { events: tree.treeSize, treeHeadSize: latest.size },
          "the audit log holds fewer events than its last signed tree head; not signing",
        );
      }
      return undefined;
    }
    const head = { size: tree.treeSize, rootHash: tree.root().toString("hex"), at: this.deps.clock.now() };
    const raw = await this.deps.keys.sign(key.keyUri, statementAlgorithm(key.keyType), treeHeadMessage(head));
    // ECDSA as DER (as X.509 carries it); RSA and Ed25519 signatures are what the token returns.
    const signature = isEcdsa(key.keyType) ? ecdsaRawToDer(raw) : raw;
    const signed: SignedTreeHead = { ...head, signature, signerSerial: key.certificateSerial };
    const leaves = this.pending.length <= MAX_STORED_LEAVES ? Buffer.concat(this.pending) : undefined;
    await this.deps.store.saveTreeHead({ ...signed, leavesFrom: this.signedSize, ...(leaves ? { leaves } : {}) });
    this.signedSize = head.size;
    this.pending = [];
    this.deps.logger?.info({ treeHead: treeHeadJson(signed) }, "audit tree head signed");
    await this.witness.append(signed);
    return signed;
  }

  /**
   * Extends this process's tree with the events stored since it last looked (the whole log the
   * first time). Events commit in sequence order (appenders queue on the head row), so reading
   * stops at the first gap.
   */
  private async catchUp(latest: StoredTreeHead | undefined): Promise<CompactTree> {
    if (!this.tree) {
      this.tree = new CompactTree();
      this.signedSize = 0;
      this.pending = [];
    }
    const tree = this.tree;
    for (;;) {
      const page = await this.deps.store.page(tree.treeSize, 1000);
      for (const event of page) {
        if (event.seq !== tree.treeSize + 1) return tree;
        const leaf = leafHash(eventLeaf(event.seq, event));
        tree.append(leaf);
        this.pending.push(leaf);
        // Rebuilding after a restart: the stored head's leaves are already stored.
        if (latest && tree.treeSize === latest.size && this.signedSize < latest.size) {
          this.signedSize = latest.size;
          this.pending = [];
        }
      }
      if (page.length < 1000) return tree;
    }
  }

  /**
   * The audit key, created in the token with its certificate on first use and replaced by a new
   * one in its certificate's last 30 days; old tree heads keep naming the signer they used.
   */
  private async key(): Promise<AuditSigner> {
    // Looked up once until its renewal is due: a head a second should cost a signature, not a
    // certificate chain read and parsed each time.
    if (this.signer && this.deps.clock.now().getTime() < this.signer.renewAt) return this.signer.key;
    const existing = await this.deps.store.auditKey();
    if (existing) {
      const chain = await this.deps.certificateChain(existing.certificateSerial);
      // Our own key's certificate gone from the database is damage to report, not a reason to renew.
      if (!chain) throw new NotFoundError(`no certificate with serial ${existing.certificateSerial}`);
      const renewAt = chain[0]!.notAfter.getTime() - 30 * 86_400_000;
      if (this.deps.clock.now().getTime() < renewAt) {
        const key = { ...existing, keyType: statementKeyType(Buffer.from(chain[0]!.publicKey.rawData)) };
        this.signer = { key, renewAt };
        return key;
      }
    }
    const keyType = await this.deps.keys.keyType();
    const { uri, spki } = await this.deps.keys.generateKeyPair(keyType, "keyward-audit");
    const issued = await this.deps.issueAuditCertificate(spki);
    const saved = await this.deps.store.saveAuditKey({
      keyUri: uri,
      certificateSerial: issued.serial,
      createdAt: this.deps.clock.now(),
    });
    // Another instance may have won the race: the stored key's type is the one to sign with.
    return saved.keyUri === uri ? { ...saved, keyType } : this.key();
  }

  /**
   * Rebuilds the tree from the events and checks every signed tree head in the database, in the
   * witness (`witness`, else the configured file when it exists) and in `sinceTreeHead` (a head an
   * outside auditor kept: the log must have only grown since). `seal` first signs a head over
   * what is stored, as a live server does before it reports on itself.
   */
  async verify(
    options: { witness?: string; sinceTreeHead?: string; seal?: boolean } = {},
  ): Promise<AuditVerification & { signers: string[] }> {
    if (options.seal) await this.treeHead();
    const witnessPath =
      options.witness ?? (existsSync(this.deps.settings.witness) ? this.deps.settings.witness : undefined);
    if (options.witness && !existsSync(options.witness)) throw new NotFoundError(`no witness file ${options.witness}`);
    // The witness before the database: a signer saves a head to the database, then appends it to
    // the witness, so every head read from the witness is in the database read after it, even
    // while a running server signs one a second.
    const witnessed: WitnessEntry[] | undefined = witnessPath ? await readWitness(witnessPath) : undefined;
    const treeHeads = await this.deps.store.treeHeads();
    const witness = witnessed ? [...witnessed] : options.sinceTreeHead ? [] : undefined;
    if (options.sinceTreeHead) {
      // The kept head is held to the log like a witness line: it must be stored and still match.
      const entries = existsSync(options.sinceTreeHead) ? await readWitness(options.sinceTreeHead) : [];
      const kept = entries.filter((e) => e.head).at(-1);
      if (!kept) throw new BadRequestError(`${options.sinceTreeHead} holds no signed tree head`);
      witness!.push(kept);
    }
    const all = [...treeHeads, ...(witness ?? []).flatMap((w) => (w.head ? [w.head] : []))];
    const signers = new Map<string, x509.X509Certificate | undefined>();
    for (const serial of new Set(all.map((h) => h.signerSerial))) {
      signers.set(serial, await this.trustedSigner(serial));
    }
    const result = await verifyAuditLog({
      page: (afterSeq) => this.deps.store.page(afterSeq, 1000),
      head: await this.deps.store.head(),
      treeHeads,
      leavesOf: async (size) => (await this.deps.store.treeHeadLeaves(size)) ?? undefined,
      witness,
      checkSignature: async (h) => {
        const signer = signers.get(h.signerSerial);
        if (!signer) return false;
        // The signer's own key type: ECDSA (DER), RSA PKCS#1 v1.5 or Ed25519, as the token allowed.
        return verifyStatement(Buffer.from(signer.publicKey.rawData), treeHeadMessage(h), h.signature, "der");
      },
      now: this.deps.clock.now(),
      maxUncoveredMs: this.deps.settings.treeHeadSeconds * 1000 + UNCOVERED_GRACE_MS,
    });
    return {
      ...result,
      ...(witnessed ? { witnessed: witnessed.filter((w) => w.head).length } : {}),
      signers: [...signers.keys()],
    };
  }

  /** The latest signed tree heads, newest first. */
  async treeHeads(limit: number): Promise<SignedTreeHead[]> {
    return (await this.deps.store.treeHeads()).slice(-limit).reverse();
  }

  /** Leaf hashes of the first `size` events, refusing a size beyond the stored log. */
  private async leaves(size: number): Promise<Buffer[]> {
    const leaves: Buffer[] = [];
    while (leaves.length < size) {
      const page = await this.deps.store.page(leaves.length, Math.min(1000, size - leaves.length));
      if (page.length === 0) break;
      for (const e of page) leaves.push(leafHash(eventLeaf(e.seq, e)));
    }
    if (leaves.length < size) throw new NotFoundError(`the audit log holds ${leaves.length} events, not ${size}`);
    return leaves;
  }

  /** The size a proof is for: the given one, else the latest signed head's. */
  private async proofSize(treeSize: number | undefined): Promise<{ size: number; head?: SignedTreeHead }> {
    const heads = await this.deps.store.treeHeads();
    const size = treeSize ?? heads.at(-1)?.size;
    if (!size) throw new NotFoundError("no signed tree head yet");
    return { size, head: heads.find((h) => h.size === size) };
  }

  /** RFC 9162 inclusion proof: event `seq` is leaf seq-1 of the tree of `treeSize` events. */
  async inclusionProof(seq: number, treeSize?: number) {
    const { size, head } = await this.proofSize(treeSize);
    if (seq < 1 || seq > size) throw new BadRequestError(`event ${seq} is not in a tree of ${size} events`);
    const leaves = await this.leaves(size);
    return {
      seq,
      leafIndex: seq - 1,
      treeSize: size,
      leafHash: leaves[seq - 1]!.toString("hex"),
      path: inclusionProof(seq - 1, leaves).map((h) => h.toString("hex")),
      ...(head ? { treeHead: treeHeadJson(head) } : {}),
    };
  }

  /** RFC 9162 consistency proof: the tree of `from` events is a prefix of the tree of `to`. */
  async consistencyProof(from: number, to?: number) {
    const { size, head } = await this.proofSize(to);
    if (from < 1 || from > size) throw new BadRequestError(`no consistency proof from ${from} to ${size} events`);
    const leaves = await this.leaves(size);
    return {
      from,
      to: size,
      path: consistencyProof(from, leaves).map((h) => h.toString("hex")),
      ...(head ? { treeHead: treeHeadJson(head) } : {}),
    };
  }

  /** JSON Lines of every event, then the tree heads and the signer chains: enough to verify offline. */
  async *export(): AsyncGenerator<string> {
    let after = 0;
    for (;;) {
      const page = await this.deps.store.page(after, 1000);
      if (page.length === 0) break;
      for (const event of page) yield `${JSON.stringify({ type: "event", ...exportable(event) })}\n`;
      after = page.at(-1)!.seq;
    }
    const chains = new Map<string, string[]>();
    for (const h of await this.deps.store.treeHeads()) {
      if (!chains.has(h.signerSerial)) {
        const chain = (await this.deps.certificateChain(h.signerSerial)) ?? [];
        chains.set(
          h.signerSerial,
          chain.map((cert) => cert.toString("pem")),
        );
      }
      yield `${JSON.stringify({ ...treeHeadJson(h), chain: chains.get(h.signerSerial) })}\n`;
    }
  }

  /** A tree head every `treeHeadSeconds` while events arrive; a failure is logged and retried on the next tick. */
  start(): void {
    const tick = async () => {
      const [seq, latest] = await Promise.all([this.lastSeq(), this.deps.store.latestTreeHead()]);
      if (seq > (latest?.size ?? 0)) await this.treeHead();
    };
    this.timer = setInterval(() => {
      tick().catch((error) => this.deps.logger?.error({ err: error }, "audit tree head failed"));
    }, this.deps.settings.treeHeadSeconds * 1000);
    this.timer.unref();
  }

  /** Stops the timer and signs a last head over everything stored (shutdown). */
  async stop(): Promise<void> {
    if (!this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.treeHead().catch((error) => this.deps.logger?.error({ err: error }, "final audit tree head failed"));
  }

  /** The signer's certificate, if it chains to our root by signature and was valid when used. */
  private async trustedSigner(serial: string): Promise<x509.X509Certificate | undefined> {
    const chain = (await this.deps.certificateChain(serial)) ?? [];
    if (chain.length < 2) return undefined;
    for (let i = 0; i < chain.length - 1; i++) {
      if (!(await chain[i]!.verify({ publicKey: chain[i + 1]!, signatureOnly: true }))) return undefined;
    }
    const root = chain.at(-1)!;
    return (await root.verify({ signatureOnly: true })) ? chain[0] : undefined;
  }
}

function exportable(event: StoredAuditEvent) {
  return {
    seq: event.seq,
    at: event.at.toISOString(),
    action: event.action,
    actor: event.actor,
    target: event.target,
    outcome: event.outcome,
    details: event.details,
    prevHash: event.prevHash,
    hash: event.hash,
  };
}
