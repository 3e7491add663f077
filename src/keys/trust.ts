import { readFileSync } from "node:fs";
import * as x509 from "@peculiar/x509";
import type { Logger } from "pino";
import { ConfigError } from "../errors/index.js";
import { pemBlocks } from "../pki/pem.js";
import { CrlStatus } from "./crl-status.js";
import { caCertificate, type RecipientTrust } from "./recipients.js";

/** An external CA whose certificates may receive keys (config `kms.trustAnchors`). */
export interface TrustAnchorSettings {
  certFile: string;
  crlUrl?: string;
  crlRefreshSeconds: number;
}

export type TrustAnchor = TrustAnchorSettings & { certificate: x509.X509Certificate };

/** Reads the external trust anchors once, at start: a bad file stops the start with its name. */
export function loadTrustAnchors(anchors: readonly TrustAnchorSettings[]): TrustAnchor[] {
  return anchors.map((anchor) => {
    let certificate: x509.X509Certificate;
    try {
      const der = pemBlocks(readFileSync(anchor.certFile, "utf8"), "CERTIFICATE")[0];
      if (!der) throw new Error("no PEM certificate in it");
      certificate = new x509.X509Certificate(new Uint8Array(der));
    } catch (error) {
      throw new ConfigError(`kms.trustAnchors: cannot use ${anchor.certFile}: ${(error as Error).message}`);
    }
    const constraints = certificate.getExtension(x509.BasicConstraintsExtension);
    if (!constraints?.ca) throw new ConfigError(`kms.trustAnchors: ${anchor.certFile} is not a CA certificate`);
    return { ...anchor, certificate };
  });
}

/**
 * Who may receive keys (distribution) and shares (escrow): certificates of our own CAs, checked
 * against our records, and of the configured external CAs, checked against their CRLs.
 */
export function recipientTrust(deps: {
  cas(): Promise<Array<{ certificate: Buffer; kind: "root" | "intermediate"; revokedAt: Date | null }>>;
  findCertificate(serial: string): Promise<{ status: string; certificate: Buffer | null } | undefined>;
  anchors: readonly TrustAnchor[];
  logger?: Logger;
}): RecipientTrust {
  const externalCrls = new CrlStatus([...deps.anchors], deps.logger);
  return {
    authorities: async () => [
      ...(await deps.cas()).map((record) => ({
        certificate: caCertificate(record.certificate),
        anchor: record.kind === "root",
        revoked: record.revokedAt !== null,
      })),
      ...deps.anchors.map((a) => ({ certificate: a.certificate, anchor: true, revoked: false, external: true })),
    ],
    externalStatus: (issuer, serial, now) => externalCrls.isRevoked(issuer, serial, now),
    certificateStatus: async (serial) => {
      const record = await deps.findCertificate(serial);
      return record && { revoked: record.status === "revoked", der: record.certificate };
    },
  };
}
