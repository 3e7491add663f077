import { createHash } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { RecipientRefusedError } from "../errors/index.js";
import { type RecipientPublicKey, recipientPublicKey } from "../hsm/index.js";
import { pemBlocks } from "../pki/pem.js";

/** A CA certificate a recipient's chain may pass through; anchors end a chain. */
export interface TrustedAuthority {
  certificate: x509.X509Certificate;
  anchor: boolean;
  /** A CA its parent revoked: nothing below it is trusted any more. */
  revoked: boolean;
  /** A configured CA that is not ours: its recipients' status comes from externalStatus. */
  external?: boolean;
}

/** Where recipient checks get their trust and status data (our CAs and our certificate records). */
export interface RecipientTrust {
  authorities(): Promise<TrustedAuthority[]>;
  /** Status of a certificate one of our CAs issued, by serial; undefined when we have no record. */
  certificateStatus(serial: string): Promise<{ revoked: boolean; der: Buffer | null } | undefined>;
  /** Whether an external CA's certificate is revoked (its CRL); undefined when that is unknown. */
  externalStatus(issuer: x509.X509Certificate, serial: string, now: Date): Promise<boolean | undefined>;
}

export interface CheckedRecipient {
  der: Buffer;
  serial: string;
  subject: string;
  spki: Buffer;
  spkiSha256: string;
  publicKey: RecipientPublicKey;
  notAfter: Date;
}

const MAX_CHAIN = 6;

// Parsing and signature checks dominate a distribution's cost; CA certificates and verified
// (certificate, issuer) pairs do not change, so they are remembered (bounded).
const parsed = new Map<string, x509.X509Certificate>();
const verified = new Set<string>();
const digest = (der: ArrayBuffer | Buffer) => createHash("sha256").update(new Uint8Array(der)).digest("base64");

/** A CA certificate parsed once per process. */
export function caCertificate(der: Buffer): x509.X509Certificate {
  const id = digest(der);
  let certificate = parsed.get(id);
  if (!certificate) {
    if (parsed.size > 1000) parsed.clear();
    certificate = new x509.X509Certificate(new Uint8Array(der));
    parsed.set(id, certificate);
  }
  return certificate;
}

async function signedBy(child: x509.X509Certificate, issuer: x509.X509Certificate): Promise<boolean> {
  const pair = digest(child.rawData) + digest(issuer.rawData);
  if (verified.has(pair)) return true;
  // On purpose, without a log line: verify throws on what it cannot process (a malformed signature,
  // an algorithm WebCrypto lacks), and such a certificate is not verifiably signed by this candidate.
  // Only the caller's bytes are involved (no storage, no token), so no outage can hide here.
  const ok = await child.verify({ publicKey: issuer, signatureOnly: true }).catch(() => false);
  if (ok) {
    if (verified.size > 10_000) verified.clear();
    verified.add(pair);
  }
  return ok;
}

/**
 * The checks before a key is wrapped to a certificate (DESIGN.md §5): one certificate in PEM, a
 * supported key of sound size, valid now, keyUsage keyEncipherment (RSA) or keyAgreement (EC),
 * a chain by signature to a trust anchor through unrevoked CAs, and not revoked itself.
 */
export async function checkRecipient(pem: string, trust: RecipientTrust, now: Date): Promise<CheckedRecipient> {
  const blocks = pemBlocks(pem, "CERTIFICATE");
  if (blocks.length !== 1) {
    throw new RecipientRefusedError("malformed", 'certificate must be exactly one PEM "CERTIFICATE"');
  }
  const der = blocks[0]!;
  let certificate: x509.X509Certificate;
  let publicKey: RecipientPublicKey;
  try {
    certificate = new x509.X509Certificate(new Uint8Array(der));
  } catch {
    throw new RecipientRefusedError("malformed", "certificate is not a valid X.509 certificate");
  }
  const spki = Buffer.from(certificate.publicKey.rawData);
  try {
    publicKey = recipientPublicKey(spki);
  } catch {
    throw new RecipientRefusedError(
      "unsupportedKey",
      `the recipient's key (${certificate.publicKey.algorithm.name}) cannot receive keys; RSA (2048 bits or more), P-256 and P-384 can`,
    );
  }
  if (publicKey.type === "rsa" && publicKey.modulus.length * 8 < 2048) {
    throw new RecipientRefusedError("unsupportedKey", "the recipient's RSA key is shorter than 2048 bits");
  }
  const serial = certificate.serialNumber.toLowerCase().replace(/^(00)+(?=.)/, "");
  const who = `recipient certificate ${serial} (${certificate.subject})`;
  checkValidity(certificate, now, who);
  const usage = certificate.getExtension(x509.KeyUsagesExtension);
  const needed = publicKey.type === "rsa" ? x509.KeyUsageFlags.keyEncipherment : x509.KeyUsageFlags.keyAgreement;
  const neededName = publicKey.type === "rsa" ? "keyEncipherment" : "keyAgreement";
  if (!usage || (usage.usages & needed) === 0) {
    throw new RecipientRefusedError(
      "keyUsage",
      `${who} does not allow ${neededName} (needed to receive a key with an ${publicKey.type === "rsa" ? "RSA" : "EC"} key); issue it with the "recipient" profile`,
    );
  }
  const issuer = await checkChain(certificate, await trust.authorities(), now, who);
  if (issuer.external) {
    const revoked = await trust.externalStatus(issuer.certificate, serial, now);
    if (revoked === undefined) {
      throw new RecipientRefusedError(
        "revocationUnknown",
        `the revocation status of ${who} is unknown: no current CRL from "${issuer.certificate.subject}" (configure or check kms.trustAnchors crlUrl)`,
      );
    }
    if (revoked)
      throw new RecipientRefusedError("revoked", `${who} is revoked (CRL of "${issuer.certificate.subject}")`);
  } else {
    const status = await trust.certificateStatus(serial);
    if (!status || (status.der && !status.der.equals(der))) {
      throw new RecipientRefusedError(
        "revocationUnknown",
        `${who} chains to our CA but we have no record of issuing it, so its revocation status is unknown`,
      );
    }
    if (status.revoked) throw new RecipientRefusedError("revoked", `${who} is revoked`);
  }
  return {
    der,
    serial,
    subject: certificate.subject,
    spki,
    spkiSha256: createHash("sha256").update(spki).digest("hex"),
    publicKey,
    notAfter: certificate.notAfter,
  };
}

function checkValidity(certificate: x509.X509Certificate, now: Date, who: string): void {
  if (now < certificate.notBefore) {
    throw new RecipientRefusedError("notYetValid", `${who} is not valid before ${certificate.notBefore.toISOString()}`);
  }
  if (now > certificate.notAfter) {
    throw new RecipientRefusedError("expired", `${who} expired at ${certificate.notAfter.toISOString()}`);
  }
}

/**
 * Builds the path upwards by issuer name and signature; every CA on it must be valid and unrevoked.
 * Returns the leaf's direct issuer.
 */
async function checkChain(
  leaf: x509.X509Certificate,
  authorities: TrustedAuthority[],
  now: Date,
  who: string,
): Promise<TrustedAuthority> {
  let direct: TrustedAuthority | undefined;
  let current = leaf;
  for (let depth = 0; depth < MAX_CHAIN; depth++) {
    let issuer: TrustedAuthority | undefined;
    for (const candidate of authorities) {
      if (candidate.certificate.subject !== current.issuer) continue;
      if (await signedBy(current, candidate.certificate)) {
        issuer = candidate;
        break;
      }
    }
    if (!issuer) {
      throw new RecipientRefusedError(
        "untrusted",
        `${who} does not chain to a trusted anchor: no trusted CA named "${current.issuer}" signed ${current === leaf ? "it" : `"${current.subject}"`}`,
      );
    }
    if (issuer.revoked) {
      throw new RecipientRefusedError(
        "revoked",
        `${who} was issued under "${issuer.certificate.subject}", which is revoked`,
      );
    }
    if (now < issuer.certificate.notBefore || now > issuer.certificate.notAfter) {
      throw new RecipientRefusedError(
        "untrusted",
        `${who} chains through "${issuer.certificate.subject}", which is not valid now`,
      );
    }
    direct ??= issuer;
    if (issuer.anchor) return direct;
    current = issuer.certificate;
  }
  throw new RecipientRefusedError(
    "untrusted",
    `${who} has no chain to a trusted anchor within ${MAX_CHAIN} certificates`,
  );
}
