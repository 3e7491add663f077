import * as x509 from "@peculiar/x509";
import { addDays, type Clock, wholeSeconds } from "../clock/index.js";
import type { Config, KeyUsageName, Profile } from "../config/schema.js";
import { BadRequestError, NotFoundError, PolicyError } from "../errors/index.js";
import { toArrayBuffer } from "../pki/spki.js";
import type { CaRecord, CertificateAuthority } from "../signer/index.js";
import { randomSerial, signingCrypto } from "../signer/index.js";
import { parseCsr } from "./csr.js";
import { formatName } from "./names.js";
import { applyPolicy } from "./policy.js";
import {
  type CertificateFilter,
  type CertificateRecord,
  type CertificateStore,
  DuplicateSerialError,
} from "./ports.js";

export interface IssueRequest {
  /** PEM (or DER) PKCS#10. */
  csr: string | Uint8Array;
  profile: string;
  /** Shorter (or, up to the profile's cap, longer) than the profile's default validity. */
  validityDays?: number;
  requestedBy?: string;
  /** Internal callers (e.g. the OCSP responder) may use internal profiles. */
  allowInternal?: boolean;
}

export interface IssuedCertificate {
  serial: string;
  certificate: x509.X509Certificate;
  /** Issuing chain, leaf issuer first, without the root. */
  chain: x509.X509Certificate[];
  caId: string;
  profile: string;
}

/** Leaves are backdated a little so clients with a slow clock accept them at once. */
const LEAF_BACKDATE_MS = 60_000;

const KEY_USAGE_FLAGS: Record<KeyUsageName, x509.KeyUsageFlags> = {
  digitalSignature: x509.KeyUsageFlags.digitalSignature,
  nonRepudiation: x509.KeyUsageFlags.nonRepudiation,
  keyEncipherment: x509.KeyUsageFlags.keyEncipherment,
  dataEncipherment: x509.KeyUsageFlags.dataEncipherment,
  keyAgreement: x509.KeyUsageFlags.keyAgreement,
  keyCertSign: x509.KeyUsageFlags.keyCertSign,
  cRLSign: x509.KeyUsageFlags.cRLSign,
  encipherOnly: x509.KeyUsageFlags.encipherOnly,
  decipherOnly: x509.KeyUsageFlags.decipherOnly,
};

/**
 * The registration authority: applies profiles and policy to a CSR, records the intent, and only
 * then asks the CA to sign (DESIGN.md §3).
 */
export class IssuanceService {
  private readonly crypto = signingCrypto();

  constructor(
    private readonly deps: {
      ca: CertificateAuthority;
      store: CertificateStore;
      clock: Clock;
      profiles: Config["profiles"];
      forbiddenNames: readonly string[];
    },
  ) {}

  profileNames(includeInternal = false): string[] {
    return Object.entries(this.deps.profiles)
      .filter(([, p]) => includeInternal || !p.internal)
      .map(([name]) => name);
  }

  async issue(request: IssueRequest): Promise<IssuedCertificate> {
    const profile = this.profile(request.profile, request.allowInternal ?? false);
    const csr = await parseCsr(request.csr);
    const decision = applyPolicy(csr, request.profile, profile, this.deps.forbiddenNames);
    const issuer = profile.issuer ? await this.deps.ca.get(profile.issuer) : await this.deps.ca.defaultIssuer();

    const now = this.deps.clock.now();
    const notBefore = wholeSeconds(new Date(now.getTime() - LEAF_BACKDATE_MS));
    const notAfter = wholeSeconds(addDays(now, this.validityDays(request, profile)));
    checkIssuerValidity(issuer, now, notAfter);

    const extensions: x509.Extension[] = [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        decision.keyUsage.reduce((flags, u) => flags | KEY_USAGE_FLAGS[u], 0),
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(toArrayBuffer(csr.spki), false, this.crypto),
    ];
    if (decision.extKeyUsage.length) extensions.push(new x509.ExtendedKeyUsageExtension(decision.extKeyUsage, false));
    if (decision.names.length) {
      const sans = decision.names.map((n) => ({ type: n.type === "uri" ? "url" : n.type, value: n.value }));
      // RFC 5280 §4.2.1.6: with an empty subject the SAN extension must be critical.
      extensions.push(new x509.SubjectAlternativeNameExtension(sans as x509.JsonGeneralNames, !decision.commonName));
    }
    const subject: x509.JsonName = decision.commonName ? [{ CN: [decision.commonName] }] : [];

    for (let attempt = 0; ; attempt++) {
      const serial = randomSerial();
      let recorded = false;
      try {
        const certificate = await this.deps.ca.sign(
          issuer.id,
          { serial, subject, spki: csr.spki, notBefore, notAfter, extensions },
          async (tbs) => {
            await this.deps.store.recordIntent({
              serial,
              caId: issuer.id,
              profile: request.profile,
              subject: decision.commonName ? `CN=${decision.commonName}` : "",
              names: decision.names.map(formatName),
              spkiSha256: csr.spkiSha256,
              keyType: decision.keyType,
              notBefore,
              notAfter,
              createdAt: now,
              requestedBy: request.requestedBy ?? null,
              tbs: Buffer.from(tbs),
            });
            recorded = true;
          },
        );
        await this.deps.store.markIssued(serial, Buffer.from(certificate.rawData));
        const chain = await this.deps.ca.chain(issuer.id);
        return { serial, certificate, chain: chain.slice(0, -1), caId: issuer.id, profile: request.profile };
      } catch (error) {
        // 2^-128 per attempt, but the database is the judge of uniqueness, not this code.
        if (error instanceof DuplicateSerialError && attempt < 3) continue;
        if (recorded) await this.deps.store.markFailed(serial).catch(() => undefined);
        throw error;
      }
    }
  }

  async get(serial: string): Promise<CertificateRecord> {
    const record = await this.deps.store.get(normalizeSerial(serial));
    if (!record) throw new NotFoundError(`no certificate with serial ${serial}`);
    return record;
  }

  async list(filter: CertificateFilter): Promise<CertificateRecord[]> {
    return this.deps.store.list(filter, this.deps.clock.now());
  }

  private profile(name: string, allowInternal: boolean): Profile {
    const profile = Object.hasOwn(this.deps.profiles, name) ? this.deps.profiles[name] : undefined;
    if (!profile || (profile.internal && !allowInternal)) {
      throw new BadRequestError(`unknown profile "${name}"; profiles are ${this.profileNames().join(", ")}`);
    }
    return profile;
  }

  private validityDays(request: IssueRequest, profile: Profile): number {
    const days = request.validityDays ?? profile.validityDays;
    if (!Number.isInteger(days) || days < 1) throw new BadRequestError("validityDays must be a positive whole number");
    if (days > profile.maxValidityDays) {
      throw new PolicyError(`validity of ${days} days exceeds the profile's maximum of ${profile.maxValidityDays} days`);
    }
    return days;
  }
}

/** Accepts the forms people paste (uppercase, colon-separated) and returns lowercase hex. */
export function normalizeSerial(serial: string): string {
  const hex = serial.replaceAll(":", "").toLowerCase();
  if (!/^[0-9a-f]{1,40}$/.test(hex)) throw new BadRequestError(`"${serial.slice(0, 64)}" is not a hexadecimal serial number`);
  return hex;
}

function checkIssuerValidity(issuer: CaRecord, now: Date, notAfter: Date): void {
  if (issuer.notBefore > now) throw new PolicyError(`issuing CA "${issuer.id}" is not valid yet`);
  if (notAfter > issuer.notAfter) {
    throw new PolicyError(
      `the certificate would outlive its issuing CA "${issuer.id}" (valid until ${issuer.notAfter.toISOString()}); request a shorter validity`,
    );
  }
}
