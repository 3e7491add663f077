import { createHash } from "node:crypto";
import type { Actor, AuditEvent } from "../audit/index.js";
import { BadRequestError, ConflictError, HsmError, KeywardError } from "../errors/index.js";
import type { Clock } from "../clock/index.js";
import { cmsSignedAttributes, cmsSignedData } from "../pki/cms-signed.js";
import { DerError, NULL, oid, sequence } from "../pki/der.js";
import { ecdsaDerToRaw } from "../pki/ecdsa-signature.js";
import { spkiSha256Hex } from "../pki/spki.js";
import {
  checkDigest,
  derSignature,
  isKeyPair,
  requireKeyPair,
  type SignatureAlgorithm,
  signatureAlgorithmsFor,
  signatureSpec,
  tokenInput,
} from "./key-pairs.js";
import { USES } from "./lifecycle.js";
import type { KeyPairAlgorithm, KeyPairCryptoOps, KeyVersion, ManagedKey, OaepHash } from "./ports.js";
import { type PublicKeyFormat, publicKeyJwk, publicKeyPem, publicKeySsh } from "./public-key.js";
import { primaryVersion, versionOf } from "./versions.js";

/** The largest message `sign` takes whole; longer documents are signed by their digest. */
export const MAX_SIGN_MESSAGE_BYTES = 32_768;

const EC_SIZE: Partial<Record<KeyPairAlgorithm, number>> = { "ECDSA-P256": 32, "ECDSA-P384": 48 };
const RSA_BYTES: Partial<Record<KeyPairAlgorithm, number>> = { "RSA-2048": 256, "RSA-3072": 384, "RSA-4096": 512 };
/** JOSE names of RSA-OAEP by hash (RFC 7518 §4.3). */
export const OAEP_ALGORITHMS: Record<OaepHash, "RSA-OAEP" | "RSA-OAEP-256"> = {
  "SHA-1": "RSA-OAEP",
  "SHA-256": "RSA-OAEP-256",
};

type KeyPair = ManagedKey & { algorithm: KeyPairAlgorithm };

/** What to sign or check: the message itself, or (ECDSA, RSA) its digest made by the caller. */
export type SignInput = { message: Buffer; digest?: undefined } | { digest: Buffer; message?: undefined };

export interface SignResult {
  /** ECDSA: DER Ecdsa-Sig-Value (as openssl and AWS KMS give it); Ed25519 and RSA: the raw signature. */
  signature: Buffer;
  version: number;
  algorithm: SignatureAlgorithm;
  /** "<keyId>/<version>": the JWK's kid. */
  kid: string;
}

/**
 * The data plane of KMS key pairs (issue 24): the public key in PEM, JWK or OpenSSH form; signatures
 * and JWS made in the token by an active version; verification by any version not destroyed; and
 * RSA-OAEP decryption. Every use, and every refused request, is an audit event.
 */
export class KeyPairCrypto {
  constructor(
    private readonly deps: {
      keys: { get(id: string): Promise<ManagedKey> };
      token: KeyPairCryptoOps;
      audit: { record(event: Omit<AuditEvent, "at">): Promise<unknown> };
      onUse?: (use: { keyId: string; operation: string; actor: Actor }) => void;
      /** A certificate and its chain (DER, leaf first) by serial: what CMS signatures carry. */
      certificateChain?: (serial: string) => Promise<Buffer[]>;
      clock: Clock;
    },
  ) {}

  /** A version's public key (default: the primary, else the newest version not destroyed). */
  async publicKey(
    id: string,
    options: { version?: number; format: PublicKeyFormat },
  ): Promise<{
    version: number;
    format: PublicKeyFormat;
    publicKey: string | object;
    kid: string;
    spkiSha256: string;
  }> {
    const key = await this.deps.keys.get(id);
    if (!isKeyPair(key))
      throw new BadRequestError(`key ${key.name} is a ${key.algorithm} secret key: it has no public key`);
    const version =
      options.version !== undefined
        ? versionOf(key, options.version)
        : (primaryVersion(key) ?? [...key.versions].reverse().find((v) => v.publicKey));
    if (!version?.publicKey) throw new ConflictError(`key ${key.name} has no version with a public key`);
    const spki = version.publicKey;
    const kid = `${key.id}/${version.version}`;
    const publicKey =
      options.format === "pem"
        ? publicKeyPem(spki)
        : options.format === "ssh"
          ? publicKeySsh(spki, `${key.name}/v${version.version}`)
          : publicKeyJwk(spki, { kid, use: key.purpose === "decrypt" ? "enc" : "sig", ...jwkAlg(key) });
    return { version: version.version, format: options.format, publicKey, kid, spkiSha256: spkiSha256Hex(spki) };
  }

  /** Signs with the primary version (or the given one, which must be active). */
  async sign(
    id: string,
    request: SignInput & { algorithm?: string; version?: number },
    actor: Actor,
  ): Promise<SignResult> {
    const key = await this.deps.keys.get(id);
    return this.audited(key, "sign", actor, async () => {
      requireKeyPair(key, "sign", "sign");
      const spec = signatureSpec(key as KeyPair, request.algorithm);
      const version = this.signingVersion(key, request.version);
      const input = this.toSign(spec, request);
      const raw = await this.deps.token.sign(version.keyUri, spec.mechanism, input);
      await this.used(key, "sign", actor, {
        version: version.version,
        algorithm: spec.algorithm,
        ...(request.digest ? { digest: request.digest.toString("hex") } : { messageSha256: sha256(request.message!) }),
      });
      return {
        signature: derSignature(spec, raw),
        version: version.version,
        algorithm: spec.algorithm,
        kid: `${key.id}/${version.version}`,
      };
    });
  }

  /**
   * Checks a signature in the token with the given version, or with each version not destroyed
   * (newest first) when none is given; answers which version verified and its state.
   */
  async verify(
    id: string,
    request: SignInput & { signature: Buffer; algorithm?: string; version?: number },
    actor: Actor,
  ): Promise<{ valid: boolean; version: number | null; state: string | null; algorithm: SignatureAlgorithm }> {
    const key = await this.deps.keys.get(id);
    return this.audited(key, "verify", actor, async () => {
      requireKeyPair(key, "sign", "verify");
      const spec = signatureSpec(key as KeyPair, request.algorithm);
      const input = this.toSign(spec, request);
      let candidates: KeyVersion[];
      if (request.version !== undefined) {
        const v = versionOf(key, request.version);
        if (v.state === "destroyed") {
          throw new ConflictError(`version ${v.version} of key ${key.name} is destroyed: it verifies nothing any more`);
        }
        candidates = [v];
      } else {
        candidates = key.versions.filter((v) => v.state !== "destroyed").sort((a, b) => b.version - a.version);
      }
      const size = EC_SIZE[key.algorithm as KeyPairAlgorithm];
      let signature = request.signature;
      if (size) {
        try {
          signature = ecdsaDerToRaw(request.signature, size);
        } catch (error) {
          if (!(error instanceof DerError)) throw error;
          throw new BadRequestError(
            `the signature is not a DER ECDSA signature for ${key.algorithm}: ${error.message}`,
          );
        }
      }
      let found: KeyVersion | undefined;
      for (const v of candidates) {
        if (await this.deps.token.verify(v.keyUri, spec.mechanism, input, signature)) {
          found = v;
          break;
        }
      }
      await this.used(key, "verify", actor, {
        algorithm: spec.algorithm,
        valid: found !== undefined,
        ...(found ? { version: found.version, state: found.state } : {}),
      });
      return {
        valid: found !== undefined,
        version: found?.version ?? null,
        state: found?.state ?? null,
        algorithm: spec.algorithm,
      };
    });
  }

  /**
   * A compact JWS (RFC 7515) of the payload, `kid` "<id>/<version>", signed in the token: any
   * JOSE library verifies it with the public JWK.
   */
  async signJws(
    id: string,
    request: { payload: Buffer; header?: Record<string, unknown>; algorithm?: string },
    actor: Actor,
  ): Promise<{ jws: string; version: number; algorithm: SignatureAlgorithm; kid: string }> {
    const key = await this.deps.keys.get(id);
    return this.audited(key, "sign-jws", actor, async () => {
      requireKeyPair(key, "sign", "sign-jws");
      const reserved = Object.keys(request.header ?? {}).filter((name) => RESERVED_HEADERS.has(name));
      if (reserved.length) {
        throw new BadRequestError(
          `the JWS header may not set ${reserved.join(", ")}: Keyward sets alg and kid, and signs only plain (b64) payloads without crit`,
        );
      }
      const spec = signatureSpec(key as KeyPair, request.algorithm);
      const version = this.signingVersion(key);
      const kid = `${key.id}/${version.version}`;
      const header = { ...request.header, alg: spec.algorithm, kid };
      const signingInput = `${b64u(JSON.stringify(header))}.${request.payload.toString("base64url")}`;
      const bytes = Buffer.from(signingInput, "ascii");
      const input = tokenInput(spec, bytes);
      // JWS ECDSA signatures are r‖s (RFC 7518 §3.4): the token's own form.
      const signature = await this.deps.token.sign(version.keyUri, spec.mechanism, input);
      await this.used(key, "sign-jws", actor, {
        version: version.version,
        algorithm: spec.algorithm,
        messageSha256: sha256(bytes),
      });
      return {
        jws: `${signingInput}.${signature.toString("base64url")}`,
        version: version.version,
        algorithm: spec.algorithm,
        kid,
      };
    });
  }

  /**
   * CMS SignedData (RFC 5652) of the content, signed in the token by the primary version with
   * content type, signing time and message digest as signed attributes, carrying the version's
   * certificate and its chain: `openssl cms -verify -binary -content F -CAfile root.pem` checks it.
   */
  async signCms(
    id: string,
    request: { content: Buffer; detached: boolean },
    actor: Actor,
  ): Promise<{ cms: Buffer; version: number; serial: string }> {
    const key = await this.deps.keys.get(id);
    return this.audited(key, "sign-cms", actor, async () => {
      requireKeyPair(key, "sign", "sign-cms");
      const version = this.signingVersion(key);
      if (!version.certificateSerial || !this.deps.certificateChain) {
        throw new ConflictError(
          `version ${version.version} of key ${key.name} has no certificate: certify it first (POST /api/v1/keys/${key.id}/certificate)`,
        );
      }
      const cms = CMS_ALGORITHMS[key.algorithm as KeyPairAlgorithm];
      const spec = signatureSpec(key as KeyPair, cms.signature);
      const digest = createHash(cms.digest).update(request.content).digest();
      const signedAttributes = cmsSignedAttributes(digest, this.deps.clock.now());
      const input = tokenInput(spec, signedAttributes);
      const raw = await this.deps.token.sign(version.keyUri, spec.mechanism, input);
      const der = cmsSignedData({
        certificates: await this.deps.certificateChain(version.certificateSerial),
        digestAlgorithm: cms.digestAlgorithm,
        signatureAlgorithm: cms.signatureAlgorithm,
        signedAttributes,
        signature: derSignature(spec, raw),
        content: request.detached ? undefined : request.content,
      });
      await this.used(key, "sign-cms", actor, {
        version: version.version,
        algorithm: spec.algorithm,
        contentSha256: sha256(request.content),
        certificate: version.certificateSerial,
      });
      return { cms: der, version: version.version, serial: version.certificateSerial };
    });
  }

  /**
   * RSA-OAEP decryption in the token with the given version (default: the primary); active and
   * deactivated versions decrypt. Any failure to decrypt is one answer, whatever the token said, so
   * the API is no padding oracle.
   */
  async decrypt(
    id: string,
    request: { ciphertext: Buffer; algorithm?: string; version?: number },
    actor: Actor,
  ): Promise<{ plaintext: Buffer; version: number; algorithm: string }> {
    const key = await this.deps.keys.get(id);
    return this.audited(key, "decrypt", actor, async () => {
      requireKeyPair(key, "decrypt", "decrypt");
      const hash = key.oaepHash!;
      const algorithm = OAEP_ALGORITHMS[hash];
      if (request.algorithm !== undefined && request.algorithm !== algorithm) {
        throw new BadRequestError(
          `key ${key.name} decrypts ${algorithm} (OAEP with ${hash}), not ${request.algorithm}: this token ${
            hash === "SHA-1" ? "does RSA-OAEP with SHA-1 only (SoftHSM 2.6)" : "decrypts OAEP with SHA-256"
          }; encrypt with openssl pkeyutl -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:${hash === "SHA-1" ? "sha1" : "sha256"}`,
        );
      }
      const version = request.version !== undefined ? versionOf(key, request.version) : primaryVersion(key);
      if (!version) throw new ConflictError(`key ${key.name} has no active version to decrypt with`);
      if (!USES[version.state].process) {
        throw new ConflictError(`version ${version.version} of key ${key.name} is ${version.state}: it cannot decrypt`);
      }
      const size = RSA_BYTES[key.algorithm as KeyPairAlgorithm]!;
      if (request.ciphertext.length !== size) {
        throw new BadRequestError(
          `an ${key.algorithm} ciphertext is ${size} bytes; this one has ${request.ciphertext.length}`,
        );
      }
      let plaintext: Buffer;
      try {
        plaintext = await this.deps.token.decrypt(version.keyUri, hash, request.ciphertext);
      } catch (error) {
        if (
          error instanceof HsmError &&
          error.ckr &&
          error.ckr !== "CKR_DEVICE_REMOVED" &&
          !/TOKEN|SESSION/.test(error.ckr)
        ) {
          throw new BadRequestError(
            `the ciphertext does not decrypt under version ${version.version} of key ${key.name} with ${algorithm}`,
          );
        }
        throw error;
      }
      await this.used(key, "decrypt", actor, { version: version.version, algorithm });
      return { plaintext, version: version.version, algorithm };
    });
  }

  /** The version that signs: the primary, or the requested one when it is active. */
  private signingVersion(key: ManagedKey, requested?: number): KeyVersion {
    if (requested === undefined) {
      const primary = primaryVersion(key);
      if (!primary) throw new ConflictError(`key ${key.name} has no active version to sign with`);
      return primary;
    }
    const version = versionOf(key, requested);
    if (!USES[version.state].protect) {
      throw new ConflictError(
        `version ${version.version} of key ${key.name} is ${version.state}: only an active version signs`,
      );
    }
    return version;
  }

  /** What the token signs: the caller's digest (checked), the message's digest, or the message (EdDSA). */
  private toSign(spec: ReturnType<typeof signatureSpec>, request: SignInput): Buffer {
    if (request.digest) {
      checkDigest(spec, request.digest);
      return request.digest;
    }
    const message = request.message!;
    if (message.length > MAX_SIGN_MESSAGE_BYTES) {
      throw new BadRequestError(
        `the message is ${message.length} bytes; sign takes at most ${MAX_SIGN_MESSAGE_BYTES}${
          spec.hash ? ": send its digest instead" : ""
        }`,
      );
    }
    return tokenInput(spec, message);
  }

  /** Runs a use of the key; a refused request (4xx) is audited as a failure with its reason. */
  private async audited<T>(key: ManagedKey, operation: string, actor: Actor, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (error instanceof KeywardError && error.isClientError) {
        await this.deps.audit.record({
          action: `key.${operation}`,
          actor,
          target: { type: "key", id: key.id },
          outcome: "failure",
          details: { name: key.name, reason: error.message },
        });
      }
      throw error;
    }
  }

  private async used(
    key: ManagedKey,
    operation: string,
    actor: Actor,
    details: Record<string, string | number | boolean>,
  ) {
    this.deps.onUse?.({ keyId: key.id, operation, actor });
    await this.deps.audit.record({
      action: `key.${operation}`,
      actor,
      target: { type: "key", id: key.id },
      outcome: "success",
      details: { name: key.name, ...details },
    });
  }
}

/** CMS digest and signature algorithms per key (RFC 5754; Ed25519 with SHA-512: RFC 8419 §3). */
const CMS_ALGORITHMS: Record<
  KeyPairAlgorithm,
  { digest: string; signature: SignatureAlgorithm; digestAlgorithm: Buffer; signatureAlgorithm: Buffer }
> = (() => {
  const sha = (n: number) => sequence(oid(`2.16.840.1.101.3.4.2.${n}`));
  const rsa = {
    digest: "sha256",
    signature: "RS256" as const,
    digestAlgorithm: sha(1),
    signatureAlgorithm: sequence(oid("1.2.840.113549.1.1.11"), NULL),
  };
  return {
    "ECDSA-P256": {
      digest: "sha256",
      signature: "ES256",
      digestAlgorithm: sha(1),
      signatureAlgorithm: sequence(oid("1.2.840.10045.4.3.2")),
    },
    "ECDSA-P384": {
      digest: "sha384",
      signature: "ES384",
      digestAlgorithm: sha(2),
      signatureAlgorithm: sequence(oid("1.2.840.10045.4.3.3")),
    },
    Ed25519: {
      digest: "sha512",
      signature: "EdDSA",
      digestAlgorithm: sha(3),
      signatureAlgorithm: sequence(oid("1.3.101.112")),
    },
    "RSA-2048": rsa,
    "RSA-3072": rsa,
    "RSA-4096": rsa,
  };
})();

/** Header members a caller may not set in sign-jws. */
const RESERVED_HEADERS = new Set(["alg", "kid", "crit", "b64", "jwk", "jku", "x5u"]);

/** The JWK `alg` when the key has one algorithm (EC, Ed25519, decrypt); RSA signing keys have six. */
function jwkAlg(key: KeyPair): { alg?: string } {
  if (key.purpose === "decrypt") return { alg: OAEP_ALGORITHMS[key.oaepHash!] };
  const algorithms = signatureAlgorithmsFor(key.algorithm);
  return algorithms.length === 1 ? { alg: algorithms[0]! } : {};
}

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");
const b64u = (text: string) => Buffer.from(text).toString("base64url");
