import { ConfigError, ConflictError, HsmError } from "../errors/index.js";
import type { KeyType, SigningAlgorithm } from "../pki/key-types.js";
import type { GeneratedKeyPair, KeyAttributes, SigningKeys } from "./facets.js";
import { readPin } from "./pin.js";
import { Pkcs11Hsm } from "./pkcs11-hsm.js";
import { parsePkcs11Uri } from "./uri.js";

/** Where a key stands (TokenSet.probeKey). */
export type KeyProbe =
  | { state: "present" | "missing"; token: string }
  | { state: "offline"; token: string; attached: boolean };

export interface OfflineTokenOptions {
  /** Module of offline tokens (a separate USB HSM in production; the same SoftHSM2 module in tests). */
  modulePath: string;
  /** `file:` or `env:` source of the offline token's own PIN (never the online PIN). */
  pinSource: string;
  /** Page that explains attaching the token, named in the error when it is missing. */
  help: string;
}

/**
 * The online token plus tokens that are attached only for a ceremony (the offline root). Keys are
 * found by the token named in their pkcs11: URI: keys of the online token are used at once; an
 * offline token is opened the first time one of its keys is needed, and when it is not attached
 * the operation fails with a clear error instead of the server failing to start.
 */
export class TokenSet implements SigningKeys {
  private readonly offline = new Map<string, Promise<Pkcs11Hsm>>();
  /** Key URI → its token's label: every signature asks, and parsing the URI each time showed in profiles. */
  private readonly labels = new Map<string, string | undefined>();

  constructor(
    readonly online: Pkcs11Hsm,
    private readonly options: OfflineTokenOptions,
  ) {}

  /** Opens (once) the offline token with this label; fails when it is not attached or its PIN is missing. */
  attach(label: string): Promise<Pkcs11Hsm> {
    if (label === this.online.tokenLabel) return Promise.resolve(this.online);
    let opening = this.offline.get(label);
    if (!opening) {
      opening = this.open(label);
      // A failed attempt is not remembered: the operator may attach the token and retry.
      opening.catch(() => this.offline.delete(label));
      this.offline.set(label, opening);
    }
    return opening;
  }

  /** Whether a token with this label is attached now (without logging in). */
  isAttached(label: string): boolean {
    return label === this.online.tokenLabel || Pkcs11Hsm.tokenPresent(this.options.modulePath, label);
  }

  /** Checks a key type against the online token (an offline token is checked when it is attached). */
  checkKeyType(keyType: KeyType): void {
    this.online.signingKeys.checkKeyType(keyType);
  }

  /** Checks a key type against the named token, attaching it when it is offline. */
  async checkKeyTypeOn(token: string, keyType: KeyType): Promise<void> {
    (await this.attach(token)).signingKeys.checkKeyType(keyType);
  }

  /**
   * Where the key the URI names stands now: in its token, missing from it, or on an offline token
   * that is not open in this process (by design until a ceremony attaches it).
   */
  async probeKey(uri: string): Promise<KeyProbe> {
    const label = parsePkcs11Uri(uri).token ?? this.online.tokenLabel;
    if (label === this.online.tokenLabel) return { state: await this.online.probeKey(uri), token: label };
    const opened = this.offline.get(label);
    const token = opened && (await opened.catch(() => undefined));
    if (!token) return { state: "offline", token: label, attached: this.isAttached(label) };
    return { state: await token.probeKey(uri), token: label };
  }

  /** Generates a key pair in the online token. */
  generateKeyPair(keyType: KeyType, label: string, usage?: "sign" | "unwrap"): Promise<GeneratedKeyPair> {
    return this.online.signingKeys.generateKeyPair(keyType, label, usage);
  }

  /** Generates a signing key pair in the named (offline) token, e.g. a root's at a ceremony. */
  async generateKeyPairOn(token: string, keyType: KeyType, label: string): Promise<GeneratedKeyPair> {
    return (await this.attach(token)).signingKeys.generateKeyPair(keyType, label);
  }

  async publicKey(uri: string): Promise<Buffer> {
    return (await this.keysOf(uri)).publicKey(uri);
  }

  async sign(uri: string, algorithm: SigningAlgorithm, data: Uint8Array): Promise<Buffer> {
    return (await this.keysOf(uri)).sign(uri, algorithm, data);
  }

  async keyAttributes(uri: string): Promise<KeyAttributes> {
    return (await this.keysOf(uri)).keyAttributes(uri);
  }

  async destroyKeyPair(uri: string): Promise<void> {
    return (await this.keysOf(uri)).destroyKeyPair(uri);
  }

  /** Closes the offline tokens (the online one is closed by its owner). */
  async close(): Promise<void> {
    const opened = [...this.offline.values()];
    this.offline.clear();
    // A token that failed to open has nothing to close (its error went to whoever needed it).
    for (const opening of opened) await (await opening.catch(() => undefined))?.close();
  }

  private async keysOf(uri: string): Promise<SigningKeys> {
    let label = this.labels.get(uri);
    if (label === undefined && !this.labels.has(uri)) {
      label = parsePkcs11Uri(uri).token;
      // Bounded by the keys Keyward signs with; KMS key pairs come and go, so start over past a size.
      if (this.labels.size >= 10_000) this.labels.clear();
      this.labels.set(uri, label);
    }
    return (label === undefined ? this.online : await this.attach(label)).signingKeys;
  }

  private async open(label: string): Promise<Pkcs11Hsm> {
    if (!Pkcs11Hsm.tokenPresent(this.options.modulePath, label)) {
      // A conflict, not an outage: the key is offline by design until the ceremony attaches it.
      throw new ConflictError(
        `the offline token "${label}" is not attached (module ${this.options.modulePath}); ` +
          `this operation needs a key on it (the root's, with an offline root): attach the token for a ceremony and run it there (${this.options.help})`,
      );
    }
    let pin: string;
    try {
      pin = readPin(this.options.pinSource);
    } catch (error) {
      throw new ConfigError(`offline token "${label}": ${(error as Error).message}`, error);
    }
    try {
      // One session is enough: ceremonies sign a handful of objects.
      return await Pkcs11Hsm.open({ modulePath: this.options.modulePath, tokenLabel: label, pin, sessions: 1 });
    } catch (error) {
      // Name the token: the operator has two PINs at hand during a ceremony.
      if (error instanceof HsmError) {
        const Kind = error.constructor as new (message: string, options: object) => HsmError;
        throw new Kind(`offline token "${label}": ${error.message}`, {
          ckr: error.ckr,
          cause: error,
          context: error.context,
        });
      }
      throw error;
    }
  }
}
