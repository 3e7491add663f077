import { createPublicKey } from "node:crypto";
import * as x509 from "@peculiar/x509";
import type { JWK } from "jose";
import type { Actor } from "../audit/index.js";
import { RevocationReasonError } from "../errors/index.js";
import { reasonName, type RevokeRequest } from "../revocation/index.js";
import type { AcmeAccount, AcmeOrderStore } from "./ports.js";
import { AcmeError } from "./problems.js";
import type { AcmeCertificates } from "./renewals.js";
import { acmeActor } from "./service.js";

/** Reasons a subscriber may give over ACME (RFC 8555 §7.6 with RFC 5280 codes); certificateHold is not one. */
export const ACME_REVOCATION_REASONS = [0, 1, 3, 4, 5, 9] as const;
export type AcmeRevocationReason = (typeof ACME_REVOCATION_REASONS)[number];

/** A revokeCert request as the edge checked it: the certificate's DER and an allowed reason. */
export interface RevokeCertRequest {
  certificate: Buffer;
  reason: AcmeRevocationReason;
}

const CERTIFICATE_KEY_ACTOR: Actor = { id: "acme:certificate-key", name: "acme:certificate-key", kind: "acme" };

/**
 * RFC 8555 §7.6: revoke by the account that ordered the certificate (kid) or by the holder of
 * the certificate's key (jwk).
 */
export class AcmeRevocation {
  constructor(
    private readonly deps: {
      store: Pick<AcmeOrderStore, "accountOwnsCertificate">;
      certificates: Pick<AcmeCertificates, "findCertificate">;
      revoke(request: RevokeRequest): Promise<unknown>;
    },
  ) {}

  async revokeCertificate(auth: { account?: AcmeAccount; jwk: JWK }, request: RevokeCertRequest): Promise<void> {
    const der = request.certificate;
    let parsed: x509.X509Certificate;
    try {
      parsed = new x509.X509Certificate(new Uint8Array(der));
    } catch {
      throw new AcmeError("malformed", "the certificate is not a DER X.509 certificate");
    }
    const serial = parsed.serialNumber.toLowerCase().replace(/^(00)+/, "");
    const record = await this.deps.certificates.findCertificate(serial);
    if (!record?.certificate?.equals(der)) {
      throw new AcmeError("malformed", "this server did not issue that certificate", undefined, 404);
    }
    if (auth.account) {
      if (!(await this.deps.store.accountOwnsCertificate(auth.account.id, serial))) {
        throw new AcmeError("unauthorized", "this account did not order that certificate");
      }
    } else {
      const spki = createPublicKey({ key: auth.jwk as never, format: "jwk" }).export({ type: "spki", format: "der" });
      if (!spki.equals(Buffer.from(parsed.publicKey.rawData))) {
        throw new AcmeError("unauthorized", "the JWS is not signed by the certificate's key");
      }
    }
    if (record.status === "revoked") throw new AcmeError("alreadyRevoked", `certificate ${serial} is already revoked`);
    try {
      await this.deps.revoke({
        serial,
        reason: reasonName(request.reason)!,
        actor: auth.account ? acmeActor(auth.account.id) : CERTIFICATE_KEY_ACTOR,
      });
    } catch (error) {
      // The certificate's profile allows fewer reasons than RFC 8555 does (a custom profile).
      if (error instanceof RevocationReasonError) {
        throw new AcmeError("badRevocationReason", error.message, error.extensions);
      }
      throw error;
    }
  }
}
