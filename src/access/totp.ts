import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import QRCode from "qrcode";
import { BadRequestError } from "../errors/index.js";

/**
 * RFC 6238 time-based one-time passwords. Authenticator apps only interoperate reliably with the
 * defaults (SHA-1, 6 digits, 30 s), so the options exist for the RFC test vectors and for callers
 * that know their app supports more.
 */
export type TotpAlgorithm = "sha1" | "sha256" | "sha512";

export interface TotpOptions {
  algorithm?: TotpAlgorithm;
  digits?: 6 | 7 | 8;
  periodSeconds?: number;
}

export interface VerifyTotpOptions extends TotpOptions {
  /** Steps accepted either side of the current one, to absorb clock drift and typing time. */
  window?: number;
  /** The step of the last accepted code; it and every earlier step are refused. */
  lastUsedStep?: number;
}

export type TotpVerification = { ok: true; step: number } | { ok: false };

const DEFAULT_PERIOD_SECONDS = 30;
const DEFAULT_DIGITS = 6;
/** A wider window mostly helps an attacker guessing codes, so refuse configurations beyond it. */
const MAX_WINDOW = 10;

const BASE32_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** 160 bits: the HMAC-SHA-1 block-size recommendation in RFC 4226 §4 and what apps expect. */
export function generateTotpSecret(): Buffer {
  return randomBytes(20);
}

/** RFC 4648 base32 without padding, the form otpauth URIs and authenticator apps use. */
export function base32Encode(data: Uint8Array): string {
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of data) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += BASE32_ALPHABET[(buffer >>> bits) & 31];
    }
    // Only the low `bits` bits are still needed; masking keeps the accumulator from overflowing.
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) {
    out += BASE32_ALPHABET[(buffer << (5 - bits)) & 31];
  }
  return out;
}

/**
 * Case-insensitive and tolerant of trailing padding, because people paste secrets from other
 * tools; anything else that is not base32 is refused rather than silently dropped.
 */
export function base32Decode(text: string): Buffer {
  const input = text.replace(/=+$/, "").toUpperCase();
  // 1, 3 and 6 leftover characters cannot be produced by any byte string (RFC 4648 §6).
  if ([1, 3, 6].includes(input.length % 8)) {
    throw new BadRequestError("invalid base32: impossible length");
  }
  const out: number[] = [];
  let buffer = 0;
  let bits = 0;
  for (const char of input) {
    const value = BASE32_ALPHABET.indexOf(char);
    if (value < 0) {
      throw new BadRequestError("invalid base32: unexpected character");
    }
    buffer = (buffer << 5) | value;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((buffer >>> bits) & 0xff);
    }
    buffer &= (1 << bits) - 1;
  }
  return Buffer.from(out);
}

function resolve(opts: TotpOptions | undefined): Required<TotpOptions> {
  const algorithm = opts?.algorithm ?? "sha1";
  const digits = opts?.digits ?? DEFAULT_DIGITS;
  const periodSeconds = opts?.periodSeconds ?? DEFAULT_PERIOD_SECONDS;
  if (!Number.isInteger(periodSeconds) || periodSeconds <= 0) {
    throw new BadRequestError("TOTP period must be a positive whole number of seconds");
  }
  if (![6, 7, 8].includes(digits)) {
    throw new BadRequestError("TOTP codes must have 6, 7 or 8 digits");
  }
  return { algorithm, digits, periodSeconds };
}

/** The RFC 6238 counter T for a moment: whole periods since the Unix epoch. */
export function totpStep(time: Date, periodSeconds = DEFAULT_PERIOD_SECONDS): number {
  const step = Math.floor(time.getTime() / 1000 / periodSeconds);
  if (!Number.isSafeInteger(step) || step < 0) {
    throw new BadRequestError("TOTP time must be a valid date after the Unix epoch");
  }
  return step;
}

/** RFC 4226 HOTP with dynamic truncation; TOTP is this with the counter derived from time. */
function hotp(secret: Uint8Array, counter: number, algorithm: TotpAlgorithm, digits: number): string {
  return truncate(createHmac(algorithm, secret).update(counterMessage(counter)).digest(), digits);
}

function counterMessage(counter: number): Buffer {
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  return message;
}

/** RFC 4226 §5.3 dynamic truncation of an HMAC to a decimal code. */
function truncate(mac: Buffer, digits: number): string {
  const offset = mac[mac.length - 1]! & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** digits).padStart(digits, "0");
}

/**
 * verifyTotp for a seed that never leaves the HSM: `mac` computes HMAC-SHA-1 of the 8-byte
 * counter inside the token. Same window, replay and constant-time rules as verifyTotp.
 */
export async function verifyTotpWithMac(
  mac: (counter: Buffer) => Promise<Buffer>,
  code: string,
  now: Date,
  opts: { window?: number; lastUsedStep?: number } = {},
): Promise<TotpVerification> {
  const window = opts.window ?? 1;
  if (!/^[0-9]{6}$/.test(code)) return { ok: false };
  const current = totpStep(now);
  const given = Buffer.from(code, "ascii");
  let matched: number | undefined;
  for (let step = current - window; step <= current + window; step++) {
    const expected = Buffer.from(truncate(await mac(counterMessage(step)), 6), "ascii");
    const fresh = opts.lastUsedStep === undefined || step > opts.lastUsedStep;
    if (timingSafeEqual(expected, given) && fresh && matched === undefined) matched = step;
  }
  return matched === undefined ? { ok: false } : { ok: true, step: matched };
}

export function totpCode(secret: Uint8Array, time: Date, opts?: TotpOptions): string {
  const { algorithm, digits, periodSeconds } = resolve(opts);
  return hotp(secret, totpStep(time, periodSeconds), algorithm, digits);
}

/**
 * Checks a code against the current step ± `window`. The returned step must be stored by the
 * caller and passed back as `lastUsedStep`: a code observed over someone's shoulder stays valid
 * for the whole window otherwise, and RFC 6238 §5.2 requires a verifier to accept each OTP once.
 */
export function verifyTotp(
  secret: Uint8Array,
  code: string,
  now: Date,
  opts: VerifyTotpOptions = {},
): TotpVerification {
  const { algorithm, digits, periodSeconds } = resolve(opts);
  const window = opts.window ?? 1;
  if (!Number.isInteger(window) || window < 0 || window > MAX_WINDOW) {
    throw new BadRequestError(`TOTP window must be a whole number from 0 to ${MAX_WINDOW}`);
  }
  if (!new RegExp(`^[0-9]{${digits}}$`).test(code)) {
    return { ok: false };
  }
  const current = totpStep(now, periodSeconds);
  const given = Buffer.from(code, "ascii");
  let matched: number | undefined;
  // Every candidate is computed and compared so the time taken does not reveal which step matched.
  for (let step = current - window; step <= current + window; step++) {
    if (step < 0) continue;
    const expected = Buffer.from(hotp(secret, step, algorithm, digits), "ascii");
    const equal = timingSafeEqual(expected, given);
    const fresh = opts.lastUsedStep === undefined || step > opts.lastUsedStep;
    if (equal && fresh && matched === undefined) {
      matched = step;
    }
  }
  return matched === undefined ? { ok: false } : { ok: true, step: matched };
}

export interface OtpauthUriOptions extends TotpOptions {
  issuer?: string;
  account: string;
  secret: Uint8Array;
}

/**
 * Key URI as understood by Google Authenticator and its imitators. The issuer appears both in the
 * label prefix (older apps) and as a parameter (newer apps); a colon in either part would make the
 * label ambiguous, so it is refused instead of being encoded and misparsed by some app.
 */
export function otpauthUri(options: OtpauthUriOptions): string {
  const issuer = options.issuer ?? "Keyward";
  const { algorithm, digits, periodSeconds } = resolve(options);
  if (issuer === "" || issuer.includes(":")) {
    throw new BadRequestError("TOTP issuer must be non-empty and must not contain ':'");
  }
  if (options.account === "" || options.account.includes(":")) {
    throw new BadRequestError("TOTP account name must be non-empty and must not contain ':'");
  }
  if (options.secret.length === 0) {
    throw new BadRequestError("TOTP secret must not be empty");
  }
  // encodeURIComponent rather than URLSearchParams: apps expect %20 for spaces, not '+'.
  const label = `${encodeURIComponent(issuer)}:${encodeURIComponent(options.account)}`;
  const query = [
    `secret=${base32Encode(options.secret)}`,
    `issuer=${encodeURIComponent(issuer)}`,
    `algorithm=${algorithm.toUpperCase()}`,
    `digits=${digits}`,
    `period=${periodSeconds}`,
  ].join("&");
  return `otpauth://totp/${label}?${query}`;
}

/** For the console's enrolment page: the QR code as an SVG data URL for an <img>. */
export async function totpQrDataUrl(uri: string): Promise<string> {
  const svg = await QRCode.toString(uri, { type: "svg", margin: 2 });
  return `data:image/svg+xml;base64,${Buffer.from(svg).toString("base64")}`;
}

/** For CLI enrolment: a QR code drawn with block characters that a phone can scan off the screen. */
export function totpQrForTerminal(uri: string): Promise<string> {
  return QRCode.toString(uri, { type: "terminal", small: true });
}
