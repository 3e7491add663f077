import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AcmeRevocation } from "../../src/acme/revocation.js";
import { RevocationReasonError } from "../../src/errors/index.js";

let dir: string;
let der: Buffer;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "keyward-acme-revocation-"));
  const certFile = join(dir, "leaf.der");
  execFileSync("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    join(dir, "leaf.key"),
    "-subj",
    "/CN=a.example.com",
    "-outform",
    "DER",
    "-out",
    certFile,
  ]);
  der = readFileSync(certFile);
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("ACME revokeCert and the profile's revocation reasons", () => {
  it("answers badRevocationReason, with the allowed reasons, when the certificate's profile refuses the reason", async () => {
    const allowed = ["keyCompromise", "superseded"];
    const revocation = new AcmeRevocation({
      store: { accountOwnsCertificate: async () => true },
      certificates: { findCertificate: async () => ({ certificate: der, status: "valid" }) as never },
      revoke: async (request) => {
        throw new RevocationReasonError(
          `profile "iot" does not allow the revocation reason ${request.reason}; allowed: ${allowed.join(", ")}`,
          allowed,
        );
      },
    });
    await expect(
      revocation.revokeCertificate({ account: { id: "acct-1" } as never, jwk: {} }, { certificate: der, reason: 5 }),
    ).rejects.toMatchObject({
      acmeType: "badRevocationReason",
      status: 400,
      message:
        'profile "iot" does not allow the revocation reason cessationOfOperation; allowed: keyCompromise, superseded',
      extensions: { allowedReasons: allowed },
    });
  });
});
