import type { Actor, AuditEvent } from "../audit/index.js";
import { newSerial } from "../pki/serial.js";
import * as x509 from "@peculiar/x509";
import { addDays, type Clock, wholeSeconds } from "../clock/index.js";
import { ANY_POLICY, type CaSettings, type NameConstraintsSettings, type Profile } from "../config/schema.js";
import { ConflictError, HsmError, NotFoundError } from "../errors/index.js";
import { type KeyType, signingAlgorithmFor } from "../pki/key-types.js";
import { certificatePolicies, tbsCertificate } from "../pki/certificate-der.js";
import { spkiSha256Hex, toArrayBuffer } from "../pki/spki.js";
import { normalizeBaseUrl } from "./base-url.js";
import { nameConstraintsExtension, subjectKeyIdentifier } from "./extensions.js";
import { issuingScope } from "../config/issuing-scope.js";
import { caKeyMissing, namingMissingKeys } from "./missing-keys.js";
import type { Logger } from "pino";
import type { LintContext, Linter } from "../lint/index.js";
import type { CaRecord, CaStore, KeyStore } from "./ports.js";
import { type ServiceKeys, serviceKeys } from "./service-keys.js";
import { signatureAlgorithmIdentifier, signatureParts, signStructure } from "./structure.js";
import { signingCrypto, TokenPrivateKey } from "./webcrypto.js";
import { SshAuthority, type SshCaKeyStore } from "./ssh-authority.js";

export interface HierarchySettings {
  root: CaSettings & { pathLength?: number };
  intermediates: CaSettings[];
  nameConstraints?: NameConstraintsSettings;
}

export interface CertificateToSign {
  serial: string;
  /** DER Name. */
  subject: Buffer;
  spki: Buffer;
  notBefore: Date;
  notAfter: Date;
  /** Subject-side extensions (DER); the CA adds AKI, AIA and the CRL distribution point. */
  extensions: Buffer[];
  /**
   * The certificate is never checked for revocation (id-pkix-ocsp-nocheck, an OCSP responder's):
   * the CA adds only the AKI, no CRL distribution point and no AIA (BR §7.1.2.8).
   */
  noRevocationCheck?: boolean;
}

/** A TBSCertificate built and linted by the CA, to be recorded and then signed as it is. */
export interface PreparedCertificate {
  readonly caId: string;
  /** A copy of the exact DER that will be signed. */
  readonly tbs: Buffer;
}

interface LoadedCa {
  record: CaRecord;
  certificate: x509.X509Certificate;
  key: TokenPrivateKey;
  /** What every certificate it signs repeats, encoded once: its Name, algorithm and extensions. */
  issuing?: { name: Buffer; signatureAlgorithm: Buffer; extensions: Buffer[]; unchecked: Buffer[]; lint: LintContext };
}

/** A CA built without an SSH key store (some tests) has no SSH keys and cannot create them. */
const NO_SSH_KEYS: SshCaKeyStore = {
  sshCaKeys: async () => [],
  insertSshCaKey: async () => {
    throw new Error("this CA has no SSH key store");
  },
};

/** How long the hierarchy read from storage is used before it is read again. */
const RELOAD_MS = 30_000;

/** CAs are backdated this much so a client whose clock runs a little slow accepts them at once. */
const BACKDATE_MS = 5 * 60_000;

/**
 * The CA: the only module that uses CA signing keys. It creates the hierarchy (keys generated in
 * the token) and signs what the registration authority has already checked and recorded.
 */
export class CertificateAuthority {
  private readonly crypto = signingCrypto();
  /** What prepareCertificate built, by the object it returned: the only TBS signCertificate signs. */
  private readonly prepared = new WeakMap<PreparedCertificate, Buffer>();
  private loaded: Map<string, LoadedCa> | undefined;
  private loadedAt = 0;
  /** The token's signing keys; a signature with a key gone from the token names that key. */
  private readonly keys: KeyStore;

  constructor(
    private readonly deps: {
      keys: KeyStore;
      store: CaStore;
      /** Runs before every signature this module makes. */
      lint: Linter;
      logger?: Logger;
      clock: Clock;
      baseUrl: string;
      /** The issuance profiles: an intermediate's policies and EKUs are those of the profiles it may issue. */
      profiles: Readonly<Record<string, Profile>>;
      /** Where a new root's key is generated when the root lives on its own (offline) token. */
      rootKeys?: Pick<KeyStore, "generateKeyPair" | "checkKeyType">;
      /** Where the SSH CA keys are recorded (they are CA keys too: service keys never reach them). */
      sshStore?: SshCaKeyStore;
    },
  ) {
    this.keys = namingMissingKeys(deps.keys, async (uri) => {
      const ca = [...(await this.all()).values()].find((c) => c.record.keyUri === uri);
      return ca ? caKeyMissing(ca.record.id, uri) : `key missing (${uri})`;
    });
    this.ssh = new SshAuthority({
      keys: deps.keys,
      store: deps.sshStore ?? NO_SSH_KEYS,
      lint: deps.lint,
      clock: deps.clock,
      logger: deps.logger,
    });
    this.serviceKeys = serviceKeys({
      keys: namingMissingKeys(deps.keys, async (uri) => `key missing (${uri})`),
      lint: deps.lint,
      defaultKeyType: async () => (await this.defaultIssuer()).keyType,
      isCaKey: async (uri) =>
        [...(await this.all()).values()].some((ca) => ca.record.keyUri === uri) || (await this.ssh.isCaKey(uri)),
    });
  }

  /** The SSH user and host CA keys: OpenSSH certificates are signed here, like X.509 ones above. */
  readonly ssh: SshAuthority;

  /** Keyward's own keys (OCSP responders, audit, KMS statements): the port that never reaches a CA key. */
  readonly serviceKeys: ServiceKeys;

  /** Creates the root and the configured intermediates. Refuses when any CA already exists. */
  async initialize(settings: HierarchySettings, actor: Actor): Promise<CaRecord[]> {
    const existing = await this.deps.store.list();
    if (existing.length > 0) {
      throw new ConflictError(
        `a CA already exists here (${existing.map((c) => `${c.kind} "${c.id}"`).join(", ")}); init never overwrites it`,
      );
    }
    const ids = [settings.root.id, ...settings.intermediates.map((i) => i.id)];
    if (new Set(ids).size !== ids.length) throw new ConflictError(`CA ids must be unique, got ${ids.join(", ")}`);
    // A key type the token cannot do is refused before any key is generated.
    await (this.deps.rootKeys ?? this.deps.keys).checkKeyType(settings.root.keyType);
    for (const intermediate of settings.intermediates) await this.deps.keys.checkKeyType(intermediate.keyType);

    const created: string[] = [];
    try {
      const root = await this.createRoot(settings.root, created);
      const records = [root.record];
      for (const [index, intermediate] of settings.intermediates.entries()) {
        const ca = await this.createIntermediateUnder(
          root,
          intermediate,
          settings.nameConstraints,
          index === 0,
          created,
        );
        records.push(ca.record);
      }
      // The base URL the new certificates carry becomes the deployment's, in the same transaction.
      await this.deps.store.insert(
        records,
        records.map((r) => this.caEvent("ca.create", r, actor)),
        this.deps.baseUrl,
      );
      this.loaded = undefined;
      return records;
    } catch (error) {
      await this.destroyKeys(created);
      throw error;
    }
  }

  /** Issues a new intermediate from a parent CA (a second issuer, or a rollover). */
  async createIntermediate(
    settings: CaSettings,
    options: { parentId?: string; makeDefault?: boolean; nameConstraints?: NameConstraintsSettings },
    actor: Actor,
  ): Promise<CaRecord> {
    if (await this.deps.store.get(settings.id)) throw new ConflictError(`a CA with id "${settings.id}" already exists`);
    const parent = await this.load(options.parentId ?? (await this.root()).id);
    const created: string[] = [];
    try {
      const ca = await this.createIntermediateUnder(parent, settings, options.nameConstraints, false, created);
      await this.deps.store.insert([ca.record], [this.caEvent("ca.create", ca.record, actor)]);
      if (options.makeDefault)
        await this.deps.store.setDefault(ca.record.id, this.caEvent("ca.set-default", ca.record, actor));
      this.loaded = undefined;
      return (await this.deps.store.get(ca.record.id))!;
    } catch (error) {
      await this.destroyKeys(created);
      throw error;
    }
  }

  /** Makes an existing, unrevoked intermediate the default issuer (the switch of a rollover). */
  async setDefault(id: string, actor: Actor): Promise<CaRecord> {
    const ca = await this.load(id);
    if (ca.record.kind === "root")
      throw new ConflictError("the root issues only CA certificates; choose an intermediate");
    if (ca.record.revokedAt) throw new ConflictError(`CA "${id}" is revoked and cannot become the default issuer`);
    await this.deps.store.setDefault(id, this.caEvent("ca.set-default", ca.record, actor));
    this.loaded = undefined;
    return this.get(id);
  }

  /**
   * Changes the deployment's base URL, on purpose and audited. What is signed from then on (by
   * processes started after) names it; certificates already issued keep naming the old one, so
   * CRLs keep naming it too (crlScopeUrls) until the last intermediate that could have issued
   * such a certificate has expired.
   */
  async setBaseUrl(value: string, actor: Actor): Promise<{ from: string | undefined; to: string }> {
    const to = normalizeBaseUrl(value);
    const from = await this.deps.store.baseUrl();
    if (from === to) throw new ConflictError(`the deployment's base URL already is ${to}`);
    const now = this.deps.clock.now();
    const lastIssuerExpiry = Math.max(
      0,
      ...(await this.deps.store.list()).filter((r) => r.kind !== "root").map((r) => r.notAfter.getTime()),
    );
    const previous = [
      ...(await this.deps.store.previousBaseUrls()).filter((p) => p.url !== to && p.url !== from && p.until > now),
      ...(from && lastIssuerExpiry > now.getTime() ? [{ url: from, until: new Date(lastIssuerExpiry) }] : []),
    ];
    await this.deps.store.setBaseUrl(
      to,
      {
        action: "ca.set-base-url",
        actor,
        target: { type: "deployment", id: "base-url" },
        outcome: "success",
        details: { from: from ?? null, to },
        at: now,
      },
      previous,
    );
    return { from, to };
  }

  /**
   * The distribution point URLs of `caId`'s CRL: the current one, and those certificates issued
   * under an earlier base URL still carry (RFC 5280 §6.3.3 b.2 matches any one of them).
   */
  async crlScopeUrls(caId: string): Promise<string[]> {
    const now = this.deps.clock.now();
    const earlier = (await this.deps.store.previousBaseUrls()).filter((p) => p.until > now).map((p) => p.url);
    return [...new Set([this.deps.baseUrl, ...earlier])].map((base) => `${base}/crl/${caId}.crl`);
  }

  async list(): Promise<CaRecord[]> {
    return [...(await this.all()).values()].map((c) => c.record);
  }

  async get(id: string): Promise<CaRecord> {
    return (await this.load(id)).record;
  }

  async root(): Promise<CaRecord> {
    const root = [...(await this.all()).values()].find((c) => c.record.kind === "root");
    if (!root) throw new NotFoundError("no CA has been initialised; run `keyward init`");
    return root.record;
  }

  async defaultIssuer(): Promise<CaRecord> {
    const all = [...(await this.all()).values()].map((c) => c.record);
    const issuer = all.find((c) => c.isDefault) ?? all.find((c) => c.kind === "intermediate" && !c.revokedAt);
    if (!issuer)
      throw new NotFoundError("no usable intermediate CA exists; create one with `keyward ca create-intermediate`");
    return issuer;
  }

  /**
   * Revokes an intermediate: it issues nothing more and appears on its parent's CRL, which the
   * caller then signs (the root's CRL needs the root key: `keyward crl root`).
   */
  async revokeIntermediate(id: string, reason: number, actor: Actor): Promise<CaRecord> {
    const ca = await this.load(id);
    if (ca.record.kind === "root")
      throw new ConflictError("the root cannot be revoked; retire it by distributing a new trust anchor");
    const event = { ...this.caEvent("ca.revoke", ca.record, actor), details: { reason } };
    if (!(await this.deps.store.revoke(id, this.deps.clock.now(), reason, event))) {
      throw new ConflictError(`CA "${id}" is already revoked`);
    }
    this.loaded = undefined;
    return this.get(id);
  }

  private caEvent(action: string, record: CaRecord, actor: Actor): AuditEvent {
    return {
      action,
      actor,
      target: { type: "ca", id: record.id },
      outcome: "success",
      details: { kind: record.kind, keyType: record.keyType, keyUri: record.keyUri, subject: record.subject },
      at: this.deps.clock.now(),
    };
  }

  /** The CA's certificate followed by its parents up to and including the root. */
  async chain(id: string): Promise<x509.X509Certificate[]> {
    const chain: x509.X509Certificate[] = [];
    let ca: LoadedCa | undefined = await this.load(id);
    while (ca) {
      chain.push(ca.certificate);
      ca = ca.record.parentId ? await this.load(ca.record.parentId) : undefined;
    }
    return chain;
  }

  /**
   * Builds the TBSCertificate for a CA and lints it: the exact bytes `signCertificate` will sign,
   * for the registration authority to record durably first.
   */
  async prepareCertificate(caId: string, request: CertificateToSign): Promise<PreparedCertificate> {
    const ca = await this.load(caId);
    ca.issuing ??= this.issuing(ca);
    const tbs = tbsCertificate({
      serial: request.serial,
      signatureAlgorithm: ca.issuing.signatureAlgorithm,
      issuer: ca.issuing.name,
      notBefore: request.notBefore,
      notAfter: request.notAfter,
      subject: request.subject,
      spki: request.spki,
      extensions: [
        ...request.extensions,
        ...(request.noRevocationCheck ? ca.issuing.unchecked : ca.issuing.extensions),
      ],
    });
    this.deps.lint.check("certificate", tbs, ca.issuing.lint);
    const prepared: PreparedCertificate = { caId, tbs: Buffer.from(tbs) };
    this.prepared.set(prepared, tbs);
    return prepared;
  }

  /**
   * Signs a certificate this CA prepared (and linted), byte for byte as prepared: a TBS built or
   * changed elsewhere is never signed with a CA key.
   */
  async signCertificate(prepared: PreparedCertificate): Promise<Buffer> {
    const tbs = this.prepared.get(prepared);
    if (!tbs) throw new Error("signCertificate takes only what prepareCertificate returned");
    this.prepared.delete(prepared);
    const ca = await this.load(prepared.caId);
    return aboutCa(prepared.caId, signStructure(this.keys, ca.record.keyUri, ca.record.keyType, tbs));
  }

  /** What CRLs and OCSP need to name a CA: its subject Name and SPKI (DER) and key identifier. */
  async issuerInfo(
    caId: string,
  ): Promise<{ record: CaRecord; subject: Buffer; spki: Buffer; keyIdentifier: Buffer | undefined }> {
    const ca = await this.load(caId);
    const ski = subjectKeyIdentifier(ca.certificate);
    return {
      record: ca.record,
      subject: Buffer.from(ca.certificate.subjectName.toArrayBuffer()),
      spki: Buffer.from(ca.certificate.publicKey.rawData),
      keyIdentifier: ski ? Buffer.from(ski, "hex") : undefined,
    };
  }

  /**
   * Lints a TBSCertList and signs it with the CA's key in the token: its signatureAlgorithm and
   * signatureValue, for the caller to append (a CRL of a million entries is built in place).
   */
  async signCrl(caId: string, tbsCertList: Buffer, history: LintContext["crl"] = {}): Promise<[Buffer, Buffer]> {
    const ca = await this.load(caId);
    this.deps.lint.check("crl", tbsCertList, { ...this.lintContext(ca), crl: history });
    return aboutCa(caId, signatureParts(this.keys, ca.record.keyUri, ca.record.keyType, tbsCertList));
  }

  private issuing(ca: LoadedCa): NonNullable<LoadedCa["issuing"]> {
    const extensions = this.issuerExtensions(ca);
    return {
      name: Buffer.from(ca.certificate.subjectName.toArrayBuffer()),
      signatureAlgorithm: signatureAlgorithmIdentifier(ca.record.keyType),
      extensions: extensions.map((e) => Buffer.from(e.rawData)),
      // What a certificate never checked for revocation gets: the same, less where to check it.
      unchecked: extensions
        .filter(
          (e) =>
            !(e instanceof x509.AuthorityInfoAccessExtension) && !(e instanceof x509.CRLDistributionPointsExtension),
        )
        .map((e) => Buffer.from(e.rawData)),
      lint: this.lintContext(ca),
    };
  }

  /** A CA key whose signatures over CA certificates pass the lint gate first (they are built by @peculiar/x509). */
  private linted(key: TokenPrivateKey, context: LintContext): TokenPrivateKey {
    return key.withBeforeSign(async (tbs) => void this.deps.lint.check("certificate", Buffer.from(tbs), context));
  }

  /** What the lint rules check against: the key that signs (its algorithm, its key identifier). */
  private lintContext(ca: LoadedCa): LintContext {
    const ski = subjectKeyIdentifier(ca.certificate);
    return {
      issuer: {
        spki: Buffer.from(ca.certificate.publicKey.rawData),
        keyIdentifier: ski ? Buffer.from(ski, "hex") : undefined,
        crlDistributionPoint: this.crlDistributionPoint(ca),
      },
    };
  }

  /** AKI, AIA (OCSP + caIssuers) and CRL distribution point of certificates this CA issues. */
  private crlDistributionPoint(ca: LoadedCa): string {
    return `${this.deps.baseUrl}/crl/${ca.record.id}.crl`;
  }

  private issuerExtensions(ca: LoadedCa): x509.Extension[] {
    const base = this.deps.baseUrl;
    const extensions: x509.Extension[] = [];
    const ski = subjectKeyIdentifier(ca.certificate);
    if (ski) extensions.push(new x509.AuthorityKeyIdentifierExtension(ski));
    extensions.push(
      new x509.AuthorityInfoAccessExtension({ ocsp: [`${base}/ocsp`], caIssuers: [`${base}/ca/${ca.record.id}.crt`] }),
      new x509.CRLDistributionPointsExtension([this.crlDistributionPoint(ca)]),
    );
    return extensions;
  }

  private async createRoot(settings: CaSettings & { pathLength?: number }, created: string[]): Promise<LoadedCa> {
    const { uri, spki } = await (this.deps.rootKeys ?? this.keys).generateKeyPair(
      settings.keyType,
      `${settings.id}-ca`,
    );
    created.push(uri);
    const key = new TokenPrivateKey(this.keys, uri, settings.keyType);
    const now = this.deps.clock.now();
    const notBefore = wholeSeconds(new Date(now.getTime() - BACKDATE_MS));
    const notAfter = wholeSeconds(addDays(now, settings.validityDays));
    const certificate = await x509.X509CertificateGenerator.create(
      {
        serialNumber: newSerial(),
        subject: caName(settings),
        issuer: caName(settings),
        notBefore,
        notAfter,
        publicKey: toArrayBuffer(spki),
        // The root signs itself: linted against its own key before the token signs.
        signingKey: this.linted(key, { issuer: { spki } }) as unknown as CryptoKey,
        signingAlgorithm: signingAlgorithmFor(settings.keyType),
        extensions: [
          new x509.BasicConstraintsExtension(true, settings.pathLength, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
          await x509.SubjectKeyIdentifierExtension.create(toArrayBuffer(spki), false, this.crypto),
        ],
      },
      this.crypto,
    );
    return { record: this.record(settings, "root", null, uri, spki, certificate, false), certificate, key };
  }

  private async createIntermediateUnder(
    parent: LoadedCa,
    settings: CaSettings,
    constraints: NameConstraintsSettings | undefined,
    isDefault: boolean,
    created: string[],
  ): Promise<LoadedCa> {
    const { uri, spki } = await this.keys.generateKeyPair(settings.keyType, `${settings.id}-ca`);
    created.push(uri);
    const now = this.deps.clock.now();
    const notBefore = wholeSeconds(new Date(now.getTime() - BACKDATE_MS));
    // An intermediate never outlives the CA that signed it.
    const wanted = wholeSeconds(addDays(now, settings.validityDays));
    const notAfter = new Date(Math.min(wanted.getTime(), parent.record.notAfter.getTime()));
    const nameConstraints = constraints ? nameConstraintsExtension(constraints) : undefined;
    // BR §7.1.2.10.5/6: a TLS subordinate CA asserts its policies and EKUs (configured policies
    // win over the derived ones; the EKUs are always derived). With neither, anyPolicy: BR allows
    // it for an affiliated CA, and Keyward always runs the root that signs its intermediates.
    const scope = issuingScope(settings.id, this.deps.profiles);
    const policies = settings.policies ?? (scope.policies.length ? scope.policies : [ANY_POLICY]);
    const certificate = await x509.X509CertificateGenerator.create(
      {
        serialNumber: newSerial(),
        subject: caName(settings),
        issuer: parent.certificate.subjectName,
        notBefore,
        notAfter,
        publicKey: toArrayBuffer(spki),
        signingKey: this.linted(parent.key, this.lintContext(parent)) as unknown as CryptoKey,
        signingAlgorithm: signingAlgorithmFor(parent.record.keyType),
        extensions: [
          new x509.BasicConstraintsExtension(true, 0, true),
          new x509.KeyUsagesExtension(
            x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
            true,
          ),
          await x509.SubjectKeyIdentifierExtension.create(toArrayBuffer(spki), false, this.crypto),
          ...this.issuerExtensions(parent).filter((e) => !(e instanceof x509.AuthorityInfoAccessExtension)),
          new x509.AuthorityInfoAccessExtension({ caIssuers: [`${this.deps.baseUrl}/ca/${parent.record.id}.crt`] }),
          ...(nameConstraints ? [nameConstraints] : []),
          ...(policies.length
            ? [new x509.Extension("2.5.29.32", false, toArrayBuffer(certificatePolicies(policies, settings.cpsUri)))]
            : []),
          ...(scope.extKeyUsage.length ? [new x509.ExtendedKeyUsageExtension(scope.extKeyUsage, false)] : []),
        ],
      },
      this.crypto,
    );
    const record = this.record(settings, "intermediate", parent.record.id, uri, spki, certificate, isDefault);
    return { record, certificate, key: new TokenPrivateKey(this.keys, uri, settings.keyType) };
  }

  private record(
    settings: CaSettings,
    kind: CaRecord["kind"],
    parentId: string | null,
    keyUri: string,
    spki: Buffer,
    certificate: x509.X509Certificate,
    isDefault: boolean,
  ): CaRecord {
    return {
      id: settings.id,
      parentId,
      kind,
      keyType: settings.keyType,
      keyUri,
      certificate: Buffer.from(certificate.rawData),
      subject: certificate.subject,
      spkiSha256: spkiSha256Hex(spki),
      notBefore: certificate.notBefore,
      notAfter: certificate.notAfter,
      isDefault,
      createdAt: this.deps.clock.now(),
      revokedAt: null,
      revocationReason: null,
    };
  }

  private async all(): Promise<Map<string, LoadedCa>> {
    // Another instance or the CLI may change the hierarchy (a rollover's new default issuer): reload now and then.
    const now = this.deps.clock.now().getTime();
    if (this.loaded && now - this.loadedAt > RELOAD_MS) this.loaded = undefined;
    if (!this.loaded) {
      this.loadedAt = now;
      const map = new Map<string, LoadedCa>();
      for (const record of await this.deps.store.list()) {
        map.set(record.id, {
          record,
          certificate: new x509.X509Certificate(toArrayBuffer(record.certificate)),
          key: new TokenPrivateKey(this.keys, record.keyUri, record.keyType as KeyType),
        });
      }
      this.loaded = map;
    }
    return this.loaded;
  }

  private async load(id: string): Promise<LoadedCa> {
    let ca = (await this.all()).get(id);
    if (!ca) {
      // Another instance may have created it since we loaded.
      this.loaded = undefined;
      ca = (await this.all()).get(id);
    }
    if (!ca) throw new NotFoundError(`no CA with id "${id}"`);
    return ca;
  }

  private async destroyKeys(uris: string[]): Promise<void> {
    // The creation's own error is what the caller must see; a key left behind is named in the log.
    for (const uri of uris) {
      await this.keys.destroyKeyPair(uri).catch((error) => {
        this.deps.logger?.error({ err: error, keyUri: uri }, "a failed CA creation left its key pair in the token");
      });
    }
  }
}

function caName(settings: CaSettings): x509.JsonName {
  const name: x509.JsonName = [];
  if (settings.country) name.push({ C: [settings.country] });
  if (settings.organization) name.push({ O: [settings.organization] });
  name.push({ CN: [settings.commonName] });
  return name;
}

/** An HSM error while signing for a CA names the CA (the token layer knows only the key's URI). */
async function aboutCa<T>(caId: string, signing: Promise<T>): Promise<T> {
  try {
    return await signing;
  } catch (error) {
    throw error instanceof HsmError ? error.withContext({ ca: caId }) : error;
  }
}
