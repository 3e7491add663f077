/**
 * OpenSSH certificates (PROTOCOL.certkeys): the to-be-signed body built here, signed by the CA key
 * in the token (src/signer), and the `*-cert-v01@openssh.com` line sshd and ssh read.
 */
import { publicRandom } from "../pki/public-random.js";
import { BadRequestError } from "../errors/index.js";
import type { SshPublicKey } from "./keys.js";
import { SshReader, SshWriter } from "./wire.js";

export const CERT_TYPES = { user: 1, host: 2 } as const;
export type SshCertType = keyof typeof CERT_TYPES;

/** The extensions `ssh-keygen -s` gives a user certificate when told nothing else. */
export const DEFAULT_USER_EXTENSIONS = [
  "permit-X11-forwarding",
  "permit-agent-forwarding",
  "permit-port-forwarding",
  "permit-pty",
  "permit-user-rc",
] as const;

/** Critical options OpenSSH understands (PROTOCOL.certkeys); a certificate with another is refused by sshd. */
export const CRITICAL_OPTIONS = ["force-command", "source-address", "verify-required"] as const;
export type CriticalOption = (typeof CRITICAL_OPTIONS)[number];

export interface SshCertificateFields {
  key: SshPublicKey;
  serial: bigint;
  type: SshCertType;
  keyId: string;
  principals: string[];
  validAfter: Date;
  validBefore: Date;
  /** name → value (force-command's command, source-address's CIDR list); flags have "". */
  criticalOptions: Record<string, string>;
  extensions: string[];
  /** The CA's public key blob. */
  signatureKey: Buffer;
  nonce?: Buffer;
}

const seconds = (d: Date) => BigInt(Math.floor(d.getTime() / 1000));

/** name/data pairs in lexical order of name, as PROTOCOL.certkeys requires; data is itself a string when set. */
function options(entries: [string, string][]): Buffer {
  const w = new SshWriter();
  for (const [name, value] of [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    w.string(name).string(value === "" ? Buffer.alloc(0) : new SshWriter().string(value).finish());
  }
  return w.finish();
}

/** Everything the CA signs: from the certificate's key type to its signature key, inclusive. */
export function certificateBody(fields: SshCertificateFields): Buffer {
  const principals = new SshWriter();
  for (const p of fields.principals) principals.string(p);
  return new SshWriter()
    .string(`${fields.key.algorithm}-cert-v01@openssh.com`)
    .string(fields.nonce ?? publicRandom(32))
    .raw(fields.key.fields)
    .uint64(fields.serial)
    .uint32(CERT_TYPES[fields.type])
    .string(fields.keyId)
    .string(principals.finish())
    .uint64(seconds(fields.validAfter))
    .uint64(seconds(fields.validBefore))
    .string(options(Object.entries(fields.criticalOptions)))
    .string(options(fields.extensions.map((e) => [e, ""])))
    .string(Buffer.alloc(0))
    .string(fields.signatureKey)
    .finish();
}

/** The signed certificate blob: body then the signature. */
export function signedCertificate(body: Buffer, signature: Buffer): Buffer {
  return Buffer.concat([body, new SshWriter().string(signature).finish()]);
}

/** `<type> <base64> <comment>`: what goes in `id_ed25519-cert.pub`. */
export function certificateLine(certificate: Buffer, comment?: string): string {
  const type = new SshReader(certificate).text();
  return `${type} ${certificate.toString("base64")}${comment ? ` ${comment}` : ""}`;
}

/**
 * The to-be-signed body of a certificate (a `*-cert-v01@openssh.com` line or blob): what the lint
 * rules read, for `keyward lint` on certificates from anywhere. Undefined for text that is not one.
 */
export function certificateBodyOfLine(text: string): Buffer | undefined {
  const match = /^\s*(\S+-cert-v01@openssh\.com)\s+([A-Za-z0-9+/]+={0,2})(\s|$)/.exec(text);
  if (!match) return undefined;
  const certificate = Buffer.from(match[2]!, "base64");
  try {
    const { signature } = parseCertificate(certificate, true);
    return certificate.subarray(0, certificate.length - 4 - signature!.length);
  } catch (error) {
    throw new BadRequestError(`not a readable OpenSSH certificate: ${(error as Error).message}`);
  }
}

/** A certificate body read back: what the lint rules check and what listings show. */
export interface ParsedCertificateBody {
  certType: string;
  keyAlgorithm: string;
  nonce: Buffer;
  serial: bigint;
  type: number;
  keyId: string;
  principals: string[];
  validAfter: bigint;
  validBefore: bigint;
  criticalOptions: { name: string; data: Buffer }[];
  extensions: { name: string; data: Buffer }[];
  reserved: Buffer;
  signatureKey: Buffer;
  /** Present when the input was a whole certificate rather than a body. */
  signature?: Buffer;
}

/** Key fields after the nonce, per key type (the sk- types are not issued). */
function skipKeyFields(r: SshReader, keyAlgorithm: string): void {
  if (keyAlgorithm === "ssh-ed25519") r.string();
  else if (keyAlgorithm.startsWith("ecdsa-sha2-")) {
    r.string();
    r.string();
  } else if (keyAlgorithm === "ssh-rsa") {
    r.mpint();
    r.mpint();
  } else throw new Error(`certificate for unsupported key type ${keyAlgorithm}`);
}

function readOptions(data: Buffer): { name: string; data: Buffer }[] {
  const r = new SshReader(data);
  const out: { name: string; data: Buffer }[] = [];
  while (r.remaining > 0) out.push({ name: r.text("option name"), data: Buffer.from(r.string("option data")) });
  return out;
}

/** Reads a certificate body (or a whole certificate: `withSignature`); throws on anything malformed. */
export function parseCertificate(data: Buffer, withSignature = false): ParsedCertificateBody {
  const r = new SshReader(data);
  const certType = r.text("certificate type");
  const suffix = "-cert-v01@openssh.com";
  if (!certType.endsWith(suffix)) throw new Error(`${certType} is not an OpenSSH certificate type`);
  const keyAlgorithm = certType.slice(0, -suffix.length);
  const nonce = Buffer.from(r.string("nonce"));
  skipKeyFields(r, keyAlgorithm);
  const serial = r.uint64();
  const type = r.uint32();
  const keyId = r.text("key id");
  const principalReader = new SshReader(r.string("principals"));
  const principals: string[] = [];
  while (principalReader.remaining > 0) principals.push(principalReader.text("principal"));
  const validAfter = r.uint64();
  const validBefore = r.uint64();
  const criticalOptions = readOptions(r.string("critical options"));
  const extensions = readOptions(r.string("extensions"));
  const reserved = Buffer.from(r.string("reserved"));
  const signatureKey = Buffer.from(r.string("signature key"));
  const signature = withSignature ? Buffer.from(r.string("signature")) : undefined;
  r.end("the certificate");
  return {
    certType,
    keyAlgorithm,
    nonce,
    serial,
    type,
    keyId,
    principals,
    validAfter,
    validBefore,
    criticalOptions,
    extensions,
    reserved,
    signatureKey,
    ...(signature ? { signature } : {}),
  };
}
