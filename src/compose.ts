import type { Logger } from "pino";
import { ApprovalService, TokenService, TotpEnrolment, UserService } from "./access/index.js";
import { type Acme, createAcme, MemoryNonceStore, type NonceStore } from "./acme/index.js";
import { type Actor, AuditLog, AuditSummaries, SYSTEM_ACTOR } from "./audit/index.js";
import { BackupService, copySoftHsmToken } from "./backup/index.js";
import { type Background, type Clock, every, systemClock } from "./clock/index.js";
import type { Config } from "./config/index.js";
import { isWorker } from "./workers.js";
import { EscrowService } from "./escrow/index.js";
import { checkCapabilities, createHealth, type Health } from "./health/index.js";
import {
  type HsmReport,
  openTokens,
  type Pkcs11Hsm,
  ProtectedSecretKeys,
  protectedWrapping,
  type TokenSet,
} from "./hsm/index.js";
import {
  type CertificateRecord,
  certifiedServiceKeys,
  createIssuance,
  type IssuanceService,
} from "./issuance/index.js";
import {
  createKeys,
  type KeyCrypto,
  type KeyDistribution,
  type KeyImport,
  type KeyCertification,
  type KeyLifecycle,
  type KeyPairCrypto,
  loadTrustAnchors,
  type RevokedKeyList,
  recipientTrust as createRecipientTrust,
} from "./keys/index.js";
import { createKmip, type Kmip } from "./kmip/index.js";
import { createLinter } from "./lint/index.js";
import { defaultRules } from "./lint/rules/index.js";
import { createBurstWatch, Metrics, type RateWatch } from "./metrics/index.js";
import { sensitiveOperations } from "./operations.js";
import { OverviewService } from "./overview/index.js";
import {
  type CompromisedKeys,
  type CrlPublisher,
  createRevocation,
  type OcspResponder,
  type RevocationService,
} from "./revocation/index.js";
import { baseUrlOfHierarchy, CertificateAuthority, chooseBaseUrl } from "./signer/index.js";
import { createSsh, type SshService, sshLintRules } from "./ssh/index.js";
import {
  createNotifier,
  type OpenDatabase,
  openDatabase,
  SchedulerSlots,
  SqlAcmeOrderStore,
  SqlAcmeStore,
  SqlNonceStore,
  SqlApprovalStore,
  SqlAuditStore,
  SqlCaStore,
  SqlCertificateStore,
  SqlDistributionStore,
  SqlKmipAttributeStore,
  SqlEscrowStore,
  SqlKeyStore,
  SqlOverviewStore,
  SqlRateLimitStore,
  SqlRevocationStore,
  SqlSealedKeyStore,
  SqlServiceKeyStore,
  SqlSshStore,
  SqlTokenStore,
  SqlUserStore,
} from "./storage/index.js";

/** Keyward's own service keys that health reports on: purpose, component, what the key does. */
const SERVICE_KEYS = [
  ["revoked-keys", "kms-signer", "KMS signer key (/kms/revoked)"],
  ["backup-signer", "backup-signer", "backup signer key"],
  ["key-import", "kms-import-key", "KMS key-import key"],
] as const;

/** Everything a serving instance or a CLI command uses: the modules as their factories built them. */
export interface Services extends Health {
  config: Config;
  clock: Clock;
  database: OpenDatabase;
  hsm: Pkcs11Hsm;
  /** The online token and, attached for ceremonies only, the offline root token. */
  caTokens: TokenSet;
  ca: CertificateAuthority;
  issuance: IssuanceService;
  /** The certificate with this serial, undefined when there is none (storage failures throw). */
  findCertificate(serial: string): Promise<CertificateRecord | undefined>;
  revocation: RevocationService;
  acme: Acme;
  /** The SSH certificate authority (user and host certificates, KRL). */
  ssh: SshService;
  ocsp: OcspResponder;
  crl: CrlPublisher;
  tokens: TokenService;
  users: UserService;
  /** A new authenticator after a recovery-code login, an admin's reset or the CLI's. */
  totpEnrolment: TotpEnrolment;
  /** The KMS: lifecycle, data plane (encrypt, decrypt, MAC) and BYOK import. */
  keys: KeyLifecycle;
  keyCrypto: KeyCrypto;
  /** KMS key pairs' data plane: public key, sign, verify, JWS, RSA-OAEP decrypt. */
  keyPairs: KeyPairCrypto;
  /** Certificates for KMS key pairs under Keyward's CA. */
  keyCertification: KeyCertification;
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
  /** The KMIP listener over the KMS (started by the server when `kmip.listen` is set). */
  kmip: Kmip;
  /** Runs a sensitive operation now (after step-up, when no quorum is required or once it was reached). */
  runOperation(operation: string, params: Record<string, unknown>, actor: Actor): Promise<unknown>;
  audit: AuditLog;
  /** Audit events for refusals anyone can cause in bulk: bounded, with summaries. */
  refusals: AuditSummaries;
  metrics: Metrics;
  /** Per-principal burst detection on key use (certificate signing, decrypts). */
  bursts: RateWatch;
  /** Background work of a serving instance (CRLs, OCSP refresh, checkpoints, KMS schedule, sweeps). */
  startSchedulers(): void;
  close(): Promise<void>;
}

/**
 * The token alone, probed and closed: `keyward hsm check` works on a new HSM before any database
 * or CA exists.
 */
export async function checkToken(config: Config): Promise<HsmReport> {
  const { hsm, caTokens } = await openTokens({ ...config.hsm, signingThreads: 0 });
  try {
    return (await hsm.probe()).report();
  } finally {
    await caTokens.close();
    await hsm.close();
  }
}

/**
 * ACME nonces live where every instance that may receive a client's next request sees them. One
 * process (SQLite without `serve --workers`) keeps them in memory: two database writes fewer per
 * ACME request, and a restart only costs clients a badNonce retry. Instances that share the
 * database (workers, or PostgreSQL, which may be a fleet behind a balancer) keep them in it.
 */
export function acmeNonces(
  database: Pick<OpenDatabase, "db" | "dialect" | "relaxed">,
  config: Pick<Config, "workers">,
  worker = isWorker(),
): NonceStore {
  const oneProcess = database.dialect === "sqlite" && config.workers === 1 && !worker;
  return oneProcess ? new MemoryNonceStore() : new SqlNonceStore(database.db, database.relaxed);
}

/**
 * The composition root: config → storage → token → modules in dependency order, each built by its
 * own factory from the ports it needs. Background work starts in that order and stops in reverse.
 */
export async function compose(configured: Config, options: { clock?: Clock; logger?: Logger } = {}): Promise<Services> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger;
  // Config files are checked before anything is opened.
  const trustAnchors = loadTrustAnchors(configured.kms.trustAnchors);
  const database = await openDatabase(configured.database.url);
  // The base URL certificates and CRLs carry is the deployment's (stored at init), never the one
  // of whichever process or shell signs: every module below gets it.
  const caStore = new SqlCaStore(database.db);
  let config: Config;
  try {
    const choice = chooseBaseUrl({
      deployment: (await caStore.baseUrl()) ?? baseUrlOfHierarchy(await caStore.list()),
      configured: configured.baseUrl,
      explicit: !configured.baseUrlFromListen,
    });
    if (choice.warning) logger?.warn({ baseUrl: choice.baseUrl, configured: configured.baseUrl }, choice.warning);
    config = { ...configured, baseUrl: choice.baseUrl };
  } catch (error) {
    await database.close();
    throw error;
  }
  let tokens: Awaited<ReturnType<typeof openTokens>>;
  try {
    tokens = await openTokens(config.hsm);
  } catch (error) {
    await database.close();
    throw error;
  }
  const { hsm, caTokens } = tokens;
  const db = database.db;
  // kms.protection: new secret keys in the token, or sealed by a token key pair where configured
  // (or, with auto, where the token cannot hold them); every consumer of secret keys goes through it.
  const secretKeys = new ProtectedSecretKeys({
    token: hsm.secretKeys,
    keyPairs: hsm.keyPairs,
    store: new SqlSealedKeyStore(db),
    protection: config.kms.protection,
    tokenLabel: hsm.tokenLabel,
    feature: (name) => hsm.capabilities().feature(name),
    keyTypes: () => hsm.capabilities().keyTypes(),
  });
  const wrapping = protectedWrapping(hsm.wrapping, secretKeys);
  const metrics = new Metrics({
    defaultMetrics: true,
    detailedLabels: config.monitoring.detailedLabels,
    databaseStatements: database.statements,
  });
  hsm.instrument((operation, run) => metrics.timeHsm(operation, "pkcs11", run));
  // Periodic jobs run once per slot across every instance sharing this database.
  const schedulerSlots = new SchedulerSlots(db, clock);
  const slots = (job: string, periodMs: number) => schedulerSlots.claim(job, periodMs);
  const notifier = createNotifier(database, config.database.url, logger);
  const failed = (what: string) => (error: unknown) => logger?.error({ err: error }, `${what} failed`);

  // The CA: the only holder of the signing-keys facet, with the lint gate before every signature.
  if (!config.lint.enabled) logger?.warn("the lint gate is OFF (lint.enabled: false): signatures are not linted");
  const rootToken = config.hsm.rootToken;
  const sshStore = new SqlSshStore(db);
  const ca = new CertificateAuthority({
    keys: caTokens,
    store: caStore,
    clock,
    baseUrl: config.baseUrl,
    profiles: config.profiles,
    lint: createLinter(config.lint.enabled ? [...defaultRules, ...sshLintRules] : []),
    logger,
    sshStore,
    rootKeys: rootToken
      ? {
          generateKeyPair: (type, label) => caTokens.generateKeyPairOn(rootToken, type, label),
          checkKeyType: (type) => caTokens.checkKeyTypeOn(rootToken, type),
        }
      : undefined,
  });

  // The RA. Blocked keys are refused by the certificate store itself (the intent's statement).
  const certificates = new SqlCertificateStore(db);
  const revocationStore = new SqlRevocationStore(db);
  // "Is there a certificate with this serial?" for ACME, recipient trust and client-certificate login.
  const findCertificate = (serial: string) => certificates.get(serial);
  const issuance = createIssuance({
    ca,
    store: certificates,
    profiles: config.profiles,
    forbiddenNames: config.policy.forbiddenNames,
    nameConstraints: config.ca.nameConstraints,
    slots,
    clock,
    logger,
  });
  const serviceKeyStore = new SqlServiceKeyStore(db);
  const serviceKeys = certifiedServiceKeys({
    ca,
    issuance: issuance.issuance,
    store: serviceKeyStore,
    clock,
  });

  const auditStore = new SqlAuditStore(db);
  const audit = new AuditLog({
    store: auditStore,
    keys: ca.serviceKeys,
    clock,
    settings: config.audit,
    logger,
    issueAuditCertificate: async (spki) =>
      issuance.issuance.issueForKey({
        caId: (await ca.defaultIssuer()).id,
        profile: "audit-signer",
        spki,
        commonName: "Keyward Audit Log Signer",
        extensions: [],
      }),
    certificateChain: (serial) => issuance.issuance.findCertificateChain(serial),
  });
  // Refusals anyone can cause in bulk are audited with a bounded number of writes.
  const auditSummaries = new AuditSummaries({ record: (event) => audit.record(event), clock, logger });
  const { bursts, keyUsed } = createBurstWatch({
    metrics,
    audit,
    limits: config.monitoring.bursts,
    clock,
    logger,
  });

  const revocation = createRevocation({
    store: revocationStore,
    certificates,
    ca,
    issuance: issuance.issuance,
    notices: notifier,
    slots,
    clock,
    settings: config.revocation,
    profiles: config.profiles,
    logger,
  });
  // Issued certificates get pre-signed answers from the responder, which issues its own
  // certificate through issuance: issuance's explicit port closes the loop.
  issuance.issuance.attachOcsp(revocation.ocsp);

  const userStore = new SqlUserStore(db);
  const access = {
    // Notices tell the other instances of a revoked token (their caches drop it at once).
    tokens: new TokenService({ store: new SqlTokenStore(db), clock, notices: notifier, logger }),
    users: new UserService({
      store: userStore,
      seeds: secretKeys,
      clock,
      sessionMinutes: config.access.sessionMinutes,
      throttle: config.access.loginThrottle,
      onThrottled: (source, scope) =>
        // The global bucket refuses whoever comes: one kind, however many addresses a flood uses.
        auditSummaries.note(scope === "global" ? "auth.login.throttled:global" : `auth.login.throttled:${source}`, {
          action: "auth.login.throttled",
          actor: { id: "anonymous", name: "anonymous", kind: "anonymous", address: source },
          outcome: "denied",
          details: { scope },
        }),
    }),
    totpEnrolment: new TotpEnrolment({ store: userStore, seeds: secretKeys, clock }),
  };

  // The KMS: key lifecycle, data plane, BYOK import, distribution and the signed revoked-key list.
  const trust = createRecipientTrust({
    cas: () => ca.list(),
    findCertificate,
    anchors: trustAnchors,
    logger,
  });
  const kms = createKeys({
    keyStore: new SqlKeyStore(db),
    distributionStore: new SqlDistributionStore(db),
    secretKeys,
    keyPairs: hsm.keyPairs,
    wrapping,
    clock,
    audit,
    logger,
    onUse: keyUsed,
    trust,
    // Key pairs' certificates go through normal issuance (profiles, policy, lint, audit).
    certificates: {
      async issue(csr, profile, actor, scope) {
        const issued = await issuance.issuance.issue({ csr, profile, actor, scope });
        return {
          serial: issued.serial,
          certificate: issued.certificate,
          chain: issued.chain.map((c) => Buffer.from(c.rawData)),
          notAfter: issued.notAfter,
        };
      },
      async chain(serial) {
        return (await issuance.issuance.certificateChain(serial)).map((c) => Buffer.from(c.rawData));
      },
      async revokeForCompromise(serial, actor) {
        const record = await certificates.get(serial);
        if (record?.status === "revoked") return;
        await revocation.revocation.revoke({ serial, reason: "keyCompromise", actor });
      },
    },
    importKey: serviceKeys.key({
      purpose: "key-import",
      // SoftHSM 2.6 unwraps RSA-OAEP with SHA-1 only; RSA-3072 keeps the import key strong anyway.
      keyType: "rsa3072",
      usage: "unwrap",
      profile: "kms-import",
      commonName: "Keyward Key Import",
    }),
    revokedListSigner: serviceKeys.signing({
      purpose: "revoked-keys",
      profile: "kms-signer",
      commonName: "Keyward Key Revocation List Signer",
    }),
    settings: {
      destroyWaitDays: config.kms.destroyWaitDays,
      defaultRotationDays: config.kms.defaultRotationDays,
      defaultCryptoperiodDays: config.kms.defaultCryptoperiodDays,
      allowJweDistribution: config.kms.allowJweDistribution,
      revokedListHours: config.kms.revokedListHours,
      issuer: config.baseUrl,
    },
  });
  const { lifecycle: keys, distribution } = kms;
  revocation.revocation.onRevoked(() => distribution.processRevokedRecipients(SYSTEM_ACTOR));
  const kmsSchedule = every(
    60_000,
    // Scheduled destruction, cryptoperiod ends and rotation periods, and keys exposed by revocations.
    () => Promise.all([keys.runSchedule(SYSTEM_ACTOR), distribution.processRevokedRecipients(SYSTEM_ACTOR)]),
    failed("key schedule"),
    { slots, job: "kms-schedule" },
  );

  const escrow = new EscrowService({
    store: new SqlEscrowStore(db),
    keys,
    secretKeys,
    wrapping,
    trust,
    clock,
    audit,
    logger,
  });
  kms.onNewVersion((keyId, actor) => escrow.escrowPending(actor, keyId));
  const escrowSchedule = every(60_000, () => escrow.escrowPending(SYSTEM_ACTOR), failed("escrow schedule"), {
    slots,
    job: "escrow-schedule",
  });
  const backup = new BackupService({
    database,
    keys,
    token: wrapping,
    trust,
    clock,
    cas: () => ca.list(),
    custodians: () => escrow.agents(),
    signer: serviceKeys.signing({
      purpose: "backup-signer",
      profile: "kms-signer",
      commonName: "Keyward Backup Signer",
    }),
    config,
    audit,
    carryToken: () => copySoftHsmToken(config.hsm),
    sealingKeyOf: (uri) => secretKeys.sealingKeyOf(uri),
    probeKey: (uri) => caTokens.probeKey(uri),
  });

  // The SSH CA: certificates signed by the signer's SSH keys, revocations into a KRL.
  const ssh = createSsh({
    authority: ca.ssh,
    store: sshStore,
    audit,
    clock,
    settings: config.ssh,
    count: (event, type) => metrics.sshCertificates.inc({ event, type }),
    logger,
  });
  // A key blocked by an X.509 revocation (or `key block`) is blocked in the KRL too.
  revocation.revocation.onRevoked(() => ssh.refreshKrl({ onlyIfChanged: true }));
  const sshKrl = every(60_000, () => ssh.refreshKrl({ onlyIfChanged: true }), failed("SSH KRL refresh"), {
    slots,
    job: "ssh-krl",
  });

  const acme = createAcme({
    stores: {
      accounts: new SqlAcmeStore(db),
      nonces: acmeNonces(database, config),
      orders: new SqlAcmeOrderStore(db, database.relaxed),
      rateLimits: new SqlRateLimitStore(db, database.relaxed),
    },
    issuance: issuance.issuance,
    findCertificate,
    revocation: revocation.revocation,
    hmac: {
      importKey: (value, label) => secretKeys.importHmacKey(value, label),
      sign: (uri, data) => secretKeys.hmacSha256(uri, data),
    },
    clock,
    config: { baseUrl: config.baseUrl, acme: config.acme, forbiddenNames: config.policy.forbiddenNames },
    // ACME clients may choose among the profiles requesters may use (draft-ietf-acme-profiles).
    profiles: () =>
      Object.fromEntries(issuance.issuance.profileNames().map((name) => [name, config.profiles[name]!.description])),
    logger,
  });
  // Used nonces, old counters and long-expired orders and authorizations must not pile up.
  const acmeCleanup = every(60_000, () => acme.cleanup(), failed("ACME cleanup"));
  // SQLite's name search indexes new certificates in batches, far cheaper than one by one.
  const nameSearchIndex = every(2_000, () => certificates.indexPendingNames(), failed("certificate name index"));

  // Dual control over the sensitive operations of every module above.
  const operations = sensitiveOperations({
    ca,
    crl: revocation.crl,
    users: access.users,
    keys,
    escrow,
    compromisedKeys: revocation.compromisedKeys,
    config,
    logger,
  });
  const approvals = new ApprovalService({
    store: new SqlApprovalStore(db),
    clock,
    policy: config.access.quorum,
    lifetimeHours: config.access.approvalHours,
    executors: operations,
  });

  // KMIP clients use the KMS's keys; their certificates are ours, bound to tokens like mTLS ones.
  const kmip = createKmip({
    keys,
    customAttributes: new SqlKmipAttributeStore(db),
    crypto: kms.crypto,
    distribution,
    issuance: { issue: (request) => issuance.issuance.issue(request) },
    cas: () => ca.list(),
    findCertificate,
    tokens: access.tokens,
    approvals,
    audit,
    clock,
    logger,
    settings: config.kmip,
  });

  const overview = new OverviewService({
    store: new SqlOverviewStore(db),
    clock,
    cas: () => ca.list(),
    currentCrl: (caId) => revocation.crl.current(caId),
    responder: (caId) => revocationStore.currentResponder(caId),
    pendingApprovals: () => approvals.list({ status: "pending", limit: 100 }),
    // Sealing signs a tree head first; when that cannot be done (the audit key's issuer is missing,
    // which health reports on its own), the overview still shows what the log verifies to.
    verifyAudit: () => audit.verify({ seal: true }).catch(() => audit.verify()),
    dueCrls: () => revocationStore.dueCrls(),
    capabilities: async () => (await health.readiness()).components,
    settings: {
      caWarningDays: 90,
      ocspValidityHours: config.revocation.ocspValidityHours,
      internalProfiles: Object.keys(config.profiles).filter((name) => config.profiles[name]!.internal),
    },
  });
  const health = createHealth(
    () =>
      checkCapabilities({
        clock,
        database: () => database.ping(),
        token: () => hsm.ping(),
        tokenLabel: hsm.tokenLabel,
        probeKey: (uri) => caTokens.probeKey(uri),
        cas: () => caStore.list(),
        responder: (caId) => revocationStore.currentResponder(caId),
        currentCrl: (caId) => revocation.crl.current(caId),
        crlDue: (caId) => revocationStore.crlDue(caId),
        async serviceKeys() {
          const created = [];
          for (const [purpose, component, what] of SERVICE_KEYS) {
            const record = await serviceKeyStore.get(purpose);
            if (record) created.push({ component, what, keyUri: record.keyUri });
          }
          return created;
        },
        async auditSigner() {
          const [key, head, last] = [
            await auditStore.auditKey(),
            await auditStore.head(),
            await auditStore.latestTreeHead(),
          ];
          return { keyUri: key?.keyUri, lastSignedAt: last?.at, unsignedEvents: head.seq - (last?.size ?? 0) };
        },
        // Heads come every second under load; a warning only after 30 s without one.
        auditIntervalSeconds: Math.max(config.audit.treeHeadSeconds, 10),
      }),
    { lintGateOff: !config.lint.enabled },
  );

  // Started in this order, stopped in reverse.
  const background: Background[] = [
    issuance,
    audit,
    auditSummaries,
    revocation,
    kmsSchedule,
    escrowSchedule,
    acmeCleanup,
    sshKrl,
    nameSearchIndex,
    // Serving instances hold authenticated API tokens in memory while this invalidates them.
    access.tokens.watch(),
  ];
  return {
    config,
    clock,
    database,
    hsm,
    caTokens,
    ca,
    issuance: issuance.issuance,
    findCertificate,
    revocation: revocation.revocation,
    ocsp: revocation.ocsp,
    crl: revocation.crl,
    compromisedKeys: revocation.compromisedKeys,
    acme,
    ssh,
    ...access,
    keys,
    keyCrypto: kms.crypto,
    keyPairs: kms.keyPairs,
    keyCertification: kms.certification,
    keyImport: kms.imports,
    distribution,
    escrow,
    backup,
    revokedKeys: kms.revokedList,
    approvals,
    overview,
    kmip,
    runOperation(operation, params, actor) {
      const run = operations.get(operation);
      if (!run) throw new Error(`no operation ${operation}`);
      return run(params, actor);
    },
    audit,
    refusals: auditSummaries,
    metrics,
    bursts,
    ...health,
    startSchedulers() {
      for (const job of background) job.start();
    },
    async close() {
      await kmip.stop();
      for (const job of [...background].reverse()) await job.stop();
      await notifier.close();
      await caTokens.close();
      await hsm.close();
      await database.close();
    },
  };
}
