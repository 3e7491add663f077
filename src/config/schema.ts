import { z } from "zod";
import { KEY_USAGE_BITS } from "../pki/certificate-der.js";
import { KEY_TYPES } from "../pki/key-types.js";
import { REVOCATION_REASONS, type RevocationReasonName as ReasonName } from "../pki/reasons.js";

/** RFC 5280 key usages, in named-bit order (the DER encoder relies on it). */
export const KEY_USAGES = KEY_USAGE_BITS;
export type KeyUsageName = (typeof KEY_USAGES)[number];

export const EXTENDED_KEY_USAGES = {
  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
  codeSigning: "1.3.6.1.5.5.7.3.3",
  emailProtection: "1.3.6.1.5.5.7.3.4",
  timeStamping: "1.3.6.1.5.5.7.3.8",
  ocspSigning: "1.3.6.1.5.5.7.3.9",
} as const;

/** RFC 5280 §4.2.1.4 anyPolicy: for CA certificates only. */
export const ANY_POLICY = "2.5.29.32.0";

/** X.660 object identifier: the first arc 0, 1 or 2; under 0 and 1 the second arc is at most 39. */
function isObjectIdentifier(text: string): boolean {
  if (!/^[0-2](\.(0|[1-9]\d*))+$/.test(text)) return false;
  const [first, second] = text.split(".").map(Number);
  return first === 2 || second! <= 39;
}

const policyOid = z.string().refine(isObjectIdentifier, {
  error: (issue) =>
    `${JSON.stringify(issue.input)} is not a policy OID: dotted decimal arcs without leading zeros, the first 0, 1 or 2 (e.g. 2.23.140.1.2.1)`,
});
const policyList = z.array(policyOid).refine((l) => new Set(l).size === l.length, "a policy is listed twice");
/** RFC 5280 §4.2.1.4 id-qt-cps: the CPS pointer qualifier, an IA5String URI. */
const cpsUri = z.url({ protocol: /^https?$/ }).refine((u) => /^[\x20-\x7e]+$/.test(u), "the CPS URI must be ASCII");

export const SAN_TYPES = ["dns", "ip", "email", "uri"] as const;
export type SanType = (typeof SAN_TYPES)[number];

const id = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "ids are lowercase letters, digits and dashes");
const keyType = z.enum(KEY_TYPES);
const keyUsageList = z.array(z.enum(KEY_USAGES)).min(1);
const ekuName = z.union([
  z.enum(Object.keys(EXTENDED_KEY_USAGES) as [keyof typeof EXTENDED_KEY_USAGES]),
  z.string().regex(/^\d+(\.\d+)+$/, "an extended key usage is a known name or a dotted OID"),
]);

export const ProfileSchema = z
  .object({
    description: z.string().default(""),
    /** CA that signs this profile; default: the default intermediate. */
    issuer: id.optional(),
    /** Only Keyward itself issues internal profiles (e.g. OCSP responder certificates). */
    internal: z.boolean().default(false),
    validityDays: z.number().int().positive(),
    maxValidityDays: z.number().int().positive(),
    /** Key usages: one list for every key, or a list per key family. */
    keyUsage: z.union([
      keyUsageList,
      z.object({ rsa: keyUsageList.optional(), ec: keyUsageList.optional(), ed25519: keyUsageList.optional() }),
    ]),
    extKeyUsage: z.array(ekuName).default([]),
    keyTypes: z.array(keyType).min(1).default(["p256", "p384", "rsa2048", "rsa3072", "rsa4096", "ed25519"]),
    sanTypes: z.array(z.enum(SAN_TYPES)).default(["dns", "ip"]),
    requireSan: z.boolean().default(true),
    allowWildcard: z.boolean().default(false),
    /** Allow-list of names: exact names, or `*.suffix` for any name under suffix. Empty: any name. */
    namePatterns: z.array(z.string().min(1)).default([]),
    maxNames: z.number().int().positive().default(100),
    /**
     * certificatePolicies of the leaves (RFC 5280 §4.2.1.4, BR §7.1.2.7.9): the policy OIDs they
     * are issued under; none: no extension. Intermediates that may issue the profile carry them too.
     */
    policies: policyList
      .refine((l) => !l.includes(ANY_POLICY), {
        message: `anyPolicy (${ANY_POLICY}) is for CA certificates; a leaf asserts the policies it was issued under`,
        abort: true,
      })
      .default([]),
    /** CPS URI qualifier on each of the leaves' policies (BR: optional, not recommended for TLS leaves). */
    cpsUri: cpsUri.optional(),
    /**
     * subjectKeyIdentifier in the leaves: RFC 5280 SHOULD, BR §7.1.2.7.6 NOT RECOMMENDED for TLS
     * subscriber certificates (no path builder needs it; the AKI names the issuer).
     */
    subjectKeyIdentifier: z.boolean().default(true),
    /**
     * Reasons a certificate of this profile may be revoked with (RFC 5280 §5.3.1 names). Default:
     * all of them, hold included, for private PKI; `server` ships the BR §7.2.2 subscriber set.
     */
    revocationReasons: z
      .array(z.enum(REVOCATION_REASONS as [ReasonName, ...ReasonName[]]))
      .min(1)
      .default([...REVOCATION_REASONS])
      .refine((reasons) => reasons.includes("keyCompromise"), {
        message: "revocationReasons must include keyCompromise: blocking a key revokes its certificates with it",
      }),
  })
  .strict()
  .refine((p) => p.validityDays <= p.maxValidityDays, {
    message: "validityDays must not exceed maxValidityDays",
  });
export type Profile = z.infer<typeof ProfileSchema>;

const CaSchema = z
  .object({
    id,
    keyType,
    commonName: z.string().min(1).max(64),
    organization: z.string().max(64).optional(),
    /** BR §7.1.2.10.2: countryName in CA subjects; X.520 PrintableString of two capitals. */
    country: z
      .string()
      .regex(/^[A-Z]{2}$/, 'a country is an ISO 3166-1 alpha-2 code in capitals, e.g. "DE"')
      .optional(),
    validityDays: z.number().int().positive(),
  })
  .strict();

/**
 * An intermediate's certificatePolicies (BR §7.1.2.10.5): these OIDs (anyPolicy 2.5.29.32.0
 * allowed) when set; when not, those of every profile it may issue. The CPS URI qualifies each.
 */
const IntermediateSchema = CaSchema.extend({ policies: policyList.optional(), cpsUri: cpsUri.optional() });
export type CaSettings = z.infer<typeof IntermediateSchema>;

const NameConstraintsSchema = z
  .object({
    permittedDns: z.array(z.string()).default([]),
    excludedDns: z.array(z.string()).default([]),
    permittedIp: z.array(z.string()).default([]),
    excludedIp: z.array(z.string()).default([]),
    permittedEmail: z.array(z.string()).default([]),
    excludedEmail: z.array(z.string()).default([]),
  })
  .strict();
export type NameConstraintsSettings = z.infer<typeof NameConstraintsSchema>;

/**
 * An SSH certificate profile (src/ssh): who may get which principals, for how long, for which
 * keys. `${user}` in a principal pattern is the requester's own name (a person's login name, a
 * token's name); host principals use the name patterns of X.509 profiles (`*.example.com`, CIDR).
 */
/** An outside CA (KMS recipients, KMIP clients): its certificate and the CRL that revokes what it issued. */
const TRUST_ANCHOR = {
  certFile: z.string().min(1),
  crlUrl: z.url({ protocol: /^https?$/ }).optional(),
  /** How long a fetched CRL is used before it is fetched again (never past its nextUpdate). */
  crlRefreshSeconds: z.number().int().min(0).max(86_400).default(300),
};

export const SshProfileSchema = z
  .object({
    certType: z.enum(["user", "host"]),
    description: z.string().default(""),
    /** Each entry: these roles may get principals matching these patterns (`*` is any). */
    allow: z
      .array(
        z
          .object({
            roles: z.array(z.enum(["admin", "ca-operator", "key-officer", "auditor", "requester"])).min(1),
            principals: z.array(z.string().min(1).max(255)).min(1),
            /** A shorter cap for these roles (at most the profile's maxValidityHours). */
            maxValidityHours: z.number().int().min(1).max(8784).optional(),
          })
          .strict(),
      )
      .min(1),
    defaultValidityHours: z.number().int().min(1).max(8784).default(16),
    maxValidityHours: z.number().int().min(1).max(8784).default(24),
    maxPrincipals: z.number().int().min(1).max(256).default(16),
    keyTypes: z
      .array(z.enum(["ed25519", "ecdsa", "rsa"]))
      .min(1)
      .default(["ed25519", "ecdsa", "rsa"]),
    /** DSA is never accepted and RSA below 2048 bits never (the schema's floor). */
    minRsaBits: z.number().int().min(2048).max(16_384).default(2048),
    criticalOptions: z.array(z.enum(["force-command", "source-address", "verify-required"])).default([]),
    /** What a certificate gets when the request names none (user certificates: ssh-keygen's defaults). */
    extensions: z.array(z.string().regex(/^[\x21-\x7e]+$/)).default([]),
    /** What a request may ask for instead (default: `extensions`). */
    allowedExtensions: z.array(z.string().regex(/^[\x21-\x7e]+$/)).optional(),
  })
  .strict()
  .refine((p) => p.defaultValidityHours <= p.maxValidityHours, "defaultValidityHours is above maxValidityHours")
  .refine(
    (p) => p.allow.every((a) => (a.maxValidityHours ?? 0) <= p.maxValidityHours),
    "an allow entry's maxValidityHours is above the profile's maxValidityHours",
  )
  .refine(
    (p) => p.certType === "user" || (p.criticalOptions.length === 0 && p.extensions.length === 0),
    "host certificates carry no critical options or extensions",
  );
export type SshProfile = z.infer<typeof SshProfileSchema>;

export const PRESETS = ["dev", "small", "regulated"] as const;
export type PresetName = (typeof PRESETS)[number];

export const ConfigSchema = z
  .object({
    /** The security-needs preset chosen at `keyward init --profile` (see src/config/presets.ts). */
    preset: z.enum(PRESETS).optional(),
    dataDir: z.string().min(1),
    listen: z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/, "listen is host:port"),
    /**
     * On SIGTERM, /ready answers 503 and the server keeps serving this long, so load balancers move
     * traffic away before the port closes; then in-flight requests finish.
     */
    shutdownGraceSeconds: z.number().min(0).max(300).default(2),
    /** `serve` processes sharing the port (one core each for JavaScript); 1 = no supervisor. */
    workers: z.number().int().min(1).max(64).default(1),
    baseUrl: z.url().optional(),
    database: z
      .object({ url: z.string().min(1).optional() })
      .strict()
      .default({}),
    hsm: z
      .object({
        module: z.string().min(1),
        token: z.string().min(1),
        /** `file:<path>` or `env:<NAME>`; the PIN itself never appears in config. */
        pinSource: z.string().regex(/^(file|env):.+/, 'pinSource is "file:<path>" or "env:<NAME>"'),
        sessions: z.number().int().min(1).max(64).default(4),
        /** Threads signing with a session each, off the event loop; 0 signs from the session pool. */
        signingThreads: z.number().int().min(0).max(64).default(2),
        /** SOFTHSM2_CONF to use when the environment sets none (the embedded default). */
        softhsmConf: z.string().optional(),
        /**
         * Mechanisms Keyward must not use on this token although it lists them (CKM_ names), e.g.
         * one with a known firmware bug: Keyward then uses its fallback or refuses the feature.
         */
        disableMechanisms: z.array(z.string().regex(/^CKM_[A-Z0-9_]+$/)).default([]),
        /**
         * Offline root: `keyward init` generates the root key on this token instead of `token`. It is
         * attached only for ceremonies (`ca sign-intermediate`, `crl root`); the server never opens it.
         */
        rootToken: z.string().min(1).optional(),
        /** PIN source of the root token: its own PIN, held by the ceremony's officers. */
        rootPinSource: z
          .string()
          .regex(/^(file|env):.+/, 'rootPinSource is "file:<path>" or "env:<NAME>"')
          .default("env:KEYWARD_HSM_ROOT_PIN"),
        /** Module of the root token when it is another device (default: `module`). */
        rootModule: z.string().min(1).optional(),
      })
      .strict(),
    ca: z
      .object({
        root: CaSchema.extend({ pathLength: z.number().int().min(0).max(8).optional() }),
        intermediates: z.array(IntermediateSchema).min(1),
        /** Applied to intermediates when set (RFC 5280 §4.2.1.10). */
        nameConstraints: NameConstraintsSchema.optional(),
      })
      .strict(),
    policy: z
      .object({
        /** Names never issued, under any profile: exact names or `*.suffix`. */
        forbiddenNames: z.array(z.string()).default([]),
        maxBodyBytes: z.number().int().positive().default(65_536),
      })
      .strict()
      .default({ forbiddenNames: [], maxBodyBytes: 65_536 }),
    revocation: z
      .object({
        /** nextUpdate - thisUpdate of CRLs; RFC 5280 practice and our cap: at most 7 days. */
        crlValidityHours: z.number().int().min(1).max(168).default(24),
        /** A revocation triggers a new CRL this long after (bursts give one CRL). */
        crlDebounceMs: z.number().int().min(0).max(600_000).default(2000),
        ocspValidityHours: z.number().int().min(1).max(168).default(72),
        /**
         * nextUpdate of the root's CRL, signed only at ceremonies while the root token is attached:
         * the next ceremony must come before it (CA/Browser Forum: at most 12 months for CA CRLs).
         */
        rootCrlValidityDays: z.number().int().min(1).max(366).default(180),
        /** "ignore" answers nonce requests from the cache; "echo" signs a fresh answer with the nonce. */
        ocspNonce: z.enum(["ignore", "echo"]).default("ignore"),
        ocspCacheEntries: z.number().int().min(100).default(200_000),
        ocspMaxRequestBytes: z.number().int().min(512).max(65_536).default(8192),
      })
      .strict()
      .default({
        crlValidityHours: 24,
        crlDebounceMs: 2000,
        ocspValidityHours: 72,
        rootCrlValidityDays: 180,
        ocspNonce: "ignore",
        ocspCacheEntries: 200_000,
        ocspMaxRequestBytes: 8192,
      }),
    acme: z
      .object({
        nonceLifetimeSeconds: z.number().int().min(10).max(86_400).default(3600),
        termsOfService: z.url().optional(),
        website: z.url().optional(),
        /** Domains that CAA `issue` records must name for us to issue (RFC 8659). */
        caaIdentities: z.array(z.string().toLowerCase()).default([]),
        /** Check CAA at validation; turn off only for private zones. */
        checkCaa: z.boolean().default(true),
        /** How long a CAA answer is relied on (BR §3.2.2.8 allows 8 hours); 0 looks up at every validation. */
        caaCacheSeconds: z.number().int().min(0).max(28_800).default(300),
        externalAccountRequired: z.boolean().default(false),
        /** http-01 connects here (80 in production; KEYWARD_ACME_HTTP01_PORT for tests and private networks). */
        http01Port: z.number().int().min(1).max(65_535).default(80),
        /** tls-alpn-01 connects here (443 in production; KEYWARD_ACME_TLSALPN01_PORT). */
        tlsAlpn01Port: z.number().int().min(1).max(65_535).default(443),
        /** host:port of the DNS server used for validation (KEYWARD_ACME_DNS_RESOLVER); system resolver when unset. */
        dnsResolver: z
          .string()
          .regex(/^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/, "dnsResolver is host:port")
          .optional(),
        orderLifetimeHours: z.number().int().min(1).max(720).default(168),
        /** Validated authorizations stay valid (and are reused by new orders) this long. */
        validAuthorizationHours: z.number().int().min(1).max(2160).default(720),
        validationTimeoutMs: z.number().int().min(500).max(60_000).default(5000),
        profile: z.string().default("server"),
        rateLimits: z
          .object({
            ordersPerAccountPerHour: z.number().int().min(1).default(300),
            ordersPerDomainPerHour: z.number().int().min(1).default(1000),
          })
          .strict()
          .default({ ordersPerAccountPerHour: 300, ordersPerDomainPerHour: 1000 }),
      })
      .strict()
      .default({
        nonceLifetimeSeconds: 3600,
        caaIdentities: [],
        checkCaa: true,
        caaCacheSeconds: 300,
        externalAccountRequired: false,
        http01Port: 80,
        tlsAlpn01Port: 443,
        orderLifetimeHours: 168,
        validAuthorizationHours: 720,
        validationTimeoutMs: 5000,
        profile: "server",
        rateLimits: { ordersPerAccountPerHour: 300, ordersPerDomainPerHour: 1000 },
      }),
    profiles: z.record(id, ProfileSchema),
    /** The SSH certificate authority (src/ssh, docs/ssh.md). */
    ssh: z
      .object({
        /** `auto`: Ed25519 where the token can, else ECDSA P-256, else RSA-3072. */
        caKeyType: z.enum(["auto", ...KEY_TYPES]).default("auto"),
        profiles: z.record(id, SshProfileSchema).default({}),
      })
      .strict()
      .default({ caKeyType: "auto", profiles: {} }),
    /** HTTPS with optional client certificates (mTLS) issued by this CA; off: plain HTTP behind a proxy. */
    tls: z
      .object({ certFile: z.string().min(1), keyFile: z.string().min(1) })
      .strict()
      .optional(),
    access: z
      .object({
        /** Lifetime of a person's session token after login. */
        sessionMinutes: z
          .number()
          .int()
          .min(1)
          .max(24 * 60)
          .default(15),
        /** Operations that need M approvals from distinct people holding `role` before they run. */
        quorum: z
          .partialRecord(
            z.enum([
              "ca.create",
              "ca.revoke",
              "user.role",
              "key.destroy",
              "key.compromise",
              "key.block",
              "escrow.recover",
            ]),
            z
              .object({
                approvals: z.number().int().min(1).max(10),
                role: z.enum(["admin", "ca-operator", "key-officer", "auditor"]),
              })
              .strict(),
          )
          .default({}),
        /** A pending approval request expires after this long. */
        approvalHours: z
          .number()
          .int()
          .min(1)
          .max(24 * 30)
          .default(24),
        /**
         * Failed and unknown-name logins (each a slow hash and a database write) per source
         * address and for everyone together (token buckets; refused with 429 and Retry-After).
         */
        loginThrottle: z
          .object({
            perSourceBurst: z.number().int().min(1).max(10_000).default(10),
            perSourcePerMinute: z.number().int().min(1).max(60_000).default(10),
            globalBurst: z.number().int().min(1).max(100_000).default(20),
            globalPerSecond: z.number().int().min(1).max(10_000).default(2),
          })
          .strict()
          .default({ perSourceBurst: 10, perSourcePerMinute: 10, globalBurst: 20, globalPerSecond: 2 }),
      })
      .strict()
      .default({
        sessionMinutes: 15,
        quorum: {},
        approvalHours: 24,
        loginThrottle: { perSourceBurst: 10, perSourcePerMinute: 10, globalBurst: 20, globalPerSecond: 2 },
      }),
    kms: z
      .object({
        /**
         * Defaults for keys created without their own periods, after NIST SP 800-57 Part 1 Rev. 5
         * Table 1: a symmetric data-encryption, authentication or key-wrapping key has an
         * originator-usage period of up to 2 years, so a version encrypts at most 730 days
         * (cryptoperiod: then it is deactivated and only decrypts) and a new version is made every
         * 365 days (rotation), well inside that period. 0 turns a default off.
         */
        defaultRotationDays: z.number().int().min(0).max(3650).default(365),
        defaultCryptoperiodDays: z.number().int().min(0).max(3650).default(730),
        /** Waiting period between scheduling a key version's destruction and C_DestroyObject. */
        destroyWaitDays: z.number().min(0).max(365).default(7),
        /**
         * JWE distribution puts the key in process memory for the call (the token cannot AES-GCM
         * wrap); false limits distribution to CMS, sealed entirely in the token.
         */
        allowJweDistribution: z.boolean().default(true),
        /**
         * Where new secret keys (KMS AES/HMAC keys, TOTP seeds, ACME EAB keys) live (docs/hsm.md):
         * `token` objects in the token (refused, naming what it lacks, where it cannot); `sealed`
         * from the CSPRNG, stored only wrapped (RSA-OAEP) by a token key pair and unwrapped into
         * memory per use; `auto` in the token where it can hold and use the kind of key, else sealed.
         */
        protection: z.enum(["token", "sealed", "auto"]).default("token"),
        /** Lifetime of the signed key revocation list (GET /kms/revoked). */
        revokedListHours: z
          .number()
          .min(1)
          .max(24 * 7)
          .default(24),
        /**
         * CAs besides our own whose certificates may receive keys: each is trusted to issue
         * recipients directly; their revocation status comes from the CRL at crlUrl (without one,
         * their recipients are refused: status unknown).
         */
        trustAnchors: z.array(z.object(TRUST_ANCHOR).strict()).default([]),
      })
      .strict()
      .default({
        defaultRotationDays: 365,
        defaultCryptoperiodDays: 730,
        destroyWaitDays: 7,
        allowJweDistribution: true,
        protection: "token",
        revokedListHours: 24,
        trustAnchors: [],
      }),
    /** Offline-root ceremonies (`keyward ca sign-intermediate`). */
    ceremony: z
      .object({
        /**
         * People (with their own TOTP) who must witness a root-key ceremony. A quorum configured for
         * the operation (access.quorum["ca.create"]) raises it to its approvals, from its role.
         */
        minWitnesses: z.number().int().min(0).max(10).default(0),
      })
      .strict()
      .default({ minWitnesses: 0 }),
    monitoring: z
      .object({
        /** More than `count` uses of an operation by one principal within `perSeconds` raises an anomaly. */
        bursts: z
          .record(
            z.string(),
            z.object({ count: z.number().int().min(1), perSeconds: z.number().int().min(1) }).strict(),
          )
          .default({}),
        /** /metrics labels series by KMS key id and principal name (public endpoint: off by default). */
        detailedLabels: z.boolean().default(false),
      })
      .strict()
      .default({ bursts: {}, detailedLabels: false }),
    audit: z
      .object({
        /** A signed tree head at least this often while events arrive (and at shutdown). */
        treeHeadSeconds: z.number().int().min(1).max(60).default(1),
        /** The witness file every signed tree head is appended to; default `<dataDir>/audit-witness.log`. */
        witness: z.string().min(1).optional(),
      })
      .strict()
      .default({ treeHeadSeconds: 1 }),
    /**
     * The KMIP server (docs/kmip.md): OASIS KMIP 1.0-1.4 over TLS 1.2+ with client certificates
     * required. Off unless `listen` is set (KEYWARD_KMIP_LISTEN).
     */
    kmip: z
      .object({
        listen: z
          .string()
          .regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/, "kmip.listen is host:port")
          .optional(),
        /** DNS names or IP addresses in the listener's certificate; default: the listen host. */
        serverNames: z.array(z.string().min(1)).default([]),
        /** Largest request message accepted (TTLV header included). */
        maxMessageBytes: z.number().int().min(1024).max(67_108_864).default(1_048_576),
        /** A connection that sends nothing this long is closed. */
        idleTimeoutSeconds: z.number().int().min(1).max(86_400).default(300),
        /**
         * KMIP operations that wait for the quorum approvals the API uses (access.quorum["key.destroy"],
         * ["key.compromise"]) instead of running for a bound role that holds the permission.
         */
        requireApproval: z.array(z.enum(["destroy", "compromise"])).default([]),
        /**
         * CAs besides Keyward's whose client certificates KMIP accepts (issuing directly), each with
         * its CRL (required in practice: without one, status unknown, refused) and the clients it may
         * have, matched by a SAN URI or the subject CN, each with a role.
         */
        trustAnchors: z
          .array(
            z
              .object({
                ...TRUST_ANCHOR,
                clients: z
                  .array(
                    z
                      .object({
                        name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/),
                        role: z.string().min(1),
                        uri: z.string().min(1).optional(),
                        cn: z.string().min(1).optional(),
                      })
                      .strict(),
                  )
                  .min(1),
              })
              .strict(),
          )
          .default([]),
      })
      .strict()
      .default({
        serverNames: [],
        maxMessageBytes: 1_048_576,
        idleTimeoutSeconds: 300,
        requireApproval: [],
        trustAnchors: [],
      }),
    log: z
      .object({ level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info") })
      .strict()
      .default({ level: "info" }),
    /**
     * The lint gate before every signature (src/lint). `enabled: false` exists to measure the
     * gate's cost (`npm run bench`); it is never silent: logged at warn on start and in /ready.
     */
    lint: z
      .object({ enabled: z.boolean().default(true) })
      .strict()
      .default({ enabled: true }),
  })
  .strict();

export type Config = z.infer<typeof ConfigSchema> & {
  baseUrl: string;
  /** True when baseUrl came from http://<listen> rather than from the config or KEYWARD_BASE_URL. */
  baseUrlFromListen?: boolean;
  database: { url: string };
  audit: { treeHeadSeconds: number; witness: string };
};
