import { BadRequestError } from "../errors/index.js";

/** Accepts the forms people paste (uppercase, colon-separated) and returns lowercase hex. */
export function normalizeSerial(serial: string): string {
  const hex = serial.replaceAll(":", "").toLowerCase();
  if (!/^[0-9a-f]{1,40}$/.test(hex))
    throw new BadRequestError(`"${serial.slice(0, 64)}" is not a hexadecimal serial number`);
  return hex;
}
