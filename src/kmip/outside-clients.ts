import { createHash } from "node:crypto";
import type { PeerCertificate } from "node:tls";
import * as x509 from "@peculiar/x509";
import { isRole, type Principal } from "../access/index.js";
import { ConfigError } from "../errors/index.js";
import { CrlStatus, loadTrustAnchors, type TrustAnchor } from "../keys/index.js";
import { KmipError } from "./errors.js";

/**
 * A CA besides Keyward's whose client certificates KMIP accepts (`kmip.trustAnchors`). Keyward has
 * no record of what it issued, so its clients are named in config (by a SAN URI or the subject CN)
 * with the role each gets, and revocation comes from its CRL.
 */
export interface OutsideAnchorSettings {
  certFile: string;
  crlUrl?: string;
  crlRefreshSeconds: number;
  clients: Array<{ name: string; role: string; uri?: string; cn?: string }>;
}

interface Anchor extends TrustAnchor {
  /** SHA-256 of the DER, as Node writes fingerprint256 (AB:CD:…). */
  fingerprint: string;
  clients: OutsideAnchorSettings["clients"];
}

export interface OutsideClient {
  principal: Principal;
  certificate: { serial: string; subject: string; spkiSha256: string; notAfter: Date };
}

export class OutsideClients {
  private readonly anchors: Anchor[];
  private readonly crls: CrlStatus;

  constructor(settings: readonly OutsideAnchorSettings[]) {
    this.anchors = loadTrustAnchors(settings).map((anchor, i) => {
      const clients = settings[i]!.clients;
      for (const client of clients) {
        if (!isRole(client.role))
          throw new ConfigError(`kmip.trustAnchors: client ${client.name} has no role "${client.role}"`);
        if (!client.uri === !client.cn) {
          throw new ConfigError(`kmip.trustAnchors: client ${client.name} is matched by one of uri or cn`);
        }
      }
      const fingerprint = createHash("sha256").update(Buffer.from(anchor.certificate.rawData)).digest("hex");
      return { ...anchor, clients, fingerprint: fingerprint.toUpperCase().replace(/(..)(?!$)/g, "$1:") };
    });
    this.crls = new CrlStatus(this.anchors);
  }

  /** The anchors' certificates (PEM), for the listener's list of accepted issuers. */
  pems(): string[] {
    return this.anchors.map((a) => a.certificate.toString("pem"));
  }

  /** Whether TLS accepted this certificate because one of the outside anchors issued it. */
  issuedByOutside(peer: PeerCertificate): boolean {
    return this.anchorOf(peer) !== undefined;
  }

  /** The configured client a certificate stands for, after its anchor's CRL says it is not revoked. */
  async authenticate(peer: PeerCertificate, serial: string, now: Date): Promise<OutsideClient> {
    const anchor = this.anchorOf(peer);
    if (!anchor)
      throw new KmipError("PermissionDenied", "the client certificate is not from a configured trust anchor");
    const notAfter = new Date(peer.valid_to);
    if (!(notAfter > now)) throw new KmipError("PermissionDenied", `client certificate ${serial} has expired`);
    // Without a CRL (none configured, or none fetched) the status is unknown: refused, as for key recipients.
    const revoked = await this.crls.isRevoked(anchor.certificate, serial, now);
    if (revoked !== false) {
      throw new KmipError(
        "PermissionDenied",
        revoked
          ? `client certificate ${serial} is revoked by its CA's CRL`
          : `the revocation status of client certificate ${serial} is unknown (its CA's CRL could not be read)`,
      );
    }
    const uris = (peer.subjectaltname ?? "")
      .split(", ")
      .filter((s) => s.startsWith("URI:"))
      .map((s) => s.slice(4));
    const cn = typeof peer.subject?.CN === "string" ? peer.subject.CN : undefined;
    const client = anchor.clients.find((c) => (c.uri ? uris.includes(c.uri) : c.cn === cn));
    if (!client) {
      throw new KmipError(
        "PermissionDenied",
        `client certificate ${serial} (${cn ?? "no CN"}) is not one of the clients configured for its CA`,
      );
    }
    const spki = new x509.X509Certificate(new Uint8Array(peer.raw)).publicKey.rawData;
    return {
      principal: {
        id: `kmip-anchor:${client.name}`,
        name: client.name,
        role: client.role as Principal["role"],
        kind: "token",
        scopes: {},
      },
      certificate: {
        serial,
        subject: cn ? `CN=${cn}` : "",
        spkiSha256: createHash("sha256").update(Buffer.from(spki)).digest("hex"),
        notAfter,
      },
    };
  }

  private anchorOf(peer: PeerCertificate): Anchor | undefined {
    const issuer = (peer as { issuerCertificate?: PeerCertificate }).issuerCertificate;
    if (!issuer || issuer === peer) return undefined;
    return this.anchors.find((a) => a.fingerprint === issuer.fingerprint256);
  }
}
