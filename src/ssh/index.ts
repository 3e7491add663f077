/**
 * The SSH certificate authority: OpenSSH user and host certificates (PROTOCOL.certkeys) signed by
 * CA keys in the token through the signer, SSH profiles, and the KRL (PROTOCOL.krl) sshd obeys.
 * Free of express, SQL and pkcs11js: the edges are http/routes/ssh-api.ts and cli/commands/ssh.ts.
 */
import { SshService, type SshServiceDeps } from "./service.js";

export {
  CERT_TYPES,
  certificateBodyOfLine,
  DEFAULT_USER_EXTENSIONS,
  parseCertificate,
  type SshCertType,
} from "./certificate.js";
export { blobFromSpki, fingerprintOf, parsePublicKeyLine, publicKeyLine } from "./keys.js";
export { encodeKrl } from "./krl.js";
export { sshLintRules } from "./lint-rules.js";
export type { SshRequester, SshSignRequest } from "./policy.js";
export type { SshCertificateFilter, SshCertificateRecord, SshCertificateStatus, SshStore, StoredKrl } from "./ports.js";
export { SSH_REVOCATION_REASONS, type SignedSshCertificate, SshService, type SshRevocationReason } from "./service.js";
export { sshCertificateView } from "./views.js";

export function createSsh(deps: SshServiceDeps): SshService {
  return new SshService(deps);
}
