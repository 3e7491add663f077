import type { Logger } from "pino";
import type { Actor, AuditEvent } from "../audit/index.js";
import type { Clock } from "../clock/index.js";
import { HsmError, HsmUnsupportedError, NotFoundError } from "../errors/index.js";
import type { Linter } from "../lint/index.js";
import type { KeyType, SigningAlgorithm } from "../pki/key-types.js";
import { spkiSha256Hex } from "../pki/spki.js";
import type { KeyStore } from "./ports.js";

export type SshCaType = "user" | "host";

/** An SSH CA key pair in the token: one signs user certificates, the other host certificates. */
export interface SshCaKeyRecord {
  type: SshCaType;
  keyType: KeyType;
  keyUri: string;
  /** DER SubjectPublicKeyInfo (the OpenSSH blob is derived from it). */
  spki: Buffer;
  createdAt: Date;
}

export interface SshCaKeyStore {
  sshCaKeys(): Promise<SshCaKeyRecord[]>;
  /** Stores the key with its audit event; false (nothing stored) when one of that type exists. */
  insertSshCaKey(record: SshCaKeyRecord, audit: AuditEvent): Promise<boolean>;
}

/** A certificate body linted by the CA, to be recorded and then signed as it is. */
export interface PreparedSshSignature {
  readonly type: SshCaType;
  /** A copy of the exact bytes that will be signed. */
  readonly body: Buffer;
}

/** How long the SSH CA keys read from storage are used before they are read again (as the hierarchy). */
const RELOAD_MS = 30_000;

/**
 * Token errors that mean "this token cannot make that kind of key" (not "the token is broken"):
 * the next candidate type is tried.
 */
const UNSUPPORTED = new Set([
  "CKR_MECHANISM_INVALID",
  "CKR_MECHANISM_PARAM_INVALID",
  "CKR_DOMAIN_PARAMS_INVALID",
  "CKR_CURVE_NOT_SUPPORTED",
  "CKR_ATTRIBUTE_VALUE_INVALID",
  "CKR_TEMPLATE_INCONSISTENT",
  "CKR_KEY_SIZE_RANGE",
]);

/**
 * The SSH side of the CA: like CertificateAuthority, the only user of its keys. It creates the
 * user and host CA keys in the token, lints every certificate body ("ssh-certificate" rules) and
 * signs only what it prepared.
 */
export class SshAuthority {
  private readonly prepared = new WeakMap<PreparedSshSignature, { body: Buffer; algorithm: SigningAlgorithm }>();
  private cached: { keys: SshCaKeyRecord[]; at: number } | undefined;

  constructor(
    private readonly deps: { keys: KeyStore; store: SshCaKeyStore; lint: Linter; clock: Clock; logger?: Logger },
  ) {}

  /**
   * Creates the user and host CA keys that do not exist yet, each of the first candidate type the
   * token can generate. Existing keys are kept (never replaced here).
   */
  async createKeys(
    candidates: KeyType[],
    actor: Actor,
  ): Promise<{ created: SshCaKeyRecord[]; existing: SshCaKeyRecord[] }> {
    const existing = await this.deps.store.sshCaKeys();
    const created: SshCaKeyRecord[] = [];
    for (const type of ["user", "host"] as const) {
      if (existing.some((k) => k.type === type)) continue;
      const { keyType, uri, spki } = await this.generate(candidates, `ssh-${type}-ca`);
      const record: SshCaKeyRecord = { type, keyType, keyUri: uri, spki, createdAt: this.deps.clock.now() };
      const stored = await this.deps.store
        .insertSshCaKey(record, {
          action: "ssh.ca-create",
          actor,
          target: { type: "ssh-ca", id: type },
          outcome: "success",
          details: { keyType, keyUri: uri, spkiSha256: spkiSha256Hex(spki) },
          at: record.createdAt,
        })
        .catch(async (error) => {
          await this.destroy(uri);
          throw error;
        });
      if (stored) created.push(record);
      // Another process created it first: theirs is the CA key; ours goes.
      else await this.destroy(uri);
    }
    this.cached = undefined;
    return { created, existing: await this.keys() };
  }

  async keys(): Promise<SshCaKeyRecord[]> {
    // Another process (`keyward ssh init`) may create them: read again now and then.
    const now = this.deps.clock.now().getTime();
    if (!this.cached || now - this.cached.at > RELOAD_MS)
      this.cached = { keys: await this.deps.store.sshCaKeys(), at: now };
    return this.cached.keys;
  }

  async caKey(type: SshCaType): Promise<SshCaKeyRecord> {
    let key = (await this.keys()).find((k) => k.type === type);
    if (!key) {
      // Created by another process since we read them.
      this.cached = undefined;
      key = (await this.keys()).find((k) => k.type === type);
    }
    if (!key) throw new NotFoundError(`no SSH ${type} CA key exists yet; create it with \`keyward ssh init\``);
    return key;
  }

  /** For the service-key port, which never signs with a CA key (read like the hierarchy: cached, reloaded). */
  async isCaKey(uri: string): Promise<boolean> {
    return (await this.keys()).some((k) => k.keyUri === uri);
  }

  /** Lints a certificate body against the CA key that will sign it; only what this returns is signed. */
  async prepare(type: SshCaType, body: Buffer, algorithm: SigningAlgorithm): Promise<PreparedSshSignature> {
    const key = await this.caKey(type);
    this.deps.lint.check("ssh-certificate", body, { issuer: { spki: key.spki } });
    const prepared: PreparedSshSignature = { type, body: Buffer.from(body) };
    this.prepared.set(prepared, { body: Buffer.from(body), algorithm });
    return prepared;
  }

  /** The raw signature (ECDSA r||s) over a body this authority prepared, byte for byte. */
  async sign(prepared: PreparedSshSignature): Promise<Buffer> {
    const entry = this.prepared.get(prepared);
    if (!entry) throw new Error("SshAuthority.sign takes only what prepare returned");
    this.prepared.delete(prepared);
    const key = await this.caKey(prepared.type);
    return this.deps.keys.sign(key.keyUri, entry.algorithm, entry.body);
  }

  private async generate(candidates: KeyType[], label: string) {
    let last: unknown;
    for (const keyType of candidates) {
      try {
        return { keyType, ...(await this.deps.keys.generateKeyPair(keyType, label)) };
      } catch (error) {
        // The capability profile refuses before generating (HsmUnsupportedError); a token that
        // lists the mechanism but still cannot make the key answers with one of these CKR_ codes.
        const unsupported =
          error instanceof HsmUnsupportedError ||
          (error instanceof HsmError && error.ckr && UNSUPPORTED.has(error.ckr));
        if (!unsupported) throw error;
        this.deps.logger?.info(
          { keyType, ckr: (error as HsmError).ckr },
          "the token cannot generate this SSH CA key type; trying the next",
        );
        last = error;
      }
    }
    throw last;
  }

  private async destroy(uri: string): Promise<void> {
    await this.deps.keys.destroyKeyPair(uri).catch((error) => {
      this.deps.logger?.error({ err: error, keyUri: uri }, "an SSH CA key creation left its key pair in the token");
    });
  }
}
