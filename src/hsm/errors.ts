import pkcs11js from "pkcs11js";
import {
  type HsmContext,
  HsmError,
  HsmKeyNotFoundError,
  HsmModuleError,
  HsmOperationError,
  HsmPinIncorrectError,
  HsmPinLockedError,
  HsmTokenNotFoundError,
  HsmUnavailableError,
  HsmUnsupportedError,
} from "../errors/index.js";
import { mechanismName } from "./mechanisms.js";

const CKR_NAMES = new Map<number, string>();
for (const [name, value] of Object.entries(pkcs11js as unknown as Record<string, unknown>)) {
  if (name.startsWith("CKR_") && typeof value === "number" && !CKR_NAMES.has(value)) CKR_NAMES.set(value, name);
}

export function ckrName(code: number): string {
  return CKR_NAMES.get(code) ?? `CKR_0x${code.toString(16).padStart(8, "0")}`;
}

/**
 * The CKR_ code of whatever pkcs11js threw. Its Pkcs11Error carries it, but some calls
 * (C_CreateObject among them) throw a plain Error whose message is "CKR_NAME:value", and a signing
 * thread's failure arrives as a ThreadFailure with the code: all three are read here.
 */
export function ckrCode(error: unknown): number | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof message === "string") {
    const match = /CKR_[A-Z0-9_]+:(\d+)/.exec(message);
    if (match) return Number(match[1]);
  }
  if (typeof code === "number" && code !== 0 && error instanceof Error) return code;
  return undefined;
}

export function isCkr(error: unknown, code: number): boolean {
  return ckrCode(error) === code;
}

/** The PKCS#11 function (and mechanism) a pkcs11js error came from, recorded by tracePkcs11. */
const calls = new WeakMap<object, { function: string; mechanism?: string }>();

/**
 * The module with every C_* call traced: an error it throws (or rejects with) is remembered with
 * the function's name and the mechanism in use, so toHsmError can name both. Operations split
 * over two calls (C_SignInit, then C_Sign) name the mechanism their session was initialised with.
 */
export function tracePkcs11(p11: pkcs11js.PKCS11): pkcs11js.PKCS11 {
  const sessionMechanism = new Map<string, string>();
  const mechanismOf = (name: string, args: unknown[]): string | undefined => {
    const spec = args.find(
      (a): a is { mechanism: number } =>
        typeof a === "object" &&
        a !== null &&
        !Buffer.isBuffer(a) &&
        typeof (a as { mechanism?: unknown }).mechanism === "number",
    );
    const session = Buffer.isBuffer(args[0]) ? (args[0] as Buffer).toString("hex") : undefined;
    if (spec) {
      const mechanism = mechanismName(spec.mechanism);
      if (session && name.endsWith("Init")) sessionMechanism.set(session, mechanism);
      return mechanism;
    }
    return session ? sessionMechanism.get(session) : undefined;
  };
  const remember = (error: unknown, name: string, mechanism: string | undefined) => {
    if (typeof error === "object" && error !== null && !calls.has(error)) {
      calls.set(error, { function: name.replace(/Async$/, ""), ...(mechanism ? { mechanism } : {}) });
    }
    return error;
  };
  return new Proxy(p11, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== "function") return value;
      // Native methods refuse any `this` but the module object itself ("Illegal invocation").
      if (typeof property !== "string" || !property.startsWith("C_")) return value.bind(target);
      return (...args: unknown[]) => {
        // The mechanism an operation was initialised with, for the errors of its later calls.
        if (property.endsWith("Init")) mechanismOf(property, args);
        if (changesTokenObjects(property, args)) refreshObjectList(target, args[0]);
        let result: unknown;
        try {
          result = (value as (...a: unknown[]) => unknown).apply(target, args);
        } catch (error) {
          throw remember(error, property, mechanismOf(property, args));
        }
        if (result instanceof Promise) {
          return result.catch((error: unknown) => {
            throw remember(error, property, mechanismOf(property, args));
          });
        }
        return result;
      };
    },
  });
}

const ckrValues = (names: string[]) =>
  new Set(
    names
      .map((name) => (pkcs11js as unknown as Record<string, number | undefined>)[name])
      .filter((v) => v !== undefined),
  );

const WRITES = new Set([
  "C_CreateObject",
  "C_CopyObject",
  "C_DestroyObject",
  "C_SetAttributeValue",
  "C_GenerateKey",
  "C_GenerateKeyPair",
  "C_UnwrapKey",
  "C_DeriveKey",
]);

function changesTokenObjects(name: string, args: unknown[]): boolean {
  const base = name.replace(/Async$/, "");
  if (!WRITES.has(base)) return false;
  if (base === "C_DestroyObject" || base === "C_SetAttributeValue") return true;
  return args.some(
    (a) => Array.isArray(a) && a.some((attr) => attr?.type === pkcs11js.CKA_TOKEN && attr.value === true),
  );
}

/**
 * SoftHSM 2.6 notices objects other processes (the CLI, another instance) added only when the
 * token's change counter on disk differs from the one it remembers; its own next write to the
 * token reads that counter and stores counter+1 without re-reading the object list, so an object
 * added just before it would stay unseen by this process for good. A search before each write
 * lets it catch up first (C_FindObjectsInit re-reads the list when the counter moved).
 */
function refreshObjectList(p11: pkcs11js.PKCS11, session: unknown): void {
  if (!Buffer.isBuffer(session)) return;
  try {
    p11.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_DATA }]);
    p11.C_FindObjectsFinal(session);
  } catch {
    // Only a courtesy to the module: the write itself reports what matters.
  }
}

// The token is away: nothing done with it can work until it is back (503, /ready fails).
const UNAVAILABLE = ckrValues([
  "CKR_DEVICE_ERROR",
  "CKR_DEVICE_MEMORY",
  "CKR_DEVICE_REMOVED",
  "CKR_TOKEN_NOT_PRESENT",
  "CKR_TOKEN_NOT_RECOGNIZED",
  "CKR_SLOT_ID_INVALID",
  "CKR_SESSION_CLOSED",
  "CKR_SESSION_HANDLE_INVALID",
  "CKR_SESSION_COUNT",
  "CKR_USER_NOT_LOGGED_IN",
  "CKR_CRYPTOKI_NOT_INITIALIZED",
]);
// The token lacks what the operation needs: a mechanism, a function, a parameter set, or it does
// not accept the kind of object asked for (e.g. session objects, imported secret keys).
const UNSUPPORTED = ckrValues([
  "CKR_MECHANISM_INVALID",
  "CKR_MECHANISM_PARAM_INVALID",
  "CKR_FUNCTION_NOT_SUPPORTED",
  "CKR_KEY_SIZE_RANGE",
  "CKR_CURVE_NOT_SUPPORTED",
  "CKR_DOMAIN_PARAMS_INVALID",
]);

/**
 * Turn whatever pkcs11js threw into a typed HsmError naming the operation, the PKCS#11 function and
 * mechanism (when traced), and what the caller knows (key URI, CA): the token being away is
 * HsmUnavailableError (503), a key object that is not there HsmKeyNotFoundError, a mechanism or
 * function the token lacks HsmUnsupportedError, anything else the token refused HsmOperationError.
 */
export function toHsmError(error: unknown, operation: string, context: HsmContext = {}): HsmError {
  if (error instanceof HsmError) return error.withContext(context);
  const traced = typeof error === "object" && error !== null ? calls.get(error) : undefined;
  const full: HsmContext = { ...traced, ...context };
  const code = ckrCode(error);
  if (code === undefined) {
    const message = error instanceof Error ? error.message : String(error);
    // pkcs11js refused the arguments before calling the module: a bug here, not the token's doing.
    if (error instanceof TypeError) {
      return new HsmOperationError(`HSM ${operation} failed: ${message}`, { cause: error, context: full });
    }
    return new HsmModuleError(`HSM ${operation} failed: ${message}`, { cause: error, context: full });
  }
  const ckr = ckrName(code);
  const options = { ckr, cause: error, context: full };
  switch (code) {
    case pkcs11js.CKR_PIN_INCORRECT:
      return new HsmPinIncorrectError(`HSM login refused: the PIN is incorrect (${ckr})`, options);
    case pkcs11js.CKR_PIN_LOCKED:
      return new HsmPinLockedError(`HSM login refused: the PIN is locked (${ckr})`, options);
    case pkcs11js.CKR_TOKEN_NOT_PRESENT:
    case pkcs11js.CKR_TOKEN_NOT_RECOGNIZED:
    case pkcs11js.CKR_SLOT_ID_INVALID:
    case pkcs11js.CKR_DEVICE_REMOVED:
      return new HsmTokenNotFoundError(`HSM ${operation} failed: token not available`, options);
    case pkcs11js.CKR_OBJECT_HANDLE_INVALID:
    case pkcs11js.CKR_KEY_HANDLE_INVALID:
      return new HsmKeyNotFoundError(
        full.key ? `key missing: ${full.key}` : `HSM ${operation} failed: key not found`,
        options,
      );
  }
  if (UNAVAILABLE.has(code))
    return new HsmUnavailableError(`HSM ${operation} failed: the token is not available`, options);
  if (UNSUPPORTED.has(code)) {
    const what = full.mechanism ?? full.function ?? operation;
    return new HsmUnsupportedError(`HSM ${operation} failed: the token does not support ${what}`, options);
  }
  return new HsmOperationError(`HSM ${operation} failed`, options);
}
