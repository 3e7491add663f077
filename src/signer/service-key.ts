import type * as x509 from "@peculiar/x509";
import { type AuditEvent, SYSTEM_ACTOR } from "../audit/index.js";
import type { Clock } from "../clock/index.js";

/** A stored service signing key: its URI in the token and its certificate's serial. */
export interface ServiceKeyRecord {
  keyUri: string;
  certificateSerial: string;
}

export interface ServiceKeyStore {
  get(purpose: string): Promise<ServiceKeyRecord | undefined>;
  /** Replaces the key for `purpose` (e.g. after renewal); the last writer wins. */
  put(purpose: string, record: ServiceKeyRecord & { createdAt: Date }, audit: AuditEvent): Promise<void>;
}

const RENEW_BEFORE_MS = 30 * 86_400_000;

/**
 * A key pair in the token that Keyward itself uses (signing the key revocation list, receiving
 * imported keys), whose certificate from our CA chains to the root. Created on first use and
 * replaced in its certificate's last 30 days.
 */
export class ServiceKey {
  private pending: Promise<{ keyUri: string; chain: x509.X509Certificate[] }> | undefined;

  constructor(
    private readonly deps: {
      purpose: string;
      store: ServiceKeyStore;
      clock: Clock;
      generateKeyPair(label: string): Promise<{ uri: string; spki: Buffer }>;
      /** Issues the key's certificate; returns its serial. */
      issue(spki: Buffer): Promise<{ serial: string }>;
      /** The certificate by serial and the chain above it, root last. */
      chain(serial: string): Promise<x509.X509Certificate[]>;
    },
  ) {}

  /** The key and its chain (leaf first, root last). */
  current(): Promise<{ keyUri: string; chain: x509.X509Certificate[] }> {
    this.pending ??= this.load().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  private async load() {
    const existing = await this.deps.store.get(this.deps.purpose);
    if (existing) {
      const chain = await this.deps.chain(existing.certificateSerial);
      if (chain[0]!.notAfter.getTime() - this.deps.clock.now().getTime() > RENEW_BEFORE_MS) {
        return { keyUri: existing.keyUri, chain };
      }
    }
    const { uri, spki } = await this.deps.generateKeyPair(`keyward-${this.deps.purpose}`);
    const { serial } = await this.deps.issue(spki);
    const now = this.deps.clock.now();
    await this.deps.store.put(
      this.deps.purpose,
      { keyUri: uri, certificateSerial: serial, createdAt: now },
      {
        action: "service-key.create",
        actor: SYSTEM_ACTOR,
        target: { type: "service-key", id: this.deps.purpose },
        outcome: "success",
        details: { keyUri: uri, certificateSerial: serial },
        at: now,
      },
    );
    return { keyUri: uri, chain: await this.deps.chain(serial) };
  }
}
