import * as x509 from "@peculiar/x509";
import type { Logger } from "pino";

const MAX_CRL_BYTES = 20 * 1024 * 1024;

/**
 * Revocation status of certificates from external CAs (kms.trustAnchors), from their CRLs: fetched
 * over HTTP, accepted only when signed by the CA and current, kept for `refreshSeconds` (never
 * past nextUpdate). Unknown (undefined) when there is no CRL URL or no current, valid CRL.
 */
export class CrlStatus {
  private readonly cache = new Map<string, { crl: x509.X509Crl; until: number }>();

  constructor(
    private readonly anchors: Array<{ certificate: x509.X509Certificate; crlUrl?: string; crlRefreshSeconds: number }>,
    private readonly logger?: Logger,
  ) {}

  async isRevoked(issuer: x509.X509Certificate, serial: string, now: Date): Promise<boolean | undefined> {
    const anchor = this.anchors.find((a) => a.certificate.equal(issuer));
    if (!anchor?.crlUrl) return undefined;
    const crl = await this.current(anchor.crlUrl, issuer, anchor.crlRefreshSeconds, now);
    if (!crl) return undefined;
    return crl.entries.some((entry) => entry.serialNumber.toLowerCase().replace(/^(00)+(?=.)/, "") === serial);
  }

  private async current(url: string, issuer: x509.X509Certificate, refreshSeconds: number, now: Date) {
    const cached = this.cache.get(url);
    if (cached && now.getTime() < cached.until) return cached.crl;
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const body = Buffer.from(await response.arrayBuffer());
      if (body.length > MAX_CRL_BYTES) throw new Error("the CRL is too large");
      const crl = new x509.X509Crl(new Uint8Array(body));
      if (crl.issuer !== issuer.subject) throw new Error(`the CRL is issued by "${crl.issuer}"`);
      if (!(await crl.verify({ publicKey: issuer.publicKey }))) throw new Error("the CRL signature does not verify");
      if (!crl.nextUpdate || crl.nextUpdate.getTime() < now.getTime()) throw new Error("the CRL is out of date");
      const until = Math.min(now.getTime() + refreshSeconds * 1000, crl.nextUpdate.getTime());
      this.cache.set(url, { crl, until });
      return crl;
    } catch (error) {
      this.logger?.warn({ url, err: error }, "cannot use an external CA's CRL");
      this.cache.delete(url);
      return undefined;
    }
  }
}
