import { execFileSync } from "node:child_process";
import { createPrivateKey, createPublicKey, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CompactEncrypt, compactDecrypt, compactVerify, decodeProtectedHeader, importX509 } from "jose";
import { certificatePem } from "../../src/pki/pem.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Clock } from "../../src/clock/index.js";
import {
  opensslCmsDecrypt,
  opensslCmsEncrypt,
  opensslCsr,
  startKeyward,
  type TestKeyward,
  writeFile,
} from "../helpers/keyward.js";

/** Real time, shifted on demand: certificates expire without waiting a year. */
class ShiftClock implements Clock {
  offsetMs = 0;
  now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }
}

let kw: TestKeyward;
let dir: string;
const clock = new ShiftClock();

beforeAll(async () => {
  kw = await startKeyward({ clock });
  dir = mkdtempSync(join(tmpdir(), "keyward-dist-"));
});

afterAll(async () => {
  await kw?.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Recipient {
  serial: string;
  certificate: string;
  certFile: string;
  keyFile: string;
}

const KEY_OPTIONS = {
  rsa: ["-newkey", "rsa:2048"],
  ec: ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
};

/** A recipient key made by openssl and its certificate issued by Keyward under `profile`. */
async function recipient(name: string, type: "rsa" | "ec", profile = "recipient"): Promise<Recipient> {
  const { csr, keyFile } = opensslCsr(dir, name, {
    key: KEY_OPTIONS[type],
    subj: `/CN=${name}.example.com`,
    san: `DNS:${name}.example.com`,
  });
  const res = await kw.api("/api/v1/certificates", { body: { csr, profile } });
  if (res.status !== 201) throw new Error(await res.text());
  const { serial, certificate } = (await res.json()) as { serial: string; certificate: string };
  return { serial, certificate, certFile: writeFile(dir, `${name}.pem`, certificate), keyFile };
}

async function createKey(body: Record<string, unknown>): Promise<{ id: string }> {
  const res = await kw.api("/api/v1/keys", { body });
  expect(res.status).toBe(201);
  return (await res.json()) as { id: string };
}

const distribute = (keyId: string, body: Record<string, unknown>) =>
  kw.api(`/api/v1/keys/${keyId}/distributions`, { body });

async function distributed(keyId: string, body: Record<string, unknown>) {
  const res = await distribute(keyId, body);
  expect(res.status).toBe(201);
  return (await res.json()) as { id: string; data: string; version: number; kid: string; sealedIn: string };
}

/** The key bytes as `openssl cms -decrypt` recovers them with the recipient's own key. */
function opensslOpen(data: string, r: Recipient): Buffer {
  const file = writeFile(dir, `cms-${Math.random().toString(36).slice(2)}.der`, Buffer.from(data, "base64"));
  return opensslCmsDecrypt(file, r.keyFile, r.certFile);
}

async function problem(res: Response, status: number) {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toContain("application/problem+json");
  return (await res.json()) as { type: string; detail: string; reason?: string };
}

describe("key distribution by wrapping to certificates", () => {
  for (const type of ["rsa", "ec"] as const) {
    it(`delivers the same key as CMS (openssl cms) and JWE (jose) to an ${type.toUpperCase()} recipient`, async () => {
      const r = await recipient(`${type}-holder`, type);
      const key = await createKey({ name: `shared-${type}`, distributable: true });

      const cms = await distributed(key.id, { certificate: r.certificate, format: "cms" });
      expect(cms.sealedIn).toBe("token");
      const fromCms = opensslOpen(cms.data, r);
      expect(fromCms).toHaveLength(32);

      const jwe = await distributed(key.id, { certificate: r.certificate, format: "jwe" });
      const header = JSON.parse(Buffer.from(jwe.data.split(".")[0]!, "base64url").toString());
      expect(header).toMatchObject({
        alg: type === "rsa" ? "RSA-OAEP-256" : "ECDH-ES+A256KW",
        enc: "A256GCM",
        "kw-kid": `${key.id}/1`,
      });
      const privateKey = createPrivateKey(readFileSync(r.keyFile));
      const { plaintext: fromJwe } = await compactDecrypt(jwe.data, privateKey);
      expect(Buffer.from(fromJwe).equals(fromCms)).toBe(true);

      // What the KMS encrypts, the holder decrypts with jose alone and the distributed bytes.
      const sealed = await kw.api(`/api/v1/keys/${key.id}/encrypt`, {
        body: { plaintext: Buffer.from("for the holder").toString("base64") },
      });
      const { ciphertext } = (await sealed.json()) as { ciphertext: string };
      const { plaintext } = await compactDecrypt(ciphertext, new Uint8Array(fromCms));
      expect(Buffer.from(plaintext).toString()).toBe("for the holder");

      const list = await kw.api(`/api/v1/keys/${key.id}/distributions`);
      const { items } = (await list.json()) as { items: Array<{ format: string; recipient: { serial: string } }> };
      expect(items.map((d) => [d.format, d.recipient.serial])).toEqual([
        ["cms", r.serial],
        ["jwe", r.serial],
      ]);
    });
  }

  it("sends AES-128 keys too, and an older version when asked", async () => {
    const r = await recipient("old-data", "ec");
    const key = await createKey({ name: "legacy", algorithm: "AES-128", distributable: true });
    await kw.api(`/api/v1/keys/${key.id}/rotate`, { body: {} });
    const v1 = await distributed(key.id, { certificate: r.certificate, format: "cms", version: 1 });
    const v2 = await distributed(key.id, { certificate: r.certificate, format: "cms" });
    expect([v1.version, v2.version]).toEqual([1, 2]);
    const [a, b] = [opensslOpen(v1.data, r), opensslOpen(v2.data, r)];
    expect([a.length, b.length]).toEqual([16, 16]);
    expect(a.equals(b)).toBe(false);
  });

  it("refuses recipients that fail a check, with the failed check named", async () => {
    const key = await createKey({ name: "guarded", distributable: true });
    const good = await recipient("good", "rsa");

    const revoked = await recipient("revoked", "rsa");
    await kw.api(`/api/v1/certificates/${revoked.serial}/revoke`, { body: { reason: "superseded" } });
    let p = await problem(await distribute(key.id, { certificate: revoked.certificate, format: "cms" }), 422);
    expect(p).toMatchObject({ type: "urn:keyward:problem:badRecipient", reason: "revoked" });
    expect(p.detail).toBe(`recipient certificate ${revoked.serial} (CN=revoked.example.com) is revoked`);

    const client = await recipient("signer", "ec", "client");
    p = await problem(await distribute(key.id, { certificate: client.certificate, format: "jwe" }), 422);
    expect(p.reason).toBe("keyUsage");
    expect(p.detail).toContain("does not allow keyAgreement");

    const selfKey = join(dir, "self.key");
    const selfCert = join(dir, "self.pem");
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        selfKey,
        "-out",
        selfCert,
        "-days",
        "30",
        "-subj",
        "/CN=stranger",
        "-addext",
        "keyUsage=critical,keyEncipherment",
      ],
      { stdio: "pipe" },
    );
    p = await problem(await distribute(key.id, { certificate: readFileSync(selfCert, "utf8"), format: "cms" }), 422);
    expect(p.reason).toBe("untrusted");
    expect(p.detail).toContain('no trusted CA named "CN=stranger"');

    clock.offsetMs = 400 * 86_400_000;
    try {
      p = await problem(await distribute(key.id, { certificate: good.certificate, format: "cms" }), 422);
      expect(p.reason).toBe("expired");
    } finally {
      clock.offsetMs = 0;
    }

    p = await problem(await distribute(key.id, { certificate: "not a certificate", format: "cms" }), 422);
    expect(p.reason).toBe("malformed");

    const kept = await createKey({ name: "kept-inside" });
    p = await problem(await distribute(kept.id, { certificate: good.certificate, format: "cms" }), 403);
    expect(p.detail).toBe(
      "key kept-inside is not distributable: its versions are non-extractable in the token and can never leave it",
    );

    const bad = await problem(await distribute(key.id, { certificate: good.certificate, format: "pem" }), 400);
    expect(bad.detail).toContain("format");

    // Nothing refused was recorded as a distribution.
    const list = (await (await kw.api(`/api/v1/keys/${key.id}/distributions`)).json()) as { items: unknown[] };
    expect(list.items).toEqual([]);
  });

  it("flags, rotates or compromises keys when a recipient certificate is revoked, per key policy", async () => {
    const holder = await recipient("leaky", "ec");
    const bystander = await recipient("bystander", "rsa");
    const policies = ["flag", "rotate", "compromise"] as const;
    const keys: Record<string, { id: string }> = {};
    for (const policy of policies) {
      keys[policy] = await createKey({ name: `policy-${policy}`, distributable: true, onRecipientRevoked: policy });
      await distributed(keys[policy]!.id, { certificate: holder.certificate, format: "cms" });
      await distributed(keys[policy]!.id, { certificate: bystander.certificate, format: "jwe" });
    }
    const revoke = await kw.api(`/api/v1/certificates/${holder.serial}/revoke`, { body: { reason: "keyCompromise" } });
    expect(revoke.status).toBe(200);

    const view = async (id: string) => {
      const key = (await (await kw.api(`/api/v1/keys/${id}`)).json()) as {
        versions: Array<{ version: number; state: string }>;
      };
      const { items } = (await (await kw.api(`/api/v1/keys/${id}/distributions`)).json()) as {
        items: Array<{ recipient: { serial: string }; exposed: boolean; exposureReason: string | null }>;
      };
      return {
        versions: key.versions.map((v) => `${v.version}:${v.state}`),
        exposed: items.filter((d) => d.exposed).map((d) => d.recipient.serial),
        reason: items.find((d) => d.exposed)?.exposureReason,
      };
    };
    expect(await view(keys.flag!.id)).toEqual({
      versions: ["1:active"],
      exposed: [holder.serial],
      reason: `recipient certificate ${holder.serial} was revoked`,
    });
    expect((await view(keys.rotate!.id)).versions).toEqual(["1:deactivated", "2:active"]);
    expect((await view(keys.compromise!.id)).versions).toEqual(["1:compromised", "2:active"]);

    // The signed key revocation list names the compromised version; jose verifies it against the
    // certificate it carries, and openssl chains that certificate to our root.
    const krl = await kw.api("/kms/revoked", { token: null });
    expect(krl.status).toBe(200);
    expect(krl.headers.get("content-type")).toContain("application/jose");
    const jws = await krl.text();
    const { x5c } = decodeProtectedHeader(jws) as { x5c: string[] };
    const signerPem = writeFile(dir, "krl-signer.pem", certificatePem(Buffer.from(x5c[0]!, "base64")));
    const untrusted = writeFile(
      dir,
      "krl-chain.pem",
      x5c
        .slice(1)
        .map((c) => certificatePem(Buffer.from(c, "base64")))
        .join(""),
    );
    const rootPem = writeFile(dir, "root.pem", await (await kw.api("/ca/root.pem", { token: null })).text());
    expect(
      execFileSync("openssl", ["verify", "-CAfile", rootPem, "-untrusted", untrusted, signerPem], { encoding: "utf8" }),
    ).toContain(": OK");
    const signer = await importX509(readFileSync(signerPem, "utf8"), "ES256");
    const { payload } = await compactVerify(jws, signer);
    const list = JSON.parse(Buffer.from(payload).toString()) as {
      issuedAt: string;
      nextUpdate: string;
      keys: Array<{ kid: string; state: string }>;
    };
    expect(list.keys).toContainEqual(
      expect.objectContaining({ kid: `${keys.compromise!.id}/1`, state: "compromised" }),
    );
    expect(list.keys.some((k) => k.kid.startsWith(keys.flag!.id))).toBe(false);
    expect(new Date(list.nextUpdate).getTime() - new Date(list.issuedAt).getTime()).toBe(24 * 3_600_000);
    const tampered = `${jws.split(".")[0]}.${Buffer.from(JSON.stringify({ ...list, keys: [] })).toString("base64url")}.${jws.split(".")[2]}`;
    await expect(compactVerify(tampered, signer)).rejects.toThrow();

    const events = await kw.services.audit.search({ action: "key.exposed", limit: 10 });
    expect(events).toHaveLength(3);
    // The sweep finds nothing more to do: each exposure is applied once.
    expect(await kw.services.distribution.processRevokedRecipients({ id: "t", name: "t", kind: "system" })).toEqual({
      flagged: 0,
      rotated: 0,
      compromised: 0,
    });
  });

  it("imports keys (BYOK) sealed to the import certificate with openssl cms or jose, and refuses what is not", async () => {
    const res = await kw.api("/api/v1/keys/import-certificate");
    expect(res.status).toBe(200);
    const chainPem = await res.text();
    const importPem = writeFile(
      dir,
      "import.pem",
      `${chainPem.split("-----END CERTIFICATE-----")[0]}-----END CERTIFICATE-----\n`,
    );
    const rootPem = writeFile(dir, "root-import.pem", await (await kw.api("/ca/root.pem", { token: null })).text());
    const chainFile = writeFile(dir, "import-chain.pem", chainPem);
    expect(
      execFileSync("openssl", ["verify", "-CAfile", rootPem, "-untrusted", chainFile, importPem], { encoding: "utf8" }),
    ).toContain(": OK");
    expect(
      execFileSync("openssl", ["x509", "-in", importPem, "-noout", "-ext", "keyUsage"], { encoding: "utf8" }),
    ).toContain("Key Encipherment");

    const key = await createKey({ name: "byok", distributable: true });
    const importAndCheck = async (format: "cms" | "jwe", data: string, value: Buffer) => {
      const imported = await kw.api(`/api/v1/keys/${key.id}/import`, { body: { format, data } });
      expect(imported.status).toBe(201);
      const view = (await imported.json()) as { versions: Array<{ version: number; keyUri: string }> };
      const newest = view.versions.at(-1)!;
      expect(await kw.services.hsm.secretKeys.secretKeyAttributes(newest.keyUri)).toMatchObject({
        sensitive: true,
        token: true,
      });
      // The KMS now encrypts under the imported value: jose decrypts with the bytes we imported.
      const sealed = await kw.api(`/api/v1/keys/${key.id}/encrypt`, {
        body: { plaintext: Buffer.from("mine").toString("base64") },
      });
      const { ciphertext, version } = (await sealed.json()) as { ciphertext: string; version: number };
      expect(version).toBe(newest.version);
      const { plaintext } = await compactDecrypt(ciphertext, new Uint8Array(value));
      expect(Buffer.from(plaintext).toString()).toBe("mine");
    };

    const viaCms = randomBytes(32);
    const keyFile = writeFile(dir, "byok.bin", viaCms);
    const cmsFile = join(dir, "byok.cms");
    opensslCmsEncrypt(keyFile, cmsFile, importPem);
    await importAndCheck("cms", readFileSync(cmsFile).toString("base64"), viaCms);

    const viaJwe = randomBytes(32);
    const importKey = createPublicKey(readFileSync(importPem));
    const jwe = await new CompactEncrypt(viaJwe)
      .setProtectedHeader({ alg: "RSA-OAEP", enc: "A256GCM" })
      .encrypt(importKey);
    await importAndCheck("jwe", jwe, viaJwe);

    // Sealed to someone else, the wrong size, the wrong algorithm, or tampered: refused, nothing added.
    const other = await recipient("not-import", "rsa");
    const elsewhere = join(dir, "elsewhere.cms");
    opensslCmsEncrypt(keyFile, elsewhere, other.certFile);
    let p = await problem(
      await kw.api(`/api/v1/keys/${key.id}/import`, {
        body: { format: "cms", data: readFileSync(elsewhere).toString("base64") },
      }),
      400,
    );
    expect(p.detail).toContain("no key-transport recipient for Keyward's import certificate");
    const short = await new CompactEncrypt(randomBytes(16))
      .setProtectedHeader({ alg: "RSA-OAEP", enc: "A256GCM" })
      .encrypt(importKey);
    p = await problem(await kw.api(`/api/v1/keys/${key.id}/import`, { body: { format: "jwe", data: short } }), 400);
    expect(p.detail).toBe("the imported key is 16 bytes; a AES-256 key is 32");
    const sha256 = await new CompactEncrypt(viaJwe)
      .setProtectedHeader({ alg: "RSA-OAEP-256", enc: "A256GCM" })
      .encrypt(importKey);
    p = await problem(await kw.api(`/api/v1/keys/${key.id}/import`, { body: { format: "jwe", data: sha256 } }), 400);
    expect(p.detail).toContain('alg "RSA-OAEP-256"');
    const parts = jwe.split(".");
    const tampered = [parts[0], parts[1], parts[2], `${parts[3]!.slice(0, -2)}AA`, parts[4]].join(".");
    p = await problem(await kw.api(`/api/v1/keys/${key.id}/import`, { body: { format: "jwe", data: tampered } }), 400);
    expect(p.detail).toContain("could not be opened with Keyward's import key");
    const after = (await (await kw.api(`/api/v1/keys/${key.id}`)).json()) as { versions: unknown[] };
    expect(after.versions).toHaveLength(3);
  });
});
