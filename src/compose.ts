import { existsSync, readFileSync } from "node:fs";
import type { Logger } from "pino";
import { ApprovalService, TokenService, UserService } from "./access/index.js";
import { type Actor, SYSTEM_ACTOR } from "./audit/index.js";
import { sensitiveOperations } from "./operations.js";
import { BackupService } from "./backup/index.js";
import { EscrowService } from "./escrow/index.js";
import {
  caCertificate,
  createKeys,
  CrlStatus,
  type KeyCrypto,
  type KeyDistribution,
  type KeyImport,
  type KeyLifecycle,
  type RecipientTrust,
  type RevokedKeyList,
} from "./keys/index.js";
import { pemBlocks } from "./pki/pem.js";
import { ServiceKey } from "./signer/index.js";
import { AcmeOrders, AcmeService, RateLimits } from "./acme/index.js";
import { AuditLog } from "./audit/index.js";
import { type Clock, systemClock } from "./clock/index.js";
import type { Config } from "./config/index.js";
import { ConfigError } from "./errors/index.js";
import { Pkcs11Hsm, readPin, TokenSet } from "./hsm/index.js";
import { IssuanceService } from "./issuance/index.js";
import * as x509 from "@peculiar/x509";
import { sql } from "kysely";
import { CompromisedKeys, CrlPublisher, OcspResponder, RevocationService } from "./revocation/index.js";
import { OverviewService } from "./overview/index.js";
import { CertificateAuthority } from "./signer/index.js";
import {
  type OpenDatabase,
  openDatabase,
  SqlAcmeOrderStore,
  SqlAcmeStore,
  SqlApprovalStore,
  SqlAuditStore,
  SqlCaStore,
  SqlCertificateStore,
  SqlKeyStore,
  SqlDistributionStore,
  SqlServiceKeyStore,
  SqlEscrowStore,
  createNotifier,
  SchedulerSlots,
  SqlRateLimitStore,
  SqlOverviewStore,
  SqlRevocationStore,
  SqlTokenStore,
  SqlUserStore,
} from "./storage/index.js";
import { Metrics, RateWatch } from "./metrics/index.js";

/** id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1): clients do not check the responder's own status. */
const OCSP_NOCHECK = new x509.Extension("1.3.6.1.5.5.7.48.1.5", false, new Uint8Array([0x05, 0x00]));

export interface Services {
  config: Config;
  clock: Clock;
  database: OpenDatabase;
  hsm: Pkcs11Hsm;
  /** The online token and, attached for ceremonies only, the offline root token. */
  caTokens: TokenSet;
  ca: CertificateAuthority;
  issuance: IssuanceService;
  revocation: RevocationService;
  acme: AcmeService;
  acmeOrders: AcmeOrders;
  ocsp: OcspResponder;
  crl: CrlPublisher;
  tokens: TokenService;
  users: UserService;
  /** The KMS key lifecycle (create, rotate, states, destruction, scheduler). */
  keys: KeyLifecycle;
  /** The KMS data plane (encrypt/decrypt, MAC). */
  keyCrypto: KeyCrypto;
  /** BYOK import of key versions. */
  keyImport: KeyImport;
  distribution: KeyDistribution;
  escrow: EscrowService;
  backup: BackupService;
  revokedKeys: RevokedKeyList;
  approvals: ApprovalService;
  /** The compromised-key flow: find a key's certificates; block it and revoke them all. */
  compromisedKeys: CompromisedKeys;
  /** The console's overview: hierarchy health, OCSP coverage, approvals, audit state, warnings. */
  overview: OverviewService;
  /** Runs a sensitive operation now (after step-up, when no quorum is required or once it was reached). */
  runOperation(operation: string, params: Record<string, unknown>, actor: Actor): Promise<unknown>;
  audit: AuditLog;
  metrics: Metrics;
  /** Per-principal burst detection on key use (certificate signing, decrypts). */
  bursts: RateWatch;
  /** Whether this instance can serve: database reachable, token usable. */
  readiness(): Promise<{ ready: boolean; database: string; hsm: string; draining?: true }>;
  /** Shutdown has begun: readiness fails from now on so load balancers stop sending traffic. */
  beginDrain(): void;
  /** Background work of a serving instance: CRL regeneration and OCSP refresh. */
  startSchedulers(): void;
  close(): Promise<void>;
}

/**
 * Points the SoftHSM2 module at the data dir's token store, unless the environment chose one.
 * It must happen before the module is loaded: SoftHSM reads SOFTHSM2_CONF once, at C_Initialize.
 */
function selectSoftHsmConf(config: Config): void {
  const conf = config.hsm.softhsmConf;
  if (!process.env.SOFTHSM2_CONF && conf && existsSync(conf)) process.env.SOFTHSM2_CONF = conf;
}

/** The composition root: config → storage → HSM → services. `close()` runs in reverse order. */
export async function compose(config: Config, options: { clock?: Clock; logger?: Logger } = {}): Promise<Services> {
  const clock = options.clock ?? systemClock;
  // Config files are checked before anything is opened.
  const externalAnchors = loadTrustAnchors(config.kms.trustAnchors);
  const database = await openDatabase(config.database.url);
  let hsm: Pkcs11Hsm;
  try {
    selectSoftHsmConf(config);
    hsm = await Pkcs11Hsm.open({
      modulePath: config.hsm.module,
      tokenLabel: config.hsm.token,
      pin: readPin(config.hsm.pinSource),
      sessions: config.hsm.sessions,
      signingThreads: config.hsm.signingThreads,
    });
  } catch (error) {
    await database.close();
    throw error;
  }
  // CA keys are found by the token their URI names: an offline root's token is opened only when a
  // ceremony needs it, so a server without it attached starts and serves.
  const caTokens = new TokenSet(hsm, {
    modulePath: config.hsm.rootModule ?? config.hsm.module,
    pinSource: config.hsm.rootPinSource,
    help: "docs/handbook/root-ceremony.md",
  });
  const rootToken = config.hsm.rootToken;
  const ca = new CertificateAuthority({
    keys: caTokens,
    store: new SqlCaStore(database.db),
    clock,
    baseUrl: config.baseUrl,
    rootKeys: rootToken
      ? { generateKeyPair: (type, label) => caTokens.generateKeyPair(type, label, rootToken) }
      : undefined,
  });
  const logger = options.logger;
  const certificates = new SqlCertificateStore(database.db);
  const revocationStore = new SqlRevocationStore(database.db);
  const settings = config.revocation;
  // The responder and the issuance service need each other (responder certificates are issued;
  // issued certificates get pre-signed answers), so the responder is bound late.
  let ocsp: OcspResponder | undefined;
  const issuance = new IssuanceService({
    ca,
    store: certificates,
    clock,
    profiles: config.profiles,
    forbiddenNames: config.policy.forbiddenNames,
    nameConstraints: config.ca.nameConstraints,
    blockedKeys: revocationStore,
    // The responder is created below (it issues its own certificate through this service).
    ocsp: {
      answerForNew: (serial, caId) => ocsp!.answerForNew(serial, caId),
      remember: (answer) => ocsp!.remember(answer),
    },
  });
  const notifier = createNotifier(database, config.database.url, logger);
  // Periodic jobs run once per slot across every instance sharing this database.
  const slots = new SchedulerSlots(database.db, clock);
  ocsp = new OcspResponder({
    publishChange: (serial) => notifier.publish("keyward_ocsp", serial),
    store: revocationStore,
    certificates,
    ca,
    keys: hsm,
    clock,
    logger,
    settings: {
      validityHours: settings.ocspValidityHours,
      nonce: settings.ocspNonce,
      cacheEntries: settings.ocspCacheEntries,
    },
    issueResponder: async (caId, spki) => {
      const issued = await issuance.issueForKey({
        caId,
        profile: "ocsp-responder",
        spki,
        commonName: `Keyward OCSP Responder (${caId})`,
        extensions: [OCSP_NOCHECK],
      });
      return {
        serial: issued.serial,
        certificate: issued.certificate,
        notAfter: issued.notAfter,
      };
    },
  });
  const crl = new CrlPublisher({
    store: revocationStore,
    ca,
    clock,
    baseUrl: config.baseUrl,
    logger,
    settings: {
      validityHours: settings.crlValidityHours,
      rootValidityHours: settings.rootCrlValidityDays * 24,
      debounceMs: settings.crlDebounceMs,
      pageSize: 5000,
    },
  });
  const revocation = new RevocationService({
    store: revocationStore,
    certificates,
    ocsp,
    crl,
    clock,
    logger,
    onRevoked: () => distribution.processRevokedRecipients(SYSTEM_ACTOR),
  });
  const tokens = new TokenService({ store: new SqlTokenStore(database.db), clock });
  const users = new UserService({
    store: new SqlUserStore(database.db),
    seeds: hsm,
    clock,
    sessionMinutes: config.access.sessionMinutes,
  });
  const serviceKeys = new SqlServiceKeyStore(database.db);
  const certificateChain = async (serial: string) => {
    const record = await issuance.get(serial);
    return [new x509.X509Certificate(new Uint8Array(record.certificate!)), ...(await ca.chain(record.caId))];
  };
  // Keyward's own key pairs in the token (signing its statements, receiving imported keys), each with
  // a certificate from the default issuer, renewed before it expires.
  const serviceKey = (key: {
    purpose: string;
    generateKeyPair: (label: string) => Promise<{ uri: string; spki: Buffer }>;
    profile: string;
    commonName: string;
  }) =>
    new ServiceKey({
      purpose: key.purpose,
      store: serviceKeys,
      clock,
      generateKeyPair: key.generateKeyPair,
      issue: async (spki) =>
        issuance.issueForKey({
          caId: (await ca.defaultIssuer()).id,
          profile: key.profile,
          spki,
          commonName: key.commonName,
          extensions: [],
        }),
      chain: (serial) => certificateChain(serial),
    });
  const externalCrls = new CrlStatus(externalAnchors, logger);
  // Who may receive keys (distribution) and shares (escrow): our CAs and configured external ones.
  const recipientTrust: RecipientTrust = {
    authorities: async () => [
      ...(await ca.list()).map((record) => ({
        certificate: caCertificate(record.certificate),
        anchor: record.kind === "root",
        revoked: record.revokedAt !== null,
      })),
      ...externalAnchors.map((a) => ({ certificate: a.certificate, anchor: true, revoked: false, external: true })),
    ],
    externalStatus: (issuer, serial, now) => externalCrls.isRevoked(issuer, serial, now),
    certificateStatus: async (serial) => {
      const record = await certificates.get(serial);
      return record && { revoked: record.status === "revoked", der: record.certificate };
    },
  };
  // The KMS. Escrow (built below) takes each new version; metrics, bursts and audit are bound late.
  const revokedListKey = serviceKey({
    purpose: "revoked-keys",
    generateKeyPair: (label) => hsm.generateKeyPair("p256", label),
    profile: "kms-signer",
    commonName: "Keyward Key Revocation List Signer",
  });
  const kms = createKeys({
    keyStore: new SqlKeyStore(database.db),
    distributionStore: new SqlDistributionStore(database.db),
    token: hsm,
    clock,
    audit: { record: (event) => audit.record(event) },
    logger,
    onUse: ({ keyId, operation, actor }) => {
      metrics.keyOperations.inc({ key: keyId, operation });
      bursts.record(actor.name, `key.${operation}`);
    },
    onNewVersion: (keyId, actor): Promise<number> => escrow.escrowPending(actor, keyId),
    trust: recipientTrust,
    importKey: serviceKey({
      purpose: "key-import",
      // SoftHSM 2.6 unwraps RSA-OAEP with SHA-1 only; RSA-3072 keeps the import key strong anyway.
      generateKeyPair: (label) => hsm.generateKeyPair("rsa3072", label, "unwrap"),
      profile: "kms-import",
      commonName: "Keyward Key Import",
    }),
    revokedListSigner: {
      current: () => revokedListKey.current(),
      sign: (keyUri, data) => hsm.sign(keyUri, { name: "ECDSA", hash: "SHA-256" }, data),
    },
    settings: {
      destroyWaitDays: config.kms.destroyWaitDays,
      defaultRotationDays: config.kms.defaultRotationDays,
      defaultCryptoperiodDays: config.kms.defaultCryptoperiodDays,
      allowJweDistribution: config.kms.allowJweDistribution,
      revokedListHours: config.kms.revokedListHours,
      issuer: config.baseUrl,
    },
  });
  const { lifecycle: keys, crypto: keyCrypto, imports: keyImport, distribution, revokedList: revokedKeys } = kms;
  const escrow = new EscrowService({
    store: new SqlEscrowStore(database.db),
    keys,
    token: hsm,
    trust: recipientTrust,
    clock,
    audit: { record: (event) => audit.record(event) },
    logger,
  });
  const backup = new BackupService({
    database,
    keys,
    token: hsm,
    trust: recipientTrust,
    clock,
    cas: () => ca.list(),
    custodians: () => escrow.agents(),
    signer: serviceKey({
      purpose: "backup-signer",
      generateKeyPair: (label) => hsm.generateKeyPair("p256", label),
      profile: "kms-signer",
      commonName: "Keyward Backup Signer",
    }),
    sign: (keyUri, data) => hsm.sign(keyUri, { name: "ECDSA", hash: "SHA-256" }, data),
    config,
    audit: { record: (event) => audit.record(event) },
  });
  const compromisedKeys = new CompromisedKeys({
    revocation,
    certificatesWithKey: (spkiSha256, limit) => issuance.list({ spkiSha256, limit }),
    crl,
    ocsp,
  });
  const operations = sensitiveOperations({ ca, crl, users, keys, escrow, compromisedKeys, config });
  const approvals = new ApprovalService({
    store: new SqlApprovalStore(database.db),
    clock,
    policy: config.access.quorum,
    lifetimeHours: config.access.approvalHours,
    executors: operations,
  });
  const metrics = new Metrics({ defaultMetrics: true });
  hsm.instrument((operation, run) => metrics.timeHsm(operation, "pkcs11", run));
  const bursts = new RateWatch({
    clock,
    limits: config.monitoring.bursts,
    onBurst: (burst) => {
      metrics.anomalies.inc({ principal: burst.principal, operation: burst.operation });
      logger?.warn({ ...burst }, "burst of key operations above the configured rate");
      void audit
        .record({
          action: "anomaly.burst",
          actor: { id: burst.principal, name: burst.principal, kind: "system" },
          target: { type: "operation", id: burst.operation },
          outcome: "success",
          details: { count: burst.count, limit: burst.limit, perSeconds: burst.perSeconds },
        })
        .catch((error) => logger?.error({ err: error }, "cannot audit a burst warning"));
    },
  });
  const audit = new AuditLog({
    store: new SqlAuditStore(database.db),
    keys: hsm,
    clock,
    settings: config.audit,
    logger,
    issueAuditCertificate: async (spki) =>
      issuance.issueForKey({
        caId: (await ca.defaultIssuer()).id,
        profile: "audit-signer",
        spki,
        commonName: "Keyward Audit Log Signer",
        extensions: [],
      }),
    certificateChain,
  });
  const overview = new OverviewService({
    store: new SqlOverviewStore(database.db),
    clock,
    cas: () => ca.list(),
    currentCrl: (caId) => crl.current(caId),
    responder: (caId) => revocationStore.currentResponder(caId),
    pendingApprovals: () => approvals.list({ status: "pending", limit: 100 }),
    verifyAudit: () => audit.verify(),
    settings: { caWarningDays: 90, ocspValidityHours: settings.ocspValidityHours },
  });
  // ACME clients may choose among the profiles requesters may use (draft-ietf-acme-profiles).
  const acmeProfiles = () =>
    Object.fromEntries(issuance.profileNames().map((name) => [name, config.profiles[name]!.description]));
  const acme = new AcmeService({
    store: new SqlAcmeStore(database.db, database.relaxed),
    clock,
    baseUrl: config.baseUrl,
    settings: config.acme,
    profiles: acmeProfiles,
    hmac: {
      importKey: (value, label) => hsm.importHmacKey(value, label),
      sign: (uri, data) => hsm.hmacSha256(uri, data),
    },
  });
  const rateLimits = new RateLimits({
    store: new SqlRateLimitStore(database.db, database.relaxed),
    clock,
    settings: config.acme.rateLimits,
  });
  const acmeOrders = new AcmeOrders({
    store: new SqlAcmeOrderStore(database.db),
    issuance,
    revocation,
    rateLimits,
    profiles: acmeProfiles,
    forbiddenNames: config.policy.forbiddenNames,
    clock,
    baseUrl: config.baseUrl,
    logger,
    settings: {
      http01Port: config.acme.http01Port,
      tlsAlpn01Port: config.acme.tlsAlpn01Port,
      dnsResolver: config.acme.dnsResolver,
      timeoutMs: config.acme.validationTimeoutMs,
      orderLifetimeHours: config.acme.orderLifetimeHours,
      validAuthorizationHours: config.acme.validAuthorizationHours,
      checkCaa: config.acme.checkCaa,
      caaIdentities: config.acme.caaIdentities,
      answerWithinMs: 1000,
      maxIdentifiers: 100,
      profile: config.acme.profile,
    },
  });
  const responder = ocsp;
  let nonceSweep: NodeJS.Timeout | undefined;
  let keySchedule: NodeJS.Timeout | undefined;
  let draining = false;
  return {
    config,
    clock,
    database,
    hsm,
    caTokens,
    ca,
    issuance,
    revocation,
    acme,
    acmeOrders,
    ocsp: responder,
    crl,
    tokens,
    users,
    keys,
    keyCrypto,
    keyImport,
    distribution,
    escrow,
    backup,
    revokedKeys,
    approvals,
    compromisedKeys,
    overview,
    runOperation(operation, params, actor) {
      const run = operations.get(operation);
      if (!run) throw new Error(`no operation ${operation}`);
      return run(params, actor);
    },
    audit,
    metrics,
    bursts,
    async readiness() {
      const [db, token] = await Promise.all([
        sql`SELECT 1`.execute(database.db).then(
          () => "ok",
          (error: Error) => `unreachable: ${error.message}`,
        ),
        hsm.ping().then(
          () => "ok",
          (error: Error) => `unavailable: ${error.message}`,
        ),
      ]);
      if (draining) return { ready: false, database: db, hsm: token, draining: true };
      return { ready: db === "ok" && token === "ok", database: db, hsm: token };
    },
    beginDrain() {
      draining = true;
    },
    startSchedulers() {
      audit.start();
      // Scheduled destruction, cryptoperiod ends and rotation periods, checked every minute.
      keySchedule = setInterval(
        () =>
          void slots
            .claim("kms-schedule", 60_000)
            .then((won) =>
              won
                ? Promise.all([
                    keys.runSchedule(SYSTEM_ACTOR),
                    distribution.processRevokedRecipients(SYSTEM_ACTOR),
                    escrow.escrowPending(SYSTEM_ACTOR),
                  ])
                : undefined,
            )
            .catch((error) => logger?.error({ err: error }, "key schedule failed")),
        60_000,
      );
      keySchedule.unref();
      // The root's key may be offline: its CRL is signed with `keyward crl root`, not here.
      const claim = (job: string, periodMs: number) => slots.claim(job, periodMs);
      crl.start(async () => (await ca.list()).filter((c) => c.kind === "intermediate").map((c) => c.id), 60_000, claim);
      responder.start(60_000, claim);
      // Other instances' revocations: at once by notice (PostgreSQL), within a second by the sweep.
      responder.watchStorage(1000);
      void notifier
        .subscribe("keyward_ocsp", (serial) => responder.dropFromMemory(serial))
        .catch((error) => logger?.warn({ err: error }, "cannot listen for OCSP changes; the sweep remains"));
      // Used nonces, old counters and long-expired orders and authorizations must not pile up.
      nonceSweep = setInterval(
        () =>
          void Promise.all([
            acme.cleanupNonces(),
            rateLimits.cleanup(),
            acmeOrders.cleanup(),
            slots.claim("issuance-sweep", 60_000).then((won) => (won ? issuance.abandonStale(SYSTEM_ACTOR) : 0)),
          ]).catch((error) => logger?.error({ err: error }, "ACME cleanup failed")),
        60_000,
      );
      nonceSweep.unref();
    },
    async close() {
      if (nonceSweep) clearInterval(nonceSweep);
      audit.stop();
      if (keySchedule) clearInterval(keySchedule);
      crl.stop();
      responder.stop();
      await notifier.close();
      await caTokens.close();
      await hsm.close();
      await database.close();
    },
  };
}

/** External CAs whose certificates may receive keys (kms.trustAnchors), read once at start. */
function loadTrustAnchors(anchors: Config["kms"]["trustAnchors"]) {
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
