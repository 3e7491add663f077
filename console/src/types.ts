export interface CertificateSummary {
  serial: string;
  status: string;
  profile: string;
  issuer: string;
  subject: string;
  names: string[];
  keyType: string;
  spkiSha256: string;
  notBefore: string;
  notAfter: string;
  createdAt: string;
  requestedBy: string | null;
  revokedAt: string | null;
  revocationReason: string | null;
  invalidityDate: string | null;
}

export interface OcspSummary {
  status: "good" | "revoked" | "unknown" | null;
  thisUpdate: string | null;
  nextUpdate: string | null;
  revokedAt: string | null;
  reason: string | null;
  producedAt?: string | null;
}

export const REVOCATION_REASONS = [
  "unspecified",
  "keyCompromise",
  "affiliationChanged",
  "superseded",
  "cessationOfOperation",
  "certificateHold",
  "privilegeWithdrawn",
] as const;

/** An SSH certificate as GET /api/v1/ssh/certificates lists it. */
export interface SshCertificateSummary {
  serial: string;
  type: "user" | "host";
  keyId: string;
  principals: string[];
  profile: string;
  keyAlgorithm: string;
  fingerprint: string;
  status: string;
  validAfter: string;
  validBefore: string;
  requestedBy: string;
  revokedAt: string | null;
  revocationReason: string | null;
}
