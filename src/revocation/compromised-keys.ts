import type { Actor } from "../audit/index.js";
import type { CertificateRecord } from "../issuance/index.js";
import type { CrlPublisher } from "./crl.js";
import type { OcspAnswerSummary } from "./ocsp-der.js";
import type { OcspResponder } from "./ocsp.js";
import type { BlockedKey } from "./ports.js";
import { type KeyReference, type RevocationService, spkiSha256Of } from "./service.js";

/** Most certificates one key lookup lists; a key on more than this is reported as truncated. */
const MAX_LISTED = 1000;

export interface KeyExposure {
  spkiSha256: string;
  blocked: BlockedKey | null;
  certificates: CertificateRecord[];
  truncated: boolean;
}

export interface CompromiseOutcome {
  spkiSha256: string;
  revoked: string[];
  /** Every certificate with the key, and what OCSP answers for it once the flow is done. */
  certificates: Array<{ serial: string; issuer: string; ocsp: OcspAnswerSummary | null }>;
  /** The CRL signed for each issuer touched, right after the revocations. */
  crls: Array<{ issuer: string; number: number; thisUpdate: Date; nextUpdate: Date }>;
}

/**
 * The compromised-key flow: find every certificate carrying a key, then block it and revoke
 * them all with keyCompromise, and show the evidence (a fresh CRL per issuer, OCSP answers).
 */
export class CompromisedKeys {
  constructor(
    private readonly deps: {
      revocation: RevocationService;
      certificatesWithKey: (spkiSha256: string, limit: number) => Promise<CertificateRecord[]>;
      crl: CrlPublisher;
      ocsp: OcspResponder;
    },
  ) {}

  async find(reference: KeyReference): Promise<KeyExposure> {
    const spkiSha256 = spkiSha256Of(reference);
    const certificates = await this.deps.certificatesWithKey(spkiSha256, MAX_LISTED + 1);
    return {
      spkiSha256,
      blocked: (await this.deps.revocation.isKeyBlocked(spkiSha256)) ?? null,
      certificates: certificates.slice(0, MAX_LISTED),
      truncated: certificates.length > MAX_LISTED,
    };
  }

  async blockAndRevokeAll(reference: KeyReference, actor: Actor): Promise<CompromiseOutcome> {
    const { spkiSha256, revoked } = await this.deps.revocation.blockKey(reference, { revokeAll: true, actor });
    const certificates = (await this.deps.certificatesWithKey(spkiSha256, MAX_LISTED)).filter(
      (c) => c.status === "valid" || c.status === "revoked",
    );
    // Sign each touched issuer's CRL now rather than after the debounce: the operator waits for it.
    const issuers = [...new Set(certificates.filter((c) => revoked.includes(c.serial)).map((c) => c.caId))];
    const crls = [];
    for (const issuer of issuers) {
      const crl = await this.deps.crl.generate(issuer, actor);
      crls.push({ issuer, number: crl.number, thisUpdate: crl.thisUpdate, nextUpdate: crl.nextUpdate });
    }
    const answers = [];
    for (const c of certificates) {
      answers.push({ serial: c.serial, issuer: c.caId, ocsp: (await this.deps.ocsp.answerFor(c.serial)) ?? null });
    }
    return { spkiSha256, revoked, certificates: answers, crls };
  }
}
