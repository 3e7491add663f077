import { execFileSync, spawnSync } from "node:child_process";
import { generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/index.js";
import { BadRequestError, ForbiddenError, LintError, PolicyError } from "../../src/errors/index.js";
import { createLinter } from "../../src/lint/index.js";
import type { KeyType } from "../../src/pki/key-types.js";
import { certificateBody, certificateLine, signedCertificate } from "../../src/ssh/certificate.js";
import {
  blobFromSpki,
  caSignatureAlgorithm,
  encodeSignature,
  parsePublicKeyLine,
  publicKeyLine,
} from "../../src/ssh/keys.js";
import { encodeKrl, sameRevocations } from "../../src/ssh/krl.js";
import { sshLintRules } from "../../src/ssh/lint-rules.js";
import { decideSsh } from "../../src/ssh/policy.js";
import { SshWriter } from "../../src/ssh/wire.js";
import { krlQuery, sshFingerprint, sshKeygen, sshKeygenShow } from "../helpers/ssh.js";

const dir = mkdtempSync(join(tmpdir(), "keyward-ssh-unit-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A software CA key standing in for the token: signs as SigningKeys.sign does (ECDSA raw r||s). */
function softwareCa(keyType: KeyType) {
  const pair =
    keyType === "ed25519"
      ? generateKeyPairSync("ed25519")
      : keyType === "p256"
        ? generateKeyPairSync("ec", { namedCurve: "P-256" })
        : generateKeyPairSync("rsa", { modulusLength: 3072 });
  const spki = pair.publicKey.export({ type: "spki", format: "der" });
  const signRaw = (data: Buffer): Buffer => {
    const alg = caSignatureAlgorithm(keyType).signing;
    if (alg.name === "Ed25519") return sign(null, data, pair.privateKey);
    if (alg.name === "ECDSA") return sign("sha256", data, { key: pair.privateKey, dsaEncoding: "ieee-p1363" });
    return sign("sha512", data, pair.privateKey as KeyObject);
  };
  return { spki, blob: blobFromSpki(spki), signRaw, keyType };
}

function userCertificate(
  ca: ReturnType<typeof softwareCa>,
  pub: string,
  overrides: Partial<Parameters<typeof certificateBody>[0]> = {},
) {
  const now = Date.now();
  return certificateBody({
    key: parsePublicKeyLine(pub),
    serial: 42n,
    type: "user",
    keyId: "unit",
    principals: ["alice"],
    validAfter: new Date(now - 60_000),
    validBefore: new Date(now + 3_600_000),
    criticalOptions: {},
    extensions: ["permit-pty"],
    signatureKey: ca.blob,
    ...overrides,
  });
}

describe("OpenSSH public keys", () => {
  it.each([
    ["ed25519", undefined, "ed25519", 256],
    ["ecdsa", 384, "ecdsa", 384],
    ["ecdsa", 521, "ecdsa", 521],
    ["rsa", 2048, "rsa", 2048],
  ] as const)(
    "reads ssh-keygen's %s %s keys: fingerprint and SPKI as OpenSSH and OpenSSL see them",
    (type, bits, family, size) => {
      const key = sshKeygen(dir, `k-${type}-${bits ?? ""}`, type, bits);
      const parsed = parsePublicKeyLine(key.pub);
      expect(parsed).toMatchObject({ family, bits: size });
      expect(parsed.fingerprint).toBe(sshFingerprint(`${key.path}.pub`));
      if (type !== "ed25519") {
        // ssh-keygen exports only RSA and ECDSA keys as PKCS#8.
        const pem = execFileSync("ssh-keygen", ["-e", "-m", "PKCS8", "-f", `${key.path}.pub`], { encoding: "utf8" });
        expect(parsed.spki.equals(execFileSync("openssl", ["pkey", "-pubin", "-outform", "DER"], { input: pem }))).toBe(
          true,
        );
      }
      // And back: the blob from the SPKI is the key ssh-keygen wrote.
      expect(publicKeyLine(blobFromSpki(parsed.spki), key.pub.split(" ")[2])).toBe(key.pub);
    },
  );

  it("refuses malformed and unsupported keys with what was wrong", () => {
    const ed = sshKeygen(dir, "bad-ed", "ed25519").pub;
    const [type, b64] = ed.split(" ");
    const cases: [string, RegExp, typeof BadRequestError | typeof PolicyError][] = [
      ["hello world!", /not an OpenSSH public key line/, BadRequestError],
      ["ssh-ed25519 AAAA", /the key blob is malformed/, BadRequestError],
      [`ssh-rsa ${b64}`, /the line says ssh-rsa but the key inside is ssh-ed25519/, BadRequestError],
      [
        `${type} ${Buffer.concat([Buffer.from(b64!, "base64"), Buffer.from([0])]).toString("base64")}`,
        /trailing bytes/,
        BadRequestError,
      ],
      [
        `${type} ${Buffer.from(b64!, "base64").subarray(0, 30).toString("base64")}`,
        /malformed ssh-ed25519 key/,
        BadRequestError,
      ],
      [`${sshKeygen(dir, "weak", "rsa", 1024).pub}`, /RSA keys of 1024 bits are refused/, PolicyError],
    ];
    for (const [line, message, type] of cases) {
      expect(() => parsePublicKeyLine(line)).toThrow(message);
      expect(() => parsePublicKeyLine(line)).toThrow(type);
    }
  });
});

describe("OpenSSH certificates", () => {
  it.each(["ed25519", "p256", "rsa3072"] as const)(
    "a %s CA's certificate is read and verified by ssh-keygen -L",
    (keyType) => {
      const ca = softwareCa(keyType);
      const key = sshKeygen(dir, `user-${keyType}`, "ed25519");
      const body = userCertificate(ca, key.pub, {
        criticalOptions: { "force-command": "true", "source-address": "192.0.2.0/24" },
      });
      const file = join(dir, `user-${keyType}-cert.pub`);
      writeFileSync(
        file,
        `${certificateLine(signedCertificate(body, encodeSignature(keyType, ca.signRaw(body))), "unit")}\n`,
      );
      const shown = sshKeygenShow(file);
      writeFileSync(join(dir, `ca-${keyType}.pub`), `${publicKeyLine(ca.blob)}\n`);
      expect(shown).toContain(
        `Signing CA: ${keyType === "ed25519" ? "ED25519" : keyType === "p256" ? "ECDSA" : "RSA"} ${sshFingerprint(join(dir, `ca-${keyType}.pub`))} (using ${caSignatureAlgorithm(keyType).sshName})`,
      );
      expect(shown).toMatch(/force-command true\n\s+source-address 192\.0\.2\.0\/24/);

      // A signature over other bytes is refused by OpenSSH: it verifies what we encode.
      const forged = Buffer.from(body);
      forged[forged.length - 60]! ^= 1;
      writeFileSync(
        file,
        `${certificateLine(signedCertificate(forged, encodeSignature(keyType, ca.signRaw(body))))}\n`,
      );
      expect(spawnSync("ssh-keygen", ["-L", "-f", file]).status).not.toBe(0);
    },
  );

  it("the lint gate refuses bodies that break PROTOCOL.certkeys, naming the rule", () => {
    const ca = softwareCa("ed25519");
    const other = softwareCa("ed25519");
    const pub = sshKeygen(dir, "lint", "ed25519").pub;
    const linter = createLinter(sshLintRules);
    const context = { issuer: { spki: ca.spki } };
    expect(linter.check("ssh-certificate", userCertificate(ca, pub), context)).toEqual([]);
    const now = Date.now();
    const broken: [string, Buffer][] = [
      ["ssh_cert_structure", Buffer.concat([userCertificate(ca, pub), Buffer.from([0])])],
      ["ssh_cert_signature_key", userCertificate(ca, pub, { signatureKey: other.blob })],
      ["ssh_cert_principals", userCertificate(ca, pub, { principals: [] })],
      ["ssh_cert_principal_text", userCertificate(ca, pub, { principals: ["a b"] })],
      ["ssh_cert_validity", userCertificate(ca, pub, { validAfter: new Date(now), validBefore: new Date(now - 1000) })],
      ["ssh_cert_serial", userCertificate(ca, pub, { serial: 0n })],
      ["ssh_cert_key_id", userCertificate(ca, pub, { keyId: "" })],
      ["ssh_cert_nonce", userCertificate(ca, pub, { nonce: Buffer.alloc(8) })],
      ["ssh_cert_critical_options", userCertificate(ca, pub, { criticalOptions: { "no-such-option": "" } })],
      ["ssh_cert_critical_options", userCertificate(ca, pub, { type: "host" })],
    ];
    // certificateBody always sorts; this body is written field by field to break the order.
    const w = new SshWriter()
      .string("ssh-ed25519-cert-v01@openssh.com")
      .string(Buffer.alloc(32, 1))
      .raw(parsePublicKeyLine(pub).fields)
      .uint64(9n)
      .uint32(1)
      .string("unit")
      .string(new SshWriter().string("alice").finish())
      .uint64(BigInt(Math.floor(now / 1000) - 60))
      .uint64(BigInt(Math.floor(now / 1000) + 3600));
    const unsorted = w
      .string(
        new SshWriter()
          .string("source-address")
          .string(new SshWriter().string("10.0.0.1").finish())
          .string("force-command")
          .string(new SshWriter().string("true").finish())
          .finish(),
      )
      .string(Buffer.alloc(0))
      .string(Buffer.from("x"))
      .string(ca.blob)
      .finish();
    broken.push(["ssh_cert_options_order", unsorted], ["ssh_cert_reserved", unsorted]);
    // A type OpenSSH does not define (certificateBody only writes 1 or 2).
    const typeThree = new SshWriter()
      .string("ssh-ed25519-cert-v01@openssh.com")
      .string(Buffer.alloc(32, 1))
      .raw(parsePublicKeyLine(pub).fields)
      .uint64(9n)
      .uint32(3)
      .string("unit")
      .string(new SshWriter().string("alice").finish())
      .uint64(BigInt(Math.floor(now / 1000) - 60))
      .uint64(BigInt(Math.floor(now / 1000) + 3600))
      .string(Buffer.alloc(0))
      .string(Buffer.alloc(0))
      .string(Buffer.alloc(0))
      .string(ca.blob)
      .finish();
    broken.push(["ssh_cert_type", typeThree]);
    for (const [rule, body] of broken) {
      let error: unknown;
      try {
        linter.check("ssh-certificate", body, context);
      } catch (e) {
        error = e;
      }
      expect(error, rule).toBeInstanceOf(LintError);
      expect(
        (error as LintError).findings.map((f) => f.rule),
        rule,
      ).toContain(rule);
    }
  });
});

describe("KRL", () => {
  it("ssh-keygen -Q reads what encodeKrl writes: serials per CA, explicit keys", () => {
    const ca = softwareCa("ed25519");
    const other = softwareCa("ed25519");
    const revokedKey = sshKeygen(dir, "krl-revoked", "ed25519");
    const certFor = (c: ReturnType<typeof softwareCa>, serial: bigint, name: string) => {
      const k = sshKeygen(dir, name, "ecdsa", 256);
      const body = userCertificate(c, k.pub, { serial });
      const file = join(dir, `${name}-cert.pub`);
      writeFileSync(file, `${certificateLine(signedCertificate(body, encodeSignature(c.keyType, c.signRaw(body))))}\n`);
      return file;
    };
    const revoked = certFor(ca, 7n, "krl-7");
    const notRevoked = certFor(ca, 8n, "krl-8");
    const otherCa = certFor(other, 7n, "krl-other-7");
    const big = certFor(ca, 2n ** 64n - 1n, "krl-max");
    const krl = encodeKrl({
      version: 3n,
      generatedAt: new Date(),
      comment: "unit",
      certificates: [
        { caKey: ca.blob, serials: [2n ** 64n - 1n, 7n, 7n, 0n], keyIds: [] },
        { caKey: other.blob, serials: [], keyIds: [] },
      ],
      keys: [parsePublicKeyLine(revokedKey.pub).blob],
    });
    const file = join(dir, "unit.krl");
    writeFileSync(file, krl);
    expect(krlQuery(file, revoked).revoked).toBe(true);
    expect(krlQuery(file, big).revoked).toBe(true);
    expect(krlQuery(file, notRevoked).revoked).toBe(false);
    // The same serial from another CA is another certificate.
    expect(krlQuery(file, otherCa).revoked).toBe(false);
    expect(krlQuery(file, `${revokedKey.path}.pub`).revoked).toBe(true);
    const listing = execFileSync("ssh-keygen", ["-Q", "-l", "-f", file], { encoding: "utf8" });
    expect(listing).toMatch(/KRL version 3/);
    expect(listing).toMatch(/serial: 7\b/);

    const again = encodeKrl({
      version: 4n,
      generatedAt: new Date(0),
      comment: "other",
      certificates: [{ caKey: ca.blob, serials: [7n, 2n ** 64n - 1n], keyIds: [] }],
      keys: [parsePublicKeyLine(revokedKey.pub).blob],
    });
    expect(sameRevocations(krl, again)).toBe(true);
    expect(
      sameRevocations(
        krl,
        encodeKrl({ version: 4n, generatedAt: new Date(0), comment: "", certificates: [], keys: [] }),
      ),
    ).toBe(false);
    expect(readFileSync(file).subarray(0, 8).toString("latin1")).toBe("SSHKRL\n\0");
  });
});

describe("SSH profiles", () => {
  const profiles = loadConfig({ env: { KEYWARD_DATA_DIR: dir } }).ssh.profiles;
  const key = parsePublicKeyLine(sshKeygen(dir, "policy", "ed25519").pub);
  const requester = (role: "admin" | "requester" | "ca-operator", scopes = {}) => ({ name: "dana", role, scopes });

  it("a requester gets principals naming itself (the user placeholder); admins may name anyone", () => {
    expect(decideSsh({ type: "user", principals: ["dana"] }, key, requester("requester"), profiles)).toMatchObject({
      principals: ["dana"],
      validityHours: 16,
      extensions: expect.arrayContaining(["permit-pty", "permit-user-rc"]),
    });
    expect(() => decideSsh({ type: "user", principals: ["root"] }, key, requester("requester"), profiles)).toThrow(
      PolicyError,
    );
    expect(
      decideSsh({ type: "user", principals: ["root", "dana"] }, key, requester("admin"), profiles).principals,
    ).toEqual(["root", "dana"]);
  });

  it("caps validity per role: a grant's own cap, else the profile's; the default never exceeds it", () => {
    const custom = {
      ...profiles,
      short: {
        ...profiles.user!,
        defaultValidityHours: 16,
        maxValidityHours: 24,
        allow: [
          { roles: ["admin" as const], principals: ["*"] },
          // biome-ignore lint/suspicious/noTemplateCurlyInString: the profiles' own placeholder, not a template
          { roles: ["requester" as const], principals: ["${user}"], maxValidityHours: 8 },
        ],
      },
    };
    const ask = (role: "admin" | "requester", validityHours?: number) =>
      decideSsh({ type: "user", profile: "short", principals: ["dana"], validityHours }, key, requester(role), custom);
    expect(ask("requester").validityHours).toBe(8);
    expect(ask("requester", 8).validityHours).toBe(8);
    expect(() => ask("requester", 9)).toThrow(/over the cap for role requester .*\(8\)/);
    expect(ask("admin").validityHours).toBe(16);
    expect(ask("admin", 24).validityHours).toBe(24);
    expect(() => ask("admin", 25)).toThrow(/over the cap of SSH profile "short" \(24\)/);
  });

  it("host principals follow X.509 name patterns; token scopes narrow them", () => {
    const custom = {
      ...profiles,
      web: {
        ...profiles.host!,
        allow: [{ roles: ["requester" as const], principals: ["*.web.example.com", "10.1.0.0/16"] }],
      },
    };
    expect(
      decideSsh(
        { type: "host", profile: "web", principals: ["a.web.example.com", "10.1.2.3"] },
        key,
        requester("requester"),
        custom,
      ).principals,
    ).toHaveLength(2);
    expect(() =>
      decideSsh({ type: "host", profile: "web", principals: ["web.example.com"] }, key, requester("requester"), custom),
    ).toThrow(/not allowed/);
    expect(() =>
      decideSsh(
        { type: "host", profile: "web", principals: ["b.web.example.com"] },
        key,
        requester("requester", { names: ["a.web.example.com"] }),
        custom,
      ),
    ).toThrow(/outside this token's names/);
    expect(() =>
      decideSsh({ type: "host", principals: ["x.example.com"] }, key, requester("requester"), profiles),
    ).toThrow(ForbiddenError);
    expect(() =>
      decideSsh({ type: "user", principals: ["dana"] }, key, requester("requester", { profiles: ["web"] }), custom),
    ).toThrow(ForbiddenError);
    expect(() =>
      decideSsh({ type: "host", principals: ["h"], extensions: ["permit-pty"] }, key, requester("admin"), profiles),
    ).toThrow(/not allowed|carry none/);
  });
});
