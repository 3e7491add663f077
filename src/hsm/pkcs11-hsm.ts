import type { Capabilities } from "./capabilities.js";
import type { KeyPairs, SecretKeys, SigningKeys, Wrapping } from "./facets.js";
import { Pkcs11KeyPairs } from "./key-pairs.js";
import { Pkcs11SecretKeys } from "./secret-keys.js";
import { Pkcs11SigningKeys } from "./signing-keys.js";
import { type Pkcs11HsmOptions, TokenCore } from "./token-core.js";
import { Pkcs11Wrapping } from "./wrapping.js";

/**
 * The PKCS#11 adapter: a logged-in token (the session core) and its facets. The composition root
 * hands each module the one facet it needs; only health and shutdown stay here.
 */
export class Pkcs11Hsm {
  readonly signingKeys: SigningKeys;
  readonly secretKeys: SecretKeys;
  readonly wrapping: Wrapping;
  /** The KMS's key pairs (objects labelled kms-… only). */
  readonly keyPairs: KeyPairs;

  private constructor(private readonly core: TokenCore) {
    const signingKeys = new Pkcs11SigningKeys(core);
    this.signingKeys = signingKeys;
    this.keyPairs = new Pkcs11KeyPairs(core, signingKeys);
    this.secretKeys = new Pkcs11SecretKeys(core);
    this.wrapping = new Pkcs11Wrapping(core);
  }

  static async open(options: Pkcs11HsmOptions): Promise<Pkcs11Hsm> {
    return new Pkcs11Hsm(await TokenCore.open(options));
  }

  /** Whether an initialised token with this label is in the module's slots now (no login). */
  static tokenPresent(modulePath: string, label: string): boolean {
    return TokenCore.tokenPresent(modulePath, label);
  }

  get tokenLabel(): string {
    return this.core.tokenLabel;
  }

  /** Readiness: the token is present and a session is logged in. */
  ping(): Promise<void> {
    return this.core.ping();
  }

  /** What the token can do and how Keyward uses it (read at open; probes after probe()). */
  capabilities(): Capabilities {
    return this.core.capabilities;
  }

  /** Runs the live probes (creates and destroys keyward-probe objects) and returns the full profile. */
  probe(): Promise<Capabilities> {
    return this.core.probe();
  }

  /** Whether the key the URI names is in this token now (a fresh search, not a cached handle). */
  probeKey(uri: string): Promise<"present" | "missing"> {
    return this.core.probeKey(uri);
  }

  /** Times every token operation (latency and errors by operation), e.g. for Prometheus. */
  instrument(observe: <T>(operation: string, run: () => Promise<T>) => Promise<T>): void {
    this.core.instrument(observe);
  }

  close(): Promise<void> {
    return this.core.close();
  }
}
