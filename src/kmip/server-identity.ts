import { webcrypto } from "node:crypto";
import { isIP } from "node:net";
import * as x509 from "@peculiar/x509";
import type { Actor } from "../audit/index.js";

/** The listener's TLS identity: a key made in process memory (TLS needs it there) and its certificate. */
export interface ServerIdentity {
  key: string;
  /** The leaf and its issuing chain, PEM. */
  cert: string;
  notBefore: Date;
  notAfter: Date;
}

/** The slice of issuance this needs: a certificate for a CSR under a profile. */
export interface IssueForCsr {
  issue(request: {
    csr: string;
    profile: string;
    actor: Actor;
  }): Promise<{ certificate: Buffer; chain: x509.X509Certificate[]; notAfter: Date }>;
}

/**
 * Issues the KMIP listener's server certificate from Keyward's own CA (profile `server`): a fresh
 * ECDSA P-256 key each time, named by the names clients connect to.
 */
export async function issueServerIdentity(
  issuance: IssueForCsr,
  names: string[],
  actor: Actor,
  profile = "server",
): Promise<ServerIdentity> {
  const crypto = webcrypto as unknown as Crypto;
  const keys = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ])) as CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create(
    {
      name: `CN=${names[0]}`,
      keys,
      signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
      extensions: [
        new x509.SubjectAlternativeNameExtension(
          names.map((n) => ({ type: isIP(n) ? ("ip" as const) : ("dns" as const), value: n })),
        ),
      ],
    },
    crypto,
  );
  const issued = await issuance.issue({ csr: csr.toString("pem"), profile, actor });
  const leaf = new x509.X509Certificate(new Uint8Array(issued.certificate));
  const pkcs8 = Buffer.from(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  return {
    key: `-----BEGIN PRIVATE KEY-----\n${pkcs8
      .toString("base64")
      .replace(/(.{64})/g, "$1\n")
      .replace(/\n?$/, "\n")}-----END PRIVATE KEY-----\n`,
    cert: [leaf, ...issued.chain].map((c) => c.toString("pem")).join("\n"),
    notBefore: leaf.notBefore,
    notAfter: issued.notAfter,
  };
}

/** Renewed once two thirds of its validity have passed (as the OCSP responder's is at half-life). */
export function renewalDue(identity: ServerIdentity, now: Date): boolean {
  const life = identity.notAfter.getTime() - identity.notBefore.getTime();
  return now.getTime() >= identity.notBefore.getTime() + (life * 2) / 3;
}
