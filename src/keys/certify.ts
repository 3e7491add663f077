import type { Logger } from "pino";
import type { Actor } from "../audit/index.js";
import type { Clock } from "../clock/index.js";
import { BadRequestError, ConflictError } from "../errors/index.js";
import { NULL, oid, sequence } from "../pki/der.js";
import { certificationRequest, certificationRequestInfo } from "../pki/pkcs10.js";
import { derSignature, isKeyPair, type SignatureAlgorithm, signatureSpec, tokenInput } from "./key-pairs.js";
import { USES } from "./lifecycle.js";
import type { KeyPairAlgorithm, KeyPairCryptoOps, KeyStore, KeyVersion, ManagedKey } from "./ports.js";
import { keyEvent, primaryVersion, versionOf } from "./versions.js";

/** Normal issuance as the KMS uses it: a CSR through profiles, policy, lint and audit; revocation. */
export interface KeyCertificateIssuer {
  issue(
    csr: Buffer,
    profile: string,
    actor: Actor,
    scope?: { profiles?: string[]; names?: string[] },
  ): Promise<{ serial: string; certificate: Buffer; chain: Buffer[]; notAfter: Date }>;
  /** A certificate and its issuing chain by serial (DER, leaf first). */
  chain(serial: string): Promise<Buffer[]>;
  /** Revokes with keyCompromise (which also blocks the key); already revoked is no error. */
  revokeForCompromise(serial: string, actor: Actor): Promise<void>;
}

export interface CertifyRequest {
  profile: string;
  /** The subject CN (default: the key's name). */
  subject?: string;
  sans?: Array<{ type: "dns" | "email" | "uri" | "ip"; value: string }>;
  /** Default: the primary version. */
  version?: number;
  /** Also certify each future version with this profile when the key rotates. */
  certifyOnRotate?: boolean;
}

export interface CertifyResult {
  keyId: string;
  version: number;
  serial: string;
  /** DER certificate and its chain (issuer first, without the root). */
  certificate: Buffer;
  chain: Buffer[];
  notAfter: Date;
}

/** The CSR's signature: the key's first algorithm (RSA: RS256), DER AlgorithmIdentifier. */
const CSR_SIGNATURE: Partial<Record<SignatureAlgorithm, Buffer>> = {
  ES256: sequence(oid("1.2.840.10045.4.3.2")),
  ES384: sequence(oid("1.2.840.10045.4.3.3")),
  EdDSA: sequence(oid("1.3.101.112")),
  RS256: sequence(oid("1.2.840.113549.1.1.11"), NULL),
};

/**
 * Certificates for KMS key pairs under Keyward's CA (issue 24): a CSR signed in the token by the
 * version itself, issued through normal issuance and recorded on the version; a compromised
 * version's certificate is revoked for keyCompromise.
 */
export class KeyCertification {
  constructor(
    private readonly deps: {
      keys: { get(id: string): Promise<ManagedKey> };
      store: Pick<KeyStore, "setVersionCertificate" | "setCertifyProfile">;
      token: Pick<KeyPairCryptoOps, "sign">;
      issuer?: KeyCertificateIssuer;
      clock: Clock;
      logger?: Logger;
    },
  ) {}

  async certify(
    id: string,
    request: CertifyRequest,
    actor: Actor,
    scope?: { profiles?: string[]; names?: string[] },
  ): Promise<CertifyResult> {
    const key = await this.deps.keys.get(id);
    const issuer = this.deps.issuer;
    if (!issuer) throw new ConflictError("certifying KMS keys is not configured on this server");
    if (!isKeyPair(key))
      throw new BadRequestError(`key ${key.name} is a ${key.algorithm} secret key: only key pairs are certified`);
    if (key.purpose !== "sign") {
      throw new BadRequestError(
        `key ${key.name} is a decrypt key pair: it cannot sign the certificate request that proves it holds the key`,
      );
    }
    const version = request.version !== undefined ? versionOf(key, request.version) : primaryVersion(key);
    if (!version) throw new ConflictError(`key ${key.name} has no active version to certify`);
    if (!USES[version.state].protect) {
      throw new ConflictError(
        `version ${version.version} of key ${key.name} is ${version.state}: only an active version is certified`,
      );
    }
    const csr = await this.csrFor(key as ManagedKey & { algorithm: KeyPairAlgorithm }, version, request);
    const issued = await issuer.issue(csr, request.profile, actor, scope);
    const now = this.deps.clock.now();
    await this.deps.store.setVersionCertificate(
      key.id,
      version.version,
      issued.serial,
      keyEvent("key.certify", key, actor, now, {
        version: version.version,
        serial: issued.serial,
        profile: request.profile,
      }),
    );
    if (request.certifyOnRotate !== undefined) {
      const profile = request.certifyOnRotate ? request.profile : null;
      if (profile !== key.certifyProfile) {
        await this.deps.store.setCertifyProfile(
          key.id,
          profile,
          keyEvent("key.policy", key, actor, now, { certifyOnRotate: profile ?? "off" }),
        );
      }
    }
    return { keyId: key.id, version: version.version, ...issued };
  }

  /** After a rotation: certifies the new primary version of a key that asks for it. */
  async certifyNewVersion(keyId: string, actor: Actor): Promise<void> {
    const key = await this.deps.keys.get(keyId);
    const primary = primaryVersion(key);
    if (!key.certifyProfile || !primary || primary.certificateSerial) return;
    await this.certify(key.id, { profile: key.certifyProfile, version: primary.version }, actor);
  }

  /** A compromised version's certificate is revoked for keyCompromise (blocking the key too). */
  async revokeCompromised(version: KeyVersion, actor: Actor): Promise<void> {
    if (!version.certificateSerial || !this.deps.issuer) return;
    await this.deps.issuer.revokeForCompromise(version.certificateSerial, actor);
  }

  private async csrFor(
    key: ManagedKey & { algorithm: KeyPairAlgorithm },
    version: KeyVersion,
    request: CertifyRequest,
  ): Promise<Buffer> {
    const spec = signatureSpec(key, key.algorithm.startsWith("RSA") ? "RS256" : undefined);
    const info = certificationRequestInfo(request.subject ?? key.name, version.publicKey!, request.sans ?? []);
    const raw = await this.deps.token.sign(version.keyUri, spec.mechanism, tokenInput(spec, info));
    return certificationRequest(info, CSR_SIGNATURE[spec.algorithm]!, derSignature(spec, raw));
  }
}
