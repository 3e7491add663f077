import type * as x509 from "@peculiar/x509";
import { X509Certificate } from "@peculiar/x509";
import { addDays, type Clock, wholeSeconds } from "../clock/index.js";
import { type Config, EXTENDED_KEY_USAGES, type Profile } from "../config/schema.js";
import { type Actor, type AuditEvent, SYSTEM_ACTOR } from "../audit/index.js";
import type { Logger } from "pino";
import {
  BadRequestError,
  BlockedKeyError,
  DuplicateSerialError,
  ForbiddenError,
  KeywardError,
  NotFoundError,
  PolicyError,
} from "../errors/index.js";
import { keyFamily } from "../pki/key-types.js";
import { newSerial, normalizeSerial } from "../pki/serial.js";
import { commonNameSubject, leafExtensions } from "../pki/certificate-der.js";
import { describeKey, keyTypeOf, spkiFromDer, spkiSha256Hex } from "../pki/spki.js";
import type { CaRecord, CertificateAuthority } from "../signer/index.js";
import { type ParsedCsr, parseCsr } from "./csr.js";
import { formatName, matchesPattern, type NameConstraints } from "./names.js";
import { applyPolicy, type PolicyDecision } from "./policy.js";
import type { CertificateFilter, CertificateRecord, CertificateStore, OcspPresigner } from "./ports.js";

export interface IssueRequest {
  /** PEM (or DER) PKCS#10, or one parseCsr already decoded and checked (ACME finalize). */
  csr: string | Uint8Array | ParsedCsr;
  profile: string;
  /** Shorter (or, up to the profile's cap, longer) than the profile's default validity. */
  validityDays?: number;
  actor: Actor;
  /** The caller's scopes: profiles it may use and name patterns it may certify (empty: any). */
  scope?: { profiles?: string[]; names?: string[] };
  /** Internal callers (e.g. the OCSP responder) may use internal profiles. */
  allowInternal?: boolean;
}

export interface IssuedCertificate {
  serial: string;
  /** DER. */
  certificate: Buffer;
  notAfter: Date;
  /** Issuing chain, leaf issuer first, without the root. */
  chain: x509.X509Certificate[];
  caId: string;
  profile: string;
}

/** Leaves are backdated a little so clients with a slow clock accept them at once. */
const LEAF_BACKDATE_MS = 60_000;

/** id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1): a certificate no one checks for revocation. */
const OCSP_NOCHECK = "1.3.6.1.5.5.7.48.1.5";

/**
 * The registration authority: applies profiles and policy to a CSR, records the intent, and only
 * then asks the CA to sign (DESIGN.md §3).
 */
export class IssuanceService {
  constructor(
    private readonly deps: {
      ca: CertificateAuthority;
      store: CertificateStore;
      clock: Clock;
      profiles: Config["profiles"];
      forbiddenNames: readonly string[];
      /** The name constraints placed in intermediates (config `ca.nameConstraints`). */
      nameConstraints?: NameConstraints;
      logger?: Logger;
    },
  ) {}

  /** Pre-signs each new certificate's OCSP answer, stored with it (RFC 5019 responders). */
  private ocsp: OcspPresigner | undefined;

  /**
   * The explicit port to the revocation module: the OCSP responder is built after issuance (it
   * issues its own certificate through it), so it is attached once both exist.
   */
  attachOcsp(presigner: OcspPresigner): void {
    this.ocsp = presigner;
  }

  profileNames(includeInternal = false): string[] {
    return Object.entries(this.deps.profiles)
      .filter(([, p]) => includeInternal || !p.internal)
      .map(([name]) => name);
  }

  async issue(request: IssueRequest): Promise<IssuedCertificate> {
    const profile = this.profile(request.profile, request.allowInternal ?? false);
    const allowedProfiles = request.scope?.profiles ?? [];
    if (allowedProfiles.length && !allowedProfiles.includes(request.profile)) {
      throw new ForbiddenError(
        `your scope allows the profiles ${allowedProfiles.join(", ")}, not "${request.profile}"`,
      );
    }
    const csr =
      typeof request.csr === "string" || request.csr instanceof Uint8Array ? await parseCsr(request.csr) : request.csr;
    const issuer = profile.issuer ? await this.deps.ca.get(profile.issuer) : await this.deps.ca.defaultIssuer();
    // Intermediates carry the configured constraints (the root does not).
    const constraints = issuer.kind === "intermediate" ? this.deps.nameConstraints : undefined;
    const decision = applyPolicy(csr, request.profile, profile, this.deps.forbiddenNames, constraints);
    const patterns = request.scope?.names ?? [];
    const outside = patterns.length ? decision.names.filter((n) => !patterns.some((p) => matchesPattern(n, p))) : [];
    if (outside.length) {
      throw new ForbiddenError(
        `your scope does not cover ${outside.map(formatName).join(", ")}; it allows ${patterns.join(", ")}`,
      );
    }
    return this.signAndRecord({
      issuer,
      profileName: request.profile,
      profile,
      decision,
      spki: csr.spki,
      spkiSha256: csr.spkiSha256,
      validityDays: this.validityDays(request, profile),
      actor: request.actor,
      extraExtensions: [],
      presignOcsp: true,
    });
  }

  /**
   * Issues a certificate for a key Keyward holds itself (no CSR), e.g. an OCSP responder key in
   * the token. Same profile, record-then-sign and OCSP path as any certificate.
   */
  async issueForKey(request: {
    caId: string;
    profile: string;
    spki: Buffer;
    commonName: string;
    extensions: x509.Extension[];
  }): Promise<IssuedCertificate> {
    const profile = this.profile(request.profile, true);
    const key = parseSpki(request.spki);
    const keyUsage = Array.isArray(profile.keyUsage) ? profile.keyUsage : profile.keyUsage[keyFamily(key.keyType)];
    if (!keyUsage) throw new PolicyError(`profile "${request.profile}" defines no key usage for ${key.keyType} keys`);
    return this.signAndRecord({
      issuer: await this.deps.ca.get(request.caId),
      profileName: request.profile,
      profile,
      decision: {
        keyType: key.keyType,
        names: [],
        commonName: request.commonName,
        keyUsage,
        extKeyUsage: profile.extKeyUsage.map((e) => EXTENDED_KEY_USAGES[e as keyof typeof EXTENDED_KEY_USAGES] ?? e),
      },
      spki: request.spki,
      spkiSha256: key.spkiSha256,
      validityDays: profile.validityDays,
      // Keyward's own certificates (responder, audit and KMS signers) end with their issuer at the
      // latest, rather than failing when a short-lived intermediate is the issuer.
      capAtIssuer: true,
      actor: SYSTEM_ACTOR,
      extraExtensions: request.extensions,
      // Keyward's own certificates (OCSP responders, id-pkix-ocsp-nocheck) need no pre-signed answer;
      // pre-signing one would also wait on the responder being created here.
      presignOcsp: false,
    });
  }

  private async signAndRecord(input: {
    issuer: CaRecord;
    profileName: string;
    profile: Profile;
    decision: PolicyDecision;
    spki: Buffer;
    spkiSha256: string;
    validityDays: number;
    capAtIssuer?: boolean;
    actor: Actor;
    extraExtensions: x509.Extension[];
    presignOcsp: boolean;
  }): Promise<IssuedCertificate> {
    const { issuer, decision } = input;
    const now = this.deps.clock.now();
    const notBefore = wholeSeconds(new Date(now.getTime() - LEAF_BACKDATE_MS));
    const requested = wholeSeconds(addDays(now, input.validityDays));
    const notAfter = input.capAtIssuer && requested > issuer.notAfter ? issuer.notAfter : requested;
    checkIssuerValidity(issuer, now, notAfter);

    const { profile } = input;
    const extensions = [leafExtensions.basicConstraints(), leafExtensions.keyUsage(decision.keyUsage)];
    if (profile.subjectKeyIdentifier) extensions.push(leafExtensions.subjectKeyIdentifier(input.spki));
    if (decision.extKeyUsage.length) extensions.push(leafExtensions.extendedKeyUsage(decision.extKeyUsage));
    if (profile.policies.length) extensions.push(leafExtensions.certificatePolicies(profile.policies, profile.cpsUri));
    // RFC 5280 §4.2.1.6: with an empty subject the SAN extension must be critical.
    if (decision.names.length) extensions.push(leafExtensions.subjectAltName(decision.names, !decision.commonName));
    extensions.push(...input.extraExtensions.map((e) => Buffer.from(e.rawData)));
    const subject = commonNameSubject(decision.commonName);

    // The line, as Boulder's RA → CA: prepare (policy done above; the CA builds and lints the
    // TBS) → record the intent → sign in the HSM → store with the pre-signed OCSP answer.
    for (let attempt = 0; ; attempt++) {
      const serial = newSerial();
      let recorded = false;
      try {
        const prepared = await this.deps.ca.prepareCertificate(issuer.id, {
          serial,
          subject,
          spki: input.spki,
          notBefore,
          notAfter,
          extensions,
          noRevocationCheck: input.extraExtensions.some((e) => e.type === OCSP_NOCHECK),
        });
        await this.recordIntent(serial, prepared.tbs, { ...input, notBefore, notAfter, at: now });
        recorded = true;
        const certificate = await this.deps.ca.signCertificate(prepared);
        const ocsp = input.presignOcsp ? this.ocsp : undefined;
        const answer = ocsp && (await this.presignedAnswer(ocsp, serial, issuer.id));
        await this.deps.store.markIssued(serial, certificate, answer);
        if (answer) ocsp?.remember(answer);
        const chain = await this.deps.ca.chain(issuer.id);
        return {
          serial,
          certificate,
          notAfter,
          chain: chain.slice(0, -1),
          caId: issuer.id,
          profile: input.profileName,
        };
      } catch (error) {
        // 2^-128 per attempt, but the database is the judge of uniqueness, not this code.
        if (error instanceof DuplicateSerialError && attempt < 3) continue;
        // The database refuses an intent for a blocked key (a key-compromise revocation put it
        // there): checked in the intent's own statement, so no path can skip it and no read precedes it.
        if (error instanceof BlockedKeyError) {
          const since = error.blocked
            ? ` since ${error.blocked.blockedAt.toISOString()} (${error.blocked.reason})`
            : "";
          throw new PolicyError(
            `the CSR's public key (SPKI SHA-256 ${error.spkiSha256}) is blocked${since}; use a new key`,
          );
        }
        if (recorded) {
          const audit: AuditEvent = {
            action: "certificate.issue",
            actor: input.actor,
            target: { type: "certificate", id: serial },
            outcome: "failure",
            details: { error: error instanceof KeywardError ? error.code : "internal" },
            at: this.deps.clock.now(),
          };
          // The original error is what the caller must see; a failed mark leaves a pending intent
          // that abandonStale marks failed later.
          await this.deps.store.markFailed(serial, audit).catch((markError) => {
            this.deps.logger?.error({ err: markError, serial }, "cannot mark a failed issuance; the sweep will");
          });
        }
        throw error;
      }
    }
  }

  /** The intent, with its audit event, durable before the CA key is used. */
  private recordIntent(
    serial: string,
    tbs: Buffer,
    input: {
      issuer: CaRecord;
      profileName: string;
      decision: PolicyDecision;
      spkiSha256: string;
      actor: Actor;
      notBefore: Date;
      notAfter: Date;
      at: Date;
    },
  ): Promise<void> {
    const { issuer, decision } = input;
    const audit: AuditEvent = {
      action: "certificate.issue",
      actor: input.actor,
      target: { type: "certificate", id: serial },
      outcome: "success",
      details: {
        ca: issuer.id,
        profile: input.profileName,
        names: decision.names.map(formatName),
        keyType: decision.keyType,
        spkiSha256: input.spkiSha256,
      },
      at: input.at,
    };
    return this.deps.store.recordIntent(
      {
        serial,
        caId: issuer.id,
        profile: input.profileName,
        subject: decision.commonName ? `CN=${decision.commonName}` : "",
        names: decision.names.map(formatName),
        spkiSha256: input.spkiSha256,
        keyType: decision.keyType,
        notBefore: input.notBefore,
        notAfter: input.notAfter,
        createdAt: input.at,
        requestedBy: input.actor.name,
        tbs,
      },
      audit,
    );
  }

  /**
   * The OCSP answer, pre-signed now to be committed with the certificate. If signing it fails the
   * certificate is still issued: the responder signs on the first request instead.
   */
  private async presignedAnswer(ocsp: OcspPresigner, serial: string, caId: string) {
    try {
      return await ocsp.answerForNew(serial, caId);
    } catch (error) {
      this.deps.logger?.warn({ err: error, serial }, "cannot pre-sign the OCSP answer; it is signed on first request");
      return undefined;
    }
  }

  /**
   * Intents still pending after `minutes` belong to a process that died between recording and
   * storing the signature (e.g. SIGKILL): nobody received that certificate, so it is marked failed.
   */
  async abandonStale(actor: Actor, minutes = 10): Promise<number> {
    const now = this.deps.clock.now();
    const stale = await this.deps.store.stalePending(new Date(now.getTime() - minutes * 60_000));
    for (const serial of stale) {
      await this.deps.store.markFailed(serial, {
        action: "certificate.abandoned",
        actor,
        target: { type: "certificate", id: serial },
        outcome: "failure",
        details: { reason: `still pending after ${minutes} minutes: its issuing process stopped` },
        at: now,
      });
    }
    return stale.length;
  }

  /** The certificate with this serial; NotFoundError when there is none. */
  async get(serial: string): Promise<CertificateRecord> {
    const record = await this.find(serial);
    if (!record) throw new NotFoundError(`no certificate with serial ${serial}`);
    return record;
  }

  /** The certificate with this serial, or undefined; storage failures propagate. */
  find(serial: string): Promise<CertificateRecord | undefined> {
    return this.deps.store.get(normalizeSerial(serial));
  }

  /** The CA's subject key identifier (hex): what certificates it issues carry as AKI. */
  async issuerKeyIdentifier(caId: string): Promise<string | undefined> {
    return (await this.deps.ca.issuerInfo(caId)).keyIdentifier?.toString("hex");
  }

  /** A certificate we issued followed by its CA's chain up to and including the root. */
  async certificateChain(serial: string): Promise<x509.X509Certificate[]> {
    const chain = await this.findCertificateChain(serial);
    if (!chain) throw new NotFoundError(`no certificate with serial ${serial}`);
    return chain;
  }

  /** certificateChain, or undefined when no certificate with this serial was issued. */
  async findCertificateChain(serial: string): Promise<x509.X509Certificate[] | undefined> {
    const record = await this.find(serial);
    if (!record?.certificate) return undefined;
    return [new X509Certificate(new Uint8Array(record.certificate)), ...(await this.deps.ca.chain(record.caId))];
  }

  /** The issuing chain of a CA, leaf issuer first, without the root. */
  async chainOf(caId: string): Promise<x509.X509Certificate[]> {
    return (await this.deps.ca.chain(caId)).slice(0, -1);
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
      throw new PolicyError(
        `validity of ${days} days exceeds the profile's maximum of ${profile.maxValidityDays} days`,
      );
    }
    return days;
  }
}

function parseSpki(spki: Buffer) {
  const key = spkiFromDer(spki);
  const keyType = keyTypeOf(key);
  if (!keyType) throw new PolicyError(`key (${describeKey(key)}) is not accepted`);
  return { keyType, spkiSha256: spkiSha256Hex(spki) };
}

function checkIssuerValidity(issuer: CaRecord, now: Date, notAfter: Date): void {
  if (issuer.revokedAt) throw new PolicyError(`issuing CA "${issuer.id}" is revoked and issues nothing more`);
  if (issuer.notBefore > now) throw new PolicyError(`issuing CA "${issuer.id}" is not valid yet`);
  if (notAfter > issuer.notAfter) {
    throw new PolicyError(
      `the certificate would outlive its issuing CA "${issuer.id}" (valid until ${issuer.notAfter.toISOString()}); request a shorter validity`,
    );
  }
}
