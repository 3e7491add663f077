import { createPublicKey, verify as verifySignature } from "node:crypto";
import type * as x509 from "@peculiar/x509";
import type { Logger } from "pino";
import type { Clock } from "../clock/index.js";
import { NotFoundError } from "../errors/index.js";
import { ecdsaRawToDer } from "../pki/ecdsa-signature.js";
import { checkpointMessage, type AuditEvent, type StoredAuditEvent } from "./event.js";
import type { AuditCheckpoint, AuditFilter, AuditStore } from "./ports.js";
import { type AuditVerification, verifyAuditChain } from "./verify.js";

/** What the audit log needs from the token: a P-256 key pair it signs checkpoints with. */
export interface AuditKeys {
  generateKeyPair(keyType: "p256", label: string): Promise<{ uri: string; spki: Buffer }>;
  sign(uri: string, algorithm: { name: "ECDSA"; hash: "SHA-256" }, data: Uint8Array): Promise<Buffer>;
}

export interface AuditSettings {
  /** Sign a checkpoint once this many events were added since the last one… */
  checkpointEvents: number;
  /** …or when this many seconds passed and there is anything new. */
  checkpointSeconds: number;
}

/**
 * The tamper-evident audit log (DESIGN.md §6). Events of state changes are written by the stores
 * inside the change's own transaction; this service records the rest (logins, denied requests),
 * signs checkpoints with an HSM key whose certificate chains to our root, and verifies the chain.
 */
export class AuditLog {
  private timer: NodeJS.Timeout | undefined;
  private signing: Promise<AuditCheckpoint | undefined> | undefined;

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
  ) {}

  /** For events that are not part of a data change (their own transaction). Fails closed: throws. */
  record(event: Omit<AuditEvent, "at">): Promise<StoredAuditEvent> {
    return this.deps.store.append({ ...event, at: this.deps.clock.now() });
  }

  search(filter: AuditFilter): Promise<StoredAuditEvent[]> {
    return this.deps.store.search(filter);
  }

  /** Signs the current head unless the last checkpoint already covers it. */
  checkpoint(): Promise<AuditCheckpoint | undefined> {
    this.signing ??= this.signHead().finally(() => {
      this.signing = undefined;
    });
    return this.signing;
  }

  private async signHead(): Promise<AuditCheckpoint | undefined> {
    const head = await this.deps.store.head();
    const last = (await this.deps.store.checkpoints()).at(-1);
    if (head.seq === 0 || (last && last.seq >= head.seq)) return undefined;
    const key = await this.key();
    const at = this.deps.clock.now();
    const raw = await this.deps.keys.sign(
      key.keyUri,
      { name: "ECDSA", hash: "SHA-256" },
      checkpointMessage({ seq: head.seq, hash: head.hash, at }),
    );
    const checkpoint = { ...head, at, signature: ecdsaRawToDer(raw), signerSerial: key.certificateSerial };
    await this.deps.store.saveCheckpoint(checkpoint);
    return checkpoint;
  }

  /**
   * The audit key, created in the token with its certificate on first use and replaced by a new
   * one in its certificate's last 30 days; old checkpoints keep naming the signer they used.
   */
  private async key() {
    const existing = await this.deps.store.auditKey();
    if (existing) {
      const chain = await this.deps.certificateChain(existing.certificateSerial);
      // Our own key's certificate gone from the database is damage to report, not a reason to renew.
      if (!chain) throw new NotFoundError(`no certificate with serial ${existing.certificateSerial}`);
      const renewBy = this.deps.clock.now().getTime() + 30 * 86_400_000;
      if (chain[0]!.notAfter.getTime() > renewBy) return existing;
    }
    const { uri, spki } = await this.deps.keys.generateKeyPair("p256", "keyward-audit");
    const issued = await this.deps.issueAuditCertificate(spki);
    return this.deps.store.saveAuditKey({
      keyUri: uri,
      certificateSerial: issued.serial,
      createdAt: this.deps.clock.now(),
    });
  }

  /** Proves the chain and every checkpoint, naming the first altered or missing event. */
  async verify(): Promise<AuditVerification & { signers: string[] }> {
    const checkpoints = await this.deps.store.checkpoints();
    const signers = new Map<string, x509.X509Certificate | undefined>();
    for (const serial of new Set(checkpoints.map((c) => c.signerSerial))) {
      signers.set(serial, await this.trustedSigner(serial));
    }
    const result = await verifyAuditChain({
      page: (afterSeq) => this.deps.store.page(afterSeq, 1000),
      head: await this.deps.store.head(),
      checkpoints,
      checkSignature: async (c) => {
        const signer = signers.get(c.signerSerial);
        if (!signer) return false;
        const key = createPublicKey({ key: Buffer.from(signer.publicKey.rawData), format: "der", type: "spki" });
        return verifySignature("sha256", checkpointMessage(c), key, c.signature);
      },
    });
    return { ...result, signers: [...signers.keys()] };
  }

  /** JSON Lines of every event, then the checkpoints and the signer chain: enough to verify offline. */
  async *export(): AsyncGenerator<string> {
    let after = 0;
    for (;;) {
      const page = await this.deps.store.page(after, 1000);
      if (page.length === 0) break;
      for (const event of page) yield `${JSON.stringify({ type: "event", ...exportable(event) })}\n`;
      after = page.at(-1)!.seq;
    }
    for (const c of await this.deps.store.checkpoints()) {
      const chain = (await this.deps.certificateChain(c.signerSerial)) ?? [];
      yield `${JSON.stringify({
        type: "checkpoint",
        seq: c.seq,
        hash: c.hash,
        at: c.at.toISOString(),
        signature: c.signature.toString("base64"),
        signerSerial: c.signerSerial,
        chain: chain.map((cert) => cert.toString("pem")),
      })}\n`;
    }
  }

  /** Checkpoints on a timer and after bursts; a failure is logged and retried on the next tick. */
  start(): void {
    const tick = async () => {
      const head = await this.deps.store.head();
      const last = (await this.deps.store.checkpoints()).at(-1);
      const pending = head.seq - (last?.seq ?? 0);
      const age = this.deps.clock.now().getTime() - (last?.at.getTime() ?? 0);
      if (
        pending >= this.deps.settings.checkpointEvents ||
        (pending > 0 && age >= this.deps.settings.checkpointSeconds * 1000)
      ) {
        await this.checkpoint();
      }
    };
    this.timer = setInterval(() => {
      tick().catch((error) => this.deps.logger?.error({ err: error }, "audit checkpoint failed"));
    }, 5_000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
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
