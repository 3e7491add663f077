/**
 * The lint gate's rules for OpenSSH certificates (target "ssh-certificate"): run by the signer on
 * the exact body before the token signs it. Each cites PROTOCOL.certkeys or the OpenSSH behaviour
 * it protects. They live here, next to the encoding, and compose.ts adds them to the linter.
 */
import type { LintContext, LintFinding, LintRule } from "../lint/index.js";
import { CRITICAL_OPTIONS, type ParsedCertificateBody, parseCertificate } from "./certificate.js";
import { caKeyBlob } from "./keys.js";

type Verdict = string | undefined | false;

/** Every rule reads the same body: parsed once per body (the signer passes one Buffer to all rules). */
const parsed = new WeakMap<Buffer, ParsedCertificateBody>();
function parse(body: Buffer): ParsedCertificateBody {
  let cert = parsed.get(body);
  if (!cert) {
    cert = parseCertificate(body);
    parsed.set(body, cert);
  }
  return cert;
}

function rule(
  name: string,
  description: string,
  check: (cert: ParsedCertificateBody, context: LintContext) => Verdict,
): LintRule {
  return {
    name,
    description,
    severity: "error",
    targets: ["ssh-certificate"],
    check(body, context = {}) {
      let cert: ParsedCertificateBody;
      try {
        cert = parse(body);
      } catch {
        return []; // ssh_cert_structure reports it, once
      }
      const verdict = check(cert, context);
      return verdict ? [{ rule: name, severity: "error", message: verdict } satisfies LintFinding] : [];
    },
  };
}

const sortedUnique = (names: string[]) => names.every((n, i) => i === 0 || names[i - 1]! < n);
const MAX_UINT64 = 0xffffffffffffffffn;

export const sshLintRules: readonly LintRule[] = [
  {
    name: "ssh_cert_structure",
    description:
      "PROTOCOL.certkeys: the body reads as a v01 certificate of a supported key type, with no trailing bytes",
    severity: "error",
    targets: ["ssh-certificate"],
    check(body) {
      try {
        parse(body);
        return [];
      } catch (error) {
        return [{ rule: "ssh_cert_structure", severity: "error", message: (error as Error).message }];
      }
    },
  },
  rule(
    "ssh_cert_signature_key",
    "PROTOCOL.certkeys: signature key is the CA key that signs (sshd matches it against TrustedUserCAKeys)",
    (c, ctx) =>
      ctx.issuer &&
      !c.signatureKey.equals(caKeyBlob(ctx.issuer.spki)) &&
      "the signature key is not the signing CA's key",
  ),
  rule("ssh_cert_type", "PROTOCOL.certkeys: type is SSH_CERT_TYPE_USER (1) or SSH_CERT_TYPE_HOST (2)", (c) =>
    c.type !== 1 && c.type !== 2 ? `certificate type ${c.type}` : undefined,
  ),
  rule(
    "ssh_cert_principals",
    "PROTOCOL.certkeys: an empty principals list means any principal; Keyward never signs one",
    (c) => c.principals.length === 0 && "no principals (the certificate would be valid for any user or host)",
  ),
  rule(
    "ssh_cert_principal_text",
    "PROTOCOL.certkeys principals: non-empty, free of whitespace, commas (sshd's principal lists) and control characters",
    (c) => {
      const bad = c.principals.find((p) => !p || /[\s,\p{Cc}]/u.test(p));
      return bad !== undefined && `principal ${JSON.stringify(bad)}`;
    },
  ),
  rule("ssh_cert_validity", "PROTOCOL.certkeys: valid after < valid before, never the 'forever' value", (c) =>
    c.validAfter >= c.validBefore
      ? "valid after is not before valid before"
      : c.validBefore === MAX_UINT64 && "valid before is 'forever'",
  ),
  rule("ssh_cert_serial", "PROTOCOL.certkeys/krl: a non-zero serial (KRLs cannot revoke serial 0)", (c) =>
    c.serial === 0n ? "serial 0" : undefined,
  ),
  rule(
    "ssh_cert_key_id",
    "PROTOCOL.certkeys key id: names the certificate in sshd's logs and in KRLs; never empty",
    (c) => !c.keyId && "empty key ID",
  ),
  rule("ssh_cert_nonce", "PROTOCOL.certkeys: the CA-provided random nonce (at least 16 bytes)", (c) =>
    c.nonce.length < 16 ? `nonce of ${c.nonce.length} bytes` : undefined,
  ),
  rule(
    "ssh_cert_reserved",
    "PROTOCOL.certkeys: reserved is empty",
    (c) => c.reserved.length > 0 && "reserved is not empty",
  ),
  rule(
    "ssh_cert_options_order",
    "PROTOCOL.certkeys: critical options and extensions in lexical order, each at most once",
    (c) =>
      (!sortedUnique(c.criticalOptions.map((o) => o.name)) && "critical options out of order or repeated") ||
      (!sortedUnique(c.extensions.map((o) => o.name)) && "extensions out of order or repeated"),
  ),
  rule(
    "ssh_cert_critical_options",
    "PROTOCOL.certkeys: only the critical options OpenSSH knows (an unknown one makes sshd refuse the certificate); none on host certificates",
    (c) => {
      if (c.type === 2 && (c.criticalOptions.length || c.extensions.length))
        return "a host certificate with critical options or extensions";
      const unknown = c.criticalOptions.find((o) => !(CRITICAL_OPTIONS as readonly string[]).includes(o.name));
      return unknown && `unknown critical option ${unknown.name}`;
    },
  ),
];
