import pkcs11js from "pkcs11js";
import {
  HsmError,
  HsmKeyNotFoundError,
  HsmModuleError,
  HsmPinIncorrectError,
  HsmPinLockedError,
  HsmTokenNotFoundError,
} from "../errors/index.js";
import { ThreadFailure } from "../threads/index.js";

const CKR_NAMES = new Map<number, string>();
for (const [name, value] of Object.entries(pkcs11js as unknown as Record<string, unknown>)) {
  if (name.startsWith("CKR_") && typeof value === "number" && !CKR_NAMES.has(value)) CKR_NAMES.set(value, name);
}

export function ckrName(code: number): string {
  return CKR_NAMES.get(code) ?? `CKR_0x${code.toString(16).padStart(8, "0")}`;
}

function ckrCode(error: unknown): number | undefined {
  if (error instanceof pkcs11js.Pkcs11Error || error instanceof ThreadFailure) return error.code;
  return undefined;
}

/** Turn whatever pkcs11js threw into a typed HsmError whose message names the operation. */
export function toHsmError(error: unknown, operation: string): HsmError {
  if (error instanceof HsmError) return error;
  const code = ckrCode(error);
  if (code === undefined) {
    const message = error instanceof Error ? error.message : String(error);
    return new HsmModuleError(`HSM ${operation} failed: ${message}`, { cause: error });
  }
  const ckr = ckrName(code);
  const options = { ckr, cause: error };
  switch (code) {
    case pkcs11js.CKR_PIN_INCORRECT:
      return new HsmPinIncorrectError(`HSM login refused: the PIN is incorrect (${ckr})`, options);
    case pkcs11js.CKR_PIN_LOCKED:
      return new HsmPinLockedError(`HSM login refused: the PIN is locked (${ckr})`, options);
    case pkcs11js.CKR_TOKEN_NOT_PRESENT:
    case pkcs11js.CKR_TOKEN_NOT_RECOGNIZED:
    case pkcs11js.CKR_SLOT_ID_INVALID:
    case pkcs11js.CKR_DEVICE_REMOVED:
      return new HsmTokenNotFoundError(`HSM ${operation} failed: token not available (${ckr})`, options);
    case pkcs11js.CKR_OBJECT_HANDLE_INVALID:
    case pkcs11js.CKR_KEY_HANDLE_INVALID:
      return new HsmKeyNotFoundError(`HSM ${operation} failed: key not found (${ckr})`, options);
    default:
      return new HsmError(`HSM ${operation} failed (${ckr})`, options);
  }
}

export function isCkr(error: unknown, code: number): boolean {
  return ckrCode(error) === code;
}
