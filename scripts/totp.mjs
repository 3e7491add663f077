#!/usr/bin/env node
// `totp <otpauth URI>` prints the current RFC 6238 code: it stands in for a person's authenticator
// app in the executable runbooks (docs/handbook), where witnesses and approvers prove presence.
import { createHmac } from "node:crypto";

const uri = process.argv[2];
if (!uri?.startsWith("otpauth://totp/")) {
  process.stderr.write("usage: totp otpauth://totp/…?secret=…\n");
  process.exit(2);
}
const params = new URL(uri).searchParams;
const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
let bits = "";
for (const c of (params.get("secret") ?? "").toUpperCase().replace(/=+$/, "")) {
  const v = alphabet.indexOf(c);
  if (v < 0) throw new Error("the secret is not base32");
  bits += v.toString(2).padStart(5, "0");
}
const secret = Buffer.from((bits.match(/.{8}/g) ?? []).map((b) => Number.parseInt(b, 2)));
const digits = Number(params.get("digits") ?? 6);
const period = Number(params.get("period") ?? 30);
const counter = Buffer.alloc(8);
counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000 / period)));
const mac = createHmac((params.get("algorithm") ?? "SHA1").toLowerCase(), secret)
  .update(counter)
  .digest();
const offset = mac[mac.length - 1] & 15;
const code = (mac.readUInt32BE(offset) & 0x7fffffff) % 10 ** digits;
process.stdout.write(`${String(code).padStart(digits, "0")}\n`);
