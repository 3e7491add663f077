import * as x509 from "@peculiar/x509";
import type { Logger } from "pino";
import type { Background, ClaimSlot, Clock } from "../clock/index.js";
import type { IssuanceService } from "../issuance/index.js";
import type { CertificateAuthority } from "../signer/index.js";
import { CompromisedKeys } from "./compromised-keys.js";
import { CrlPublisher } from "./crl.js";
import { type CertificateLookup, OcspResponder } from "./ocsp.js";
import type { RevocationStore } from "./ports.js";
import { RevocationService } from "./service.js";

/** id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1): clients do not check the responder's own status. */
const OCSP_NOCHECK = new x509.Extension("1.3.6.1.5.5.7.48.1.5", false, new Uint8Array([0x05, 0x00]));

export interface RevocationSettings {
  ocspValidityHours: number;
  ocspNonce: "ignore" | "echo";
  ocspCacheEntries: number;
  crlValidityHours: number;
  rootCrlValidityDays: number;
  crlDebounceMs: number;
}

/** Tells other instances about a changed OCSP answer (PostgreSQL LISTEN/NOTIFY; nothing on SQLite). */
export interface ChangeNotices {
  publish(channel: string, payload: string): Promise<void>;
  subscribe(channel: string, handler: (payload: string) => void): Promise<void>;
}

export interface Revocation extends Background {
  revocation: RevocationService;
  ocsp: OcspResponder;
  crl: CrlPublisher;
  compromisedKeys: CompromisedKeys;
}

/**
 * The revocation module: revoke and block keys, the OCSP responder (pre-signed answers, its own
 * delegated certificates issued through issuance) and the CRL publisher, with their schedules.
 */
export function createRevocation(deps: {
  store: RevocationStore;
  certificates: CertificateLookup;
  ca: CertificateAuthority;
  issuance: Pick<IssuanceService, "issueForKey" | "list">;
  notices: ChangeNotices;
  slots: ClaimSlot;
  clock: Clock;
  settings: RevocationSettings;
  /** Each profile's allowed revocation reasons. */
  profiles: Readonly<Record<string, { revocationReasons: readonly string[] }>>;
  logger?: Logger;
}): Revocation {
  const { store, certificates, ca, clock, logger, settings } = deps;
  const ocsp = new OcspResponder({
    publishChange: (serial) => deps.notices.publish("keyward_ocsp", serial),
    store,
    certificates,
    ca,
    keys: ca.serviceKeys,
    clock,
    logger,
    settings: {
      validityHours: settings.ocspValidityHours,
      nonce: settings.ocspNonce,
      cacheEntries: settings.ocspCacheEntries,
    },
    issueResponder: (caId, spki) =>
      deps.issuance.issueForKey({
        caId,
        profile: "ocsp-responder",
        spki,
        commonName: `Keyward OCSP Responder (${caId})`,
        extensions: [OCSP_NOCHECK],
      }),
  });
  const crl = new CrlPublisher({
    store,
    ca,
    clock,
    logger,
    settings: {
      validityHours: settings.crlValidityHours,
      rootValidityHours: settings.rootCrlValidityDays * 24,
      debounceMs: settings.crlDebounceMs,
      pageSize: 5000,
    },
  });
  const revocation = new RevocationService({ store, certificates, ocsp, crl, clock, profiles: deps.profiles, logger });
  const compromisedKeys = new CompromisedKeys({
    revocation,
    certificatesWithKey: (spkiSha256, limit) => deps.issuance.list({ spkiSha256, limit }),
    crl,
    ocsp,
  });
  return {
    revocation,
    ocsp,
    crl,
    compromisedKeys,
    start() {
      // The root's CRL only when due (a revoked intermediate): otherwise it is signed at ceremonies.
      crl.start(async () => (await ca.list()).map((c) => ({ id: c.id, kind: c.kind })), 60_000, deps.slots);
      ocsp.start(60_000, deps.slots);
      // Other instances' revocations: at once by notice (PostgreSQL), within a second by the sweep.
      ocsp.watchStorage(1000);
      void deps.notices
        .subscribe("keyward_ocsp", (serial) => ocsp.dropFromMemory(serial))
        .catch((error) => logger?.warn({ err: error }, "cannot listen for OCSP changes; the sweep remains"));
    },
    async stop() {
      crl.stop();
      await ocsp.stop();
    },
  };
}
