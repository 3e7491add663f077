import { createHash } from "node:crypto";
import type * as x509 from "@peculiar/x509";
import type { Clock } from "../clock/index.js";
import type { KeyType } from "../pki/key-types.js";
import { spkiSha256Hex } from "../pki/spki.js";
import { jwsAlgorithmFor } from "../pki/statement-signature.js";
import type { ManagedKey } from "./ports.js";

export interface RevokedKeyEntry {
  /** As in the `kid` of ciphertexts and the `kw-kid` of distributions: "<keyId>/<version>". */
  kid: string;
  keyId: string;
  name: string;
  version: number;
  state: "compromised" | "destroyed";
  spkiSha256?: string;
  destroyedAt?: string;
}

/** A service key that signs statements with its own type's algorithm (ECDSA as raw r‖s, as JWS wants it). */
export interface StatementSigner {
  current(): Promise<{ keyUri: string; keyType: KeyType; chain: x509.X509Certificate[] }>;
  sign(key: { keyUri: string; keyType: KeyType }, data: Buffer): Promise<Buffer>;
}

const b64u = (value: Buffer | string) => Buffer.from(value).toString("base64url");

/**
 * The key revocation list (GET /kms/revoked): every compromised or destroyed key version, as a
 * compact JWS by a service key (ES256 on most tokens; the key's own type where the token has no EC: RS256) whose certificate chain (x5c, leaf first, without the root)
 * leads to our root. Holders of distributed keys fetch it to learn which keys to stop using.
 * Re-signed when the list changes or at half its lifetime.
 */
export class RevokedKeyList {
  private cached: { jws: string; digest: string; issuedAt: number; nextUpdate: Date } | undefined;
  private signing: Promise<{ jws: string; nextUpdate: Date }> | undefined;

  constructor(
    private readonly deps: {
      keys: { list(): Promise<ManagedKey[]> };
      signer: StatementSigner;
      clock: Clock;
      validityHours: number;
      issuer: string;
    },
  ) {}

  async current(): Promise<{ jws: string; nextUpdate: Date }> {
    const entries = revokedEntries(await this.deps.keys.list());
    const digest = createHash("sha256").update(JSON.stringify(entries)).digest("hex");
    const now = this.deps.clock.now().getTime();
    const halfLife = (this.deps.validityHours * 3_600_000) / 2;
    const cached = this.cached;
    if (cached && cached.digest === digest && now - cached.issuedAt < halfLife) return cached;
    this.signing ??= this.sign(entries, digest).finally(() => {
      this.signing = undefined;
    });
    return this.signing;
  }

  private async sign(entries: RevokedKeyEntry[], digest: string) {
    const key = await this.deps.signer.current();
    const { chain } = key;
    const issuedAt = this.deps.clock.now();
    const nextUpdate = new Date(issuedAt.getTime() + this.deps.validityHours * 3_600_000);
    const header = {
      alg: jwsAlgorithmFor(key.keyType),
      typ: "keyward-revoked-keys+jws",
      x5c: chain.slice(0, -1).map((c) => Buffer.from(c.rawData).toString("base64")),
    };
    const payload = {
      iss: this.deps.issuer,
      issuedAt: issuedAt.toISOString(),
      nextUpdate: nextUpdate.toISOString(),
      keys: entries,
    };
    const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(payload))}`;
    const signature = await this.deps.signer.sign(key, Buffer.from(input, "ascii"));
    const jws = `${input}.${b64u(signature)}`;
    this.cached = { jws, digest, issuedAt: issuedAt.getTime(), nextUpdate };
    return { jws, nextUpdate };
  }
}

export function revokedEntries(keys: ManagedKey[]): RevokedKeyEntry[] {
  const entries: RevokedKeyEntry[] = [];
  for (const key of keys) {
    for (const v of key.versions) {
      if (v.state !== "compromised" && v.state !== "destroyed") continue;
      entries.push({
        kid: `${key.id}/${v.version}`,
        keyId: key.id,
        name: key.name,
        version: v.version,
        state: v.state,
        // A key pair's public key, so holders of its signatures know which key to distrust.
        ...(v.publicKey ? { spkiSha256: spkiSha256Hex(v.publicKey) } : {}),
        ...(v.destroyedAt ? { destroyedAt: v.destroyedAt.toISOString() } : {}),
      });
    }
  }
  return entries.sort((a, b) => a.kid.localeCompare(b.kid));
}
