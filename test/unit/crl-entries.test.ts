// The CRL entry writer, read back by two decoders we did not write: `openssl crl` and @peculiar/x509.
import { execFileSync } from "node:child_process";
import { generateKeyPairSync, sign } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { describe, expect, it } from "vitest";
import { bitString, explicit, header, oid, sequence, set, smallInteger, tlv, x509Time } from "../../src/pki/der.js";
import { CrlEntries } from "../../src/revocation/crl.js";
import type { RevocationRecord } from "../../src/revocation/ports.js";

const RECORDS: RevocationRecord[] = [
  {
    serial: "7f01020304050607",
    caId: "i",
    revokedAt: new Date("2026-11-29T10:11:12Z"),
    reason: 1,
    invalidityDate: null,
  },
  // High bit set (a 0x00 octet keeps it positive), and odd-length hex.
  { serial: "8badf00d", caId: "i", revokedAt: new Date("2049-12-31T23:59:59Z"), reason: 0, invalidityDate: null },
  { serial: "abc", caId: "i", revokedAt: new Date("2050-01-01T00:00:00Z"), reason: 6, invalidityDate: null },
  // Leading zero octets are not part of the INTEGER.
  {
    serial: "0000c0ffee",
    caId: "i",
    revokedAt: new Date("2027-01-02T03:04:05Z"),
    reason: 4,
    invalidityDate: new Date("2026-12-24T00:00:00Z"),
  },
  {
    serial: "01",
    caId: "i",
    revokedAt: new Date("2027-01-02T03:04:05Z"),
    reason: 0,
    invalidityDate: new Date("2026-12-25T00:00:00Z"),
  },
];

function signedCrl(entries: CrlEntries): Buffer {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const alg = sequence(oid("1.2.840.10045.4.3.2"));
  const issuer = sequence(set(sequence(oid("2.5.4.3"), tlv(0x0c, Buffer.from("Test CA")))));
  const tbs = sequence(
    smallInteger(1),
    alg,
    issuer,
    x509Time(new Date("2026-11-29T00:00:00Z")),
    x509Time(new Date("2026-12-06T00:00:00Z")),
    header(0x30, entries.length),
    entries.bytes(),
    explicit(0, sequence(sequence(oid("2.5.29.20"), tlv(0x04, smallInteger(7))))),
  );
  return sequence(tbs, alg, bitString(sign("sha256", tbs, privateKey)));
}

describe("CRL entries", () => {
  it("are read back by openssl and @peculiar/x509 with every serial, date, reason and invalidity date", () => {
    const entries = new CrlEntries();
    for (const r of RECORDS) entries.add(r);
    const crl = new x509.X509Crl(new Uint8Array(signedCrl(entries)));
    const read = crl.entries.map((e) => ({
      serial: e.serialNumber.replace(/^(00)+/, ""),
      revokedAt: e.revocationDate.toISOString(),
      reason: e.reason ?? 0,
      invalidity: e.invalidity?.toISOString() ?? null,
    }));
    expect(read).toEqual(
      RECORDS.map((r) => ({
        serial: (r.serial.length % 2 ? `0${r.serial}` : r.serial).replace(/^(00)+/, ""),
        revokedAt: r.revokedAt.toISOString(),
        reason: r.reason,
        invalidity: r.invalidityDate?.toISOString() ?? null,
      })),
    );

    // Enough entries to grow the buffer several times (x509 caps its node count; openssl reads them).
    const filler = Array.from({ length: 5000 }, (_, i) => ({ ...RECORDS[0]!, serial: (0x100000 + i).toString(16) }));
    for (const r of filler) entries.add(r);
    expect(entries.count).toBe(RECORDS.length + filler.length);
    const der = signedCrl(entries);
    const text = execFileSync("openssl", ["crl", "-inform", "DER", "-noout", "-text"], {
      input: der,
      encoding: "utf8",
    });
    expect(text).toContain("Serial Number: 8BADF00D");
    expect(text).toContain("Serial Number: 0ABC");
    expect(text).toContain("Serial Number: C0FFEE");
    expect(text).toContain("Revocation Date: Jan  1 00:00:00 2050 GMT");
    expect(text).toContain("Certificate Hold");
    expect(text).toContain("Invalidity Date: \n                Dec 25 00:00:00 2026 GMT");
    expect(text.match(/Serial Number:/g)).toHaveLength(RECORDS.length + filler.length);
  });
});
