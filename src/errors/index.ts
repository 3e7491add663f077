/**
 * One error hierarchy for the whole server. Domain code throws these and names what went wrong by
 * `code`; each edge has its own table from code to what it answers (the admin API's RFC 7807
 * problems in http/problem.ts, ACME problems, OCSP response statuses, CLI exit codes). `detail` is
 * written for the client and must never contain secrets (PINs, tokens, key material).
 */
export type ErrorCode =
  | "badRequest"
  | "badCSR"
  | "policyViolation"
  | "badRecipient"
  | "unauthorized"
  | "forbidden"
  | "notFound"
  | "conflict"
  | "payloadTooLarge"
  | "unsupportedMediaType"
  | "tooManyRequests"
  | "config"
  | "hsm"
  | "hsmKeyMissing"
  | "hsmUnsupported"
  | "hsmFailed"
  | "storage"
  | "lint"
  | "internal";

export class KeywardError extends Error {
  readonly code: ErrorCode;
  /** Extra machine-readable members for the problem document (never secrets). */
  readonly extensions: Record<string, unknown>;
  /** For a server fault: what the client may be told instead of the generic detail (never data). */
  readonly publicDetail?: string;
  /** For a server fault: members the client may see in the problem (never secrets). */
  readonly publicExtensions?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; extensions?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.extensions = options?.extensions ?? {};
  }

  /** The caller's fault (bad input, no permission, a conflict): its message is for the caller. */
  get isClientError(): boolean {
    return !SERVER_FAULTS.has(this.code);
  }
}

/** Codes that are Keyward's fault, never the caller's: edges answer them without the message. */
const SERVER_FAULTS: ReadonlySet<ErrorCode> = new Set([
  "config",
  "hsm",
  "hsmKeyMissing",
  "hsmUnsupported",
  "hsmFailed",
  "storage",
  "lint",
  "internal",
]);

export class BadRequestError extends KeywardError {
  constructor(message: string, extensions?: Record<string, unknown>) {
    super("badRequest", message, { extensions });
  }
}

/** A revocation reason the certificate's profile does not allow; `allowedReasons` lists those it does. */
export class RevocationReasonError extends KeywardError {
  constructor(message: string, allowedReasons: readonly string[]) {
    super("badRequest", message, { extensions: { allowedReasons: [...allowedReasons] } });
  }
}

export class BadCsrError extends KeywardError {
  constructor(message: string) {
    super("badCSR", message);
  }
}

export class PolicyError extends KeywardError {
  constructor(message: string) {
    super("policyViolation", message);
  }
}

/** Why a recipient certificate may not receive a key. */
export type RecipientProblem =
  | "malformed"
  | "untrusted"
  | "expired"
  | "notYetValid"
  | "revoked"
  | "keyUsage"
  | "unsupportedKey"
  | "revocationUnknown";

/** A key distribution refused because of its recipient certificate; `reason` says which check failed. */
export class RecipientRefusedError extends KeywardError {
  constructor(reason: RecipientProblem, message: string) {
    super("badRecipient", message, { extensions: { reason } });
  }
}

export class UnauthorizedError extends KeywardError {
  constructor(message: string) {
    super("unauthorized", message);
  }
}

/** Slow down: `retryAfter` (seconds) becomes the Retry-After header. */
export class TooManyRequestsError extends KeywardError {
  constructor(message: string, retryAfter: number) {
    super("tooManyRequests", message, { extensions: { retryAfter } });
  }
}

export class ForbiddenError extends KeywardError {
  constructor(message: string) {
    super("forbidden", message);
  }
}

export class NotFoundError extends KeywardError {
  constructor(message: string) {
    super("notFound", message);
  }
}

export class ConflictError extends KeywardError {
  constructor(message: string) {
    super("conflict", message);
  }
}

export class ConfigError extends KeywardError {
  constructor(message: string, cause?: unknown) {
    super("config", message, { cause });
  }
}

export class StorageError extends KeywardError {
  constructor(message: string, cause?: unknown) {
    super("storage", message, { cause });
  }
}

/**
 * What an HSM error is about, as far as the layer that saw it knows: the PKCS#11 function that
 * failed and its mechanism (both by name), the key's pkcs11: URI, the token, and the CA whose key
 * it is. Names and URIs only: never a PIN or key material.
 */
export interface HsmContext {
  function?: string;
  mechanism?: string;
  key?: string;
  token?: string;
  ca?: string;
}

/**
 * HSM failures. `ckr` is the PKCS#11 return value's name when the module returned one. The message
 * is built from what it is about (see HsmContext), so clients may see it: it names the function,
 * mechanism, key and CA, never a secret. Subclasses say what kind of failure it was; this base
 * class is the token being unavailable (down, unreachable, not logged in): 503, and /ready fails.
 */
export class HsmError extends KeywardError {
  readonly ckr: string | undefined;
  readonly context: HsmContext;
  /** The message is built from names and URIs only, so the client may see it whole. */
  override publicDetail: string;
  override publicExtensions: Record<string, unknown>;
  private readonly summary: string;

  constructor(
    message: string,
    options?: { ckr?: string; cause?: unknown; context?: HsmContext },
    code: ErrorCode = "hsm",
  ) {
    super(code, message, { cause: options?.cause });
    this.ckr = options?.ckr;
    this.context = { ...options?.context };
    this.summary = message;
    this.publicDetail = message;
    this.publicExtensions = {};
    this.compose();
  }

  /** Adds what an outer layer knows (the CA whose key it is, the key's URI); the message follows. */
  withContext(context: HsmContext): this {
    for (const [name, value] of Object.entries(context) as Array<[keyof HsmContext, string | undefined]>) {
      if (value !== undefined && this.context[name] === undefined) this.context[name] = value;
    }
    this.compose();
    return this;
  }

  private compose(): void {
    const { function: fn, mechanism, key, ca } = this.context;
    const about = [
      fn && !this.summary.includes(fn) ? fn : undefined,
      mechanism && !this.summary.includes(mechanism) ? `mechanism ${mechanism}` : undefined,
      key && !this.summary.includes(key) ? `key ${key}` : undefined,
      ca && !this.summary.includes(`CA key ${ca} `) ? `CA ${ca}` : undefined,
      this.ckr && !this.summary.includes(this.ckr) ? this.ckr : undefined,
    ].filter(Boolean);
    this.message = about.length ? `${this.summary} (${about.join(", ")})` : this.summary;
    this.publicDetail = this.message;
    this.publicExtensions = { hsm: { ...this.context, ...(this.ckr ? { ckr: this.ckr } : {}) } };
  }
}

/** The token cannot be reached or used now: down, removed, not logged in, the connection closed. */
export class HsmUnavailableError extends HsmError {}
export class HsmPinIncorrectError extends HsmUnavailableError {}
export class HsmPinLockedError extends HsmUnavailableError {}
export class HsmTokenNotFoundError extends HsmUnavailableError {}
export class HsmModuleError extends HsmUnavailableError {}

/** The token answers but has no object the URI names: "key missing: <uri>", not an outage. */
export class HsmKeyNotFoundError extends HsmError {
  constructor(message: string, options?: { ckr?: string; cause?: unknown; context?: HsmContext }) {
    super(message, options, "hsmKeyMissing");
  }
}

/** The token lacks a mechanism, function or kind of object Keyward needs for this operation. */
export class HsmUnsupportedError extends HsmError {
  constructor(message: string, options?: { ckr?: string; cause?: unknown; context?: HsmContext }) {
    super(message, options, "hsmUnsupported");
  }
}

/** The token answered and refused or failed the operation for another reason (its CKR_ says which). */
export class HsmOperationError extends HsmError {
  constructor(message: string, options?: { ckr?: string; cause?: unknown; context?: HsmContext }) {
    super(message, options, "hsmFailed");
  }
}

/** A key the token created is weaker than asked (extractable, not sensitive…): it was destroyed. */
export class HsmWeakenedKeyError extends HsmOperationError {}

/**
 * A key the operation needs is gone from its token (deleted, or never brought back by a restore):
 * the token itself works. Unlike other HSM faults the client is told which key, never "the HSM is
 * not available" — key URIs name objects, they hold no secret.
 */
export class KeyMissingError extends HsmKeyNotFoundError {
  override readonly publicDetail: string;
  constructor(detail: string, cause?: unknown) {
    // The problem keeps the key and token the token's own error named; the detail already says
    // everything else, so no function or CKR_ is appended to it.
    const { key, token } = cause instanceof HsmError ? cause.context : {};
    super(detail, { cause, context: { key, token } });
    this.publicDetail = this.message;
  }
}

/**
 * What Keyward was about to sign broke a lint rule: nothing was signed. A server-side fault (our
 * profiles or code built it), so clients see a generic 500 and the findings go to the log.
 */
export class LintError extends KeywardError {
  readonly findings: ReadonlyArray<{ rule: string; message: string }>;
  /** The rule names only: the messages (names, serials) stay in the log. */
  override readonly publicDetail: string;
  constructor(target: string, findings: ReadonlyArray<{ rule: string; message: string }>) {
    super(
      "lint",
      `the ${target} to be signed fails lint: ${findings.map((f) => `${f.rule}: ${f.message}`).join("; ")}`,
    );
    this.findings = findings;
    const rules = [...new Set(findings.map((f) => f.rule))];
    this.publicDetail = `nothing was signed: the ${target} Keyward built breaks lint rule${rules.length > 1 ? "s" : ""} ${rules.join(", ")}`;
  }
}

/** A serial already exists (the database is the judge of uniqueness); issuance draws another. */
export class DuplicateSerialError extends Error {}

/**
 * The database refused an intent because its key is blocked (migration 0028's trigger); issuance
 * turns it into a PolicyError saying since when and why. `blocked` is undefined only when the block
 * was lifted between the refusal and the read.
 */
export class BlockedKeyError extends Error {
  constructor(
    readonly spkiSha256: string,
    readonly blocked: { reason: string; blockedAt: Date } | undefined,
  ) {
    super(`the key with SPKI SHA-256 ${spkiSha256} is blocked`);
  }
}
