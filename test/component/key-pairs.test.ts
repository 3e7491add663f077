import { execFileSync } from "node:child_process";
import { createHash, createPublicKey, verify as nodeVerify } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compactVerify, importJWK, type JWK } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keyward } from "../helpers/cli.js";
import { startKeyward, type TestKeyward, testActor } from "../helpers/keyward.js";
import { listTokenObjects, readPrivateValue } from "../helpers/softhsm.js";

let kw: TestKeyward;
let dir: string;

beforeAll(async () => {
  kw = await startKeyward();
  dir = mkdtempSync(join(tmpdir(), "keyward-key-pairs-"));
}, 120_000);

afterAll(async () => {
  await kw?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface KeyView {
  id: string;
  name: string;
  algorithm: string;
  purpose: string;
  keyPair?: boolean;
  signatureAlgorithms?: string[];
  encryptionAlgorithm?: string;
  versions: Array<{ version: number; state: string; keyUri: string; spkiSha256?: string }>;
}

const detail = async (res: Response) => ((await res.json()) as { detail: string }).detail;
const b64 = (data: Buffer | string) => Buffer.from(data).toString("base64");

async function createKey(body: Record<string, unknown>): Promise<KeyView> {
  const res = await kw.api("/api/v1/keys", { body });
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as KeyView;
}

async function publicPem(id: string, version?: number): Promise<string> {
  const res = await kw.api(`/api/v1/keys/${id}/public-key?format=pem${version ? `&version=${version}` : ""}`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { publicKey: string }).publicKey;
}

async function sign(id: string, body: Record<string, unknown>) {
  const res = await kw.api(`/api/v1/keys/${id}/sign`, { body });
  return { res, json: (await res.clone().json()) as { signature: string; version: number; algorithm: string } };
}

/** `openssl …` in the test's temp dir; throws with openssl's stderr when it fails. */
function openssl(args: string[], input?: Buffer): Buffer {
  return execFileSync("openssl", args, { cwd: dir, input, stdio: ["pipe", "pipe", "pipe"] });
}

function file(name: string, content: string | Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

const MESSAGE = Buffer.from("release 1.4.2 of keyward, sha256 of the tarball: 3f1a…\n");

// Each algorithm, and how openssl checks its signature of MESSAGE with the exported PEM.
const SIGNERS: Array<{ algorithm: string; sig: string; openssl: (pub: string, msg: string, sig: string) => string[] }> =
  [
    {
      algorithm: "ECDSA-P256",
      sig: "ES256",
      openssl: (p, m, s) => ["dgst", "-sha256", "-verify", p, "-signature", s, m],
    },
    {
      algorithm: "ECDSA-P384",
      sig: "ES384",
      openssl: (p, m, s) => ["dgst", "-sha384", "-verify", p, "-signature", s, m],
    },
    {
      algorithm: "Ed25519",
      sig: "EdDSA",
      openssl: (p, m, s) => ["pkeyutl", "-verify", "-pubin", "-inkey", p, "-rawin", "-in", m, "-sigfile", s],
    },
    {
      algorithm: "RSA-2048",
      sig: "RS256",
      openssl: (p, m, s) => ["dgst", "-sha256", "-verify", p, "-signature", s, m],
    },
    {
      algorithm: "RSA-3072",
      sig: "PS384",
      openssl: (p, m, s) => [
        "dgst",
        "-sha384",
        "-sigopt",
        "rsa_padding_mode:pss",
        "-sigopt",
        "rsa_pss_saltlen:48",
        "-verify",
        p,
        "-signature",
        s,
        m,
      ],
    },
    {
      algorithm: "RSA-4096",
      sig: "RS512",
      openssl: (p, m, s) => ["dgst", "-sha512", "-verify", p, "-signature", s, m],
    },
  ];

describe("KMS key pairs (issue 24)", () => {
  it.each(SIGNERS)(
    "$algorithm: made in the token (sensitive, never extractable), signs what openssl verifies with the exported PEM",
    async ({ algorithm, sig, openssl: verifyArgs }) => {
      const key = await createKey({ name: `release-${algorithm.toLowerCase()}`, algorithm, purpose: "sign" });
      expect(key).toMatchObject({ algorithm, purpose: "sign", keyPair: true });
      expect(key.signatureAlgorithms).toContain(sig);
      const uri = key.versions[0]!.keyUri;
      expect(await kw.services.hsm.keyPairs.keyAttributes(uri)).toMatchObject({
        sensitive: true,
        extractable: false,
        alwaysSensitive: true,
        neverExtractable: true,
      });
      // Asked outside Keyward's adapter, the token refuses the private value (CKA_VALUE: EC keys).
      if (!algorithm.startsWith("RSA")) expect(() => readPrivateValue(kw.token, uri)).toThrow(/ATTRIBUTE_SENSITIVE/);

      const pem = await publicPem(key.id);
      const { res, json } = await sign(key.id, { message: b64(MESSAGE), algorithm: sig });
      expect(res.status).toBe(200);
      expect(json).toMatchObject({ version: 1, algorithm: sig });
      const pub = file(`${algorithm}.pem`, pem);
      const msg = file(`${algorithm}.msg`, MESSAGE);
      const sigFile = file(`${algorithm}.sig`, Buffer.from(json.signature, "base64"));
      expect(openssl(verifyArgs(pub, msg, sigFile)).toString()).toMatch(/Verified OK|Signature Verified Successfully/);
      // A changed message does not verify.
      const other = file(`${algorithm}.other`, Buffer.concat([MESSAGE, Buffer.from("x")]));
      expect(() => openssl(verifyArgs(pub, other, sigFile))).toThrow();
    },
    60_000,
  );

  it("signs a digest the caller made (ECDSA, RSA PKCS#1 and PSS), as openssl pkeyutl checks it", async () => {
    const digest = createHash("sha256").update(MESSAGE).digest();
    const ec = await createKey({ name: "digest-ec", algorithm: "ECDSA-P256" });
    const rsa = await createKey({ name: "digest-rsa", algorithm: "RSA-2048" });
    const dgst = file("digest.bin", digest);
    for (const [key, algorithm, opts] of [
      [ec, "ES256", []],
      [rsa, "RS256", []],
      [rsa, "PS256", ["-pkeyopt", "rsa_padding_mode:pss", "-pkeyopt", "rsa_pss_saltlen:32"]],
    ] as const) {
      const { res, json } = await sign(key.id, { digest: b64(digest), algorithm });
      expect(res.status).toBe(200);
      const pub = file(`${key.name}.pem`, await publicPem(key.id));
      const sigFile = file(`${key.name}-${algorithm}.sig`, Buffer.from(json.signature, "base64"));
      const out = openssl([
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        pub,
        "-in",
        dgst,
        "-sigfile",
        sigFile,
        "-pkeyopt",
        "digest:sha256",
        ...opts,
      ]);
      expect(out.toString()).toContain("Signature Verified Successfully");
      // Node's crypto agrees on the message itself.
      expect(
        nodeVerify(
          "sha256",
          MESSAGE,
          algorithm === "PS256"
            ? { key: createPublicKey(readFileSync(pub)), padding: 6, saltLength: 32 }
            : createPublicKey(readFileSync(pub)),
          Buffer.from(json.signature, "base64"),
        ),
      ).toBe(true);
    }
  });

  it("serves the public key as PEM, JWK (kid id/version) and OpenSSH that ssh-keygen reads", async () => {
    const key = await createKey({ name: "deploy", algorithm: "Ed25519" });
    const jwkRes = await kw.api(`/api/v1/keys/${key.id}/public-key?format=jwk`);
    const jwk = ((await jwkRes.json()) as { publicKey: JWK }).publicKey;
    expect(jwk).toMatchObject({ kty: "OKP", crv: "Ed25519", kid: `${key.id}/1`, use: "sig", alg: "EdDSA" });
    expect(jwk).not.toHaveProperty("d");
    const ssh = ((await (await kw.api(`/api/v1/keys/${key.id}/public-key?format=ssh`)).json()) as { publicKey: string })
      .publicKey;
    expect(ssh).toMatch(/^ssh-ed25519 \S+ deploy\/v1$/);
    const pemFingerprint = createHash("sha256")
      .update(createPublicKey(await publicPem(key.id)).export({ type: "spki", format: "der" }))
      .digest("hex");
    expect(key.versions[0]!.spkiSha256).toBe(pemFingerprint);
    const sshFile = file("deploy.pub", `${ssh}\n`);
    const fingerprint = execFileSync("ssh-keygen", ["-l", "-E", "sha256", "-f", sshFile]).toString();
    // The key blob ends with the 32-byte point the JWK carries (ssh-keygen -i cannot read Ed25519 PKCS#8).
    const blob = Buffer.from(ssh.split(" ")[1]!, "base64");
    expect(blob.subarray(-32).toString("base64url")).toBe(jwk.x);
    expect(fingerprint).toMatch(/^256 SHA256:\S+ deploy\/v1 \(ED25519\)/);
    for (const [algorithm, type] of [
      ["ECDSA-P384", "ecdsa-sha2-nistp384"],
      ["RSA-2048", "ssh-rsa"],
    ] as const) {
      const k = await createKey({ name: `ssh-${algorithm.toLowerCase()}`, algorithm });
      const line = (
        (await (await kw.api(`/api/v1/keys/${k.id}/public-key?format=ssh`)).json()) as { publicKey: string }
      ).publicKey;
      const converted = execFileSync("ssh-keygen", [
        "-i",
        "-m",
        "PKCS8",
        "-f",
        file(`${k.name}.pem`, await publicPem(k.id)),
      ])
        .toString()
        .trim();
      expect(line.split(" ")[0]).toBe(type);
      expect(line.split(" ")[1]).toBe(converted.split(" ")[1]);
    }
  });

  it("signs compact JWS that jose verifies with the public JWK, kid <id>/<version>", async () => {
    for (const algorithm of ["ECDSA-P256", "Ed25519", "RSA-2048"]) {
      const key = await createKey({ name: `jws-${algorithm.toLowerCase()}`, algorithm });
      const res = await kw.api(`/api/v1/keys/${key.id}/sign-jws`, {
        body: { payload: { sub: "build-42", iss: "ci" }, header: { typ: "JWT" } },
      });
      expect(res.status).toBe(200);
      const { jws, kid } = (await res.json()) as { jws: string; kid: string };
      expect(kid).toBe(`${key.id}/1`);
      const jwk = ((await (await kw.api(`/api/v1/keys/${key.id}/public-key?format=jwk`)).json()) as { publicKey: JWK })
        .publicKey;
      const alg = algorithm === "ECDSA-P256" ? "ES256" : algorithm === "Ed25519" ? "EdDSA" : "RS256";
      const verified = await compactVerify(jws, await importJWK(jwk, alg));
      expect(verified.protectedHeader).toEqual({ typ: "JWT", alg, kid });
      expect(JSON.parse(Buffer.from(verified.payload).toString())).toEqual({ sub: "build-42", iss: "ci" });
    }
  });

  it("decrypts RSA-OAEP made by openssl pkeyutl with the exported public key (SHA-1 OAEP on SoftHSM 2.6)", async () => {
    const key = await createKey({ name: "inbox", algorithm: "RSA-3072", purpose: "decrypt" });
    // SoftHSM 2.6 hard-codes OAEP to SHA-1: the key says so rather than failing later.
    expect(key.encryptionAlgorithm).toBe("RSA-OAEP");
    const pub = file("inbox.pem", await publicPem(key.id));
    const secret = Buffer.from("db password: correct horse battery staple");
    const ciphertext = openssl(
      [
        "pkeyutl",
        "-encrypt",
        "-pubin",
        "-inkey",
        pub,
        "-pkeyopt",
        "rsa_padding_mode:oaep",
        "-pkeyopt",
        "rsa_oaep_md:sha1",
      ],
      secret,
    );
    const res = await kw.api(`/api/v1/keys/${key.id}/decrypt`, { body: { ciphertext: b64(ciphertext) } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ plaintext: b64(secret), version: 1, algorithm: "RSA-OAEP" });

    const sha256 = await kw.api(`/api/v1/keys/${key.id}/decrypt`, {
      body: { ciphertext: b64(ciphertext), algorithm: "RSA-OAEP-256" },
    });
    expect(sha256.status).toBe(400);
    expect(await detail(sha256)).toContain("does RSA-OAEP with SHA-1 only (SoftHSM 2.6)");

    // Garbage and a ciphertext for another key get one answer: no padding oracle.
    const garbage = Buffer.alloc(384, 7);
    const tampered = Buffer.from(ciphertext);
    tampered[10]! ^= 1;
    const answers = await Promise.all(
      [garbage, tampered].map(async (c) => {
        const r = await kw.api(`/api/v1/keys/${key.id}/decrypt`, { body: { ciphertext: b64(c) } });
        return [r.status, await detail(r)];
      }),
    );
    expect(answers[0]).toEqual([400, `the ciphertext does not decrypt under version 1 of key inbox with RSA-OAEP`]);
    expect(answers[1]).toEqual(answers[0]);
    const short = await kw.api(`/api/v1/keys/${key.id}/decrypt`, { body: { ciphertext: b64("abc") } });
    expect(await detail(short)).toBe("an RSA-3072 ciphertext is 384 bytes; this one has 3");

    // A decrypt key does not sign, and a signing key does not decrypt.
    const signing = await kw.api(`/api/v1/keys/${key.id}/sign`, { body: { message: b64("x") } });
    expect(await detail(signing)).toBe("key inbox is a RSA-3072 key pair of purpose decrypt: sign needs purpose sign");
  });

  it("refuses bad input with precise problems, audited, nothing changed", async () => {
    const key = await createKey({ name: "strict", algorithm: "ECDSA-P256" });
    const ed = await createKey({ name: "strict-ed", algorithm: "Ed25519" });
    const cases: Array<[string, Record<string, unknown>, number, string]> = [
      [
        key.id,
        { message: b64("m"), algorithm: "RS256" },
        400,
        "key strict is ECDSA-P256 and signs with ES256, not RS256",
      ],
      [key.id, { digest: b64(Buffer.alloc(20)) }, 400, "ES256 signs a SHA-256 digest of 32 bytes; this digest has 20"],
      [
        key.id,
        { message: b64(Buffer.alloc(40_000)) },
        400,
        "the message is 40000 bytes; sign takes at most 32768: send its digest instead",
      ],
      [
        ed.id,
        { digest: b64(Buffer.alloc(32)) },
        400,
        "Ed25519 (pure EdDSA, RFC 8032) signs the message itself, not a digest: send message instead of digest",
      ],
      [
        key.id,
        { message: b64("m"), digest: b64(Buffer.alloc(32)) },
        400,
        "invalid request body: give exactly one of message and digest (base64)",
      ],
    ];
    for (const [id, body, status, text] of cases) {
      const res = await kw.api(`/api/v1/keys/${id}/sign`, { body });
      expect(res.status, text).toBe(status);
      expect(await detail(res)).toBe(text);
    }
    // Each refusal after the key was found is an audit event with its reason; none signed anything.
    const events = await kw.services.audit.search({ action: "key.sign", targetId: key.id, limit: 100 });
    expect(events.map((e) => e.outcome)).toEqual(["failure", "failure", "failure"]);
    expect(events.map((e) => e.details?.reason)).toEqual(
      cases.filter(([id, , , t]) => id === key.id && !t.startsWith("invalid")).map(([, , , t]) => t),
    );
    // Key pairs never leave: no distributable key pair, no distribution, no escrow.
    const distributable = await kw.api("/api/v1/keys", {
      body: { name: "leaky", algorithm: "RSA-2048", distributable: true },
    });
    expect(distributable.status).toBe(400);
    expect(await detail(distributable)).toContain(
      "cannot be distributable: its private half is generated non-extractable",
    );
    const wrongPurpose = await kw.api("/api/v1/keys", {
      body: { name: "ec-dec", algorithm: "ECDSA-P256", purpose: "decrypt" },
    });
    expect(await detail(wrongPurpose)).toContain('purpose "decrypt" does not fit ECDSA-P256');
    await expect(
      kw.services.distribution.distribute(key.id, { certificate: "x", format: "cms" }, testActor),
    ).rejects.toThrow(
      "key strict is a ECDSA-P256 key pair: its private half is generated in the token as non-extractable and never leaves it, so it cannot be distributed (share its public key instead)",
    );
    const encrypt = await kw.api(`/api/v1/keys/${key.id}/encrypt`, { body: { plaintext: b64("x") } });
    expect(await detail(encrypt)).toContain("is a ECDSA-P256 signing key pair: it cannot encrypt");
  });

  it("shares the lifecycle: rotation, states (only active signs; verify until destroyed), destruction of both halves", async () => {
    const key = await createKey({ name: "lifecycle-pair", algorithm: "ECDSA-P256" });
    const first = await sign(key.id, { message: b64(MESSAGE) });
    const rotated = (await (await kw.api(`/api/v1/keys/${key.id}/rotate`, { method: "POST" })).json()) as KeyView;
    expect(rotated.versions.map((v) => v.state)).toEqual(["active", "active"]);
    expect(rotated.versions[1]!.spkiSha256).not.toBe(rotated.versions[0]!.spkiSha256);
    const second = await sign(key.id, { message: b64(MESSAGE) });
    expect(second.json.version).toBe(2);
    // Each version's PEM verifies its own signature with openssl, not the other's.
    const v1 = file("lc-v1.pem", await publicPem(key.id, 1));
    const msg = file("lc.msg", MESSAGE);
    const sig2 = file("lc-2.sig", Buffer.from(second.json.signature, "base64"));
    expect(() => openssl(["dgst", "-sha256", "-verify", v1, "-signature", sig2, msg])).toThrow();

    await kw.api(`/api/v1/keys/${key.id}/state`, { body: { state: "deactivated", version: 1 } });
    const old = await sign(key.id, { message: b64(MESSAGE), version: 1 });
    expect(old.res.status).toBe(409);
    expect(await detail(old.res)).toBe("version 1 of key lifecycle-pair is deactivated: only an active version signs");
    const verified = await kw.api(`/api/v1/keys/${key.id}/verify`, {
      body: { message: b64(MESSAGE), signature: first.json.signature },
    });
    expect(await verified.json()).toEqual({ valid: true, version: 1, state: "deactivated", algorithm: "ES256" });
    const forged = await kw.api(`/api/v1/keys/${key.id}/verify`, {
      body: { message: b64("other"), signature: first.json.signature },
    });
    expect(await forged.json()).toMatchObject({ valid: false, version: null });

    const uri = rotated.versions[0]!.keyUri;
    const label = /object=([^;]+)/.exec(uri)![1]!;
    expect(listTokenObjects(kw.token, "privkey").some((o) => o.includes(label))).toBe(true);
    await kw.services.keys.scheduleDestroy(key.id, 1, testActor, 0);
    await kw.services.keys.runSchedule(testActor);
    expect(listTokenObjects(kw.token, "privkey").some((o) => o.includes(label))).toBe(false);
    const gone = await kw.api(`/api/v1/keys/${key.id}/verify`, {
      body: { message: b64(MESSAGE), signature: first.json.signature, version: 1 },
    });
    expect(gone.status).toBe(409);
    expect(await detail(gone)).toBe("version 1 of key lifecycle-pair is destroyed: it verifies nothing any more");
  });

  it("keyward key create/public-key/sign/verify: human and --json output, signature checked by openssl", async () => {
    const created = await keyward(kw.token, [
      "key",
      "create",
      "--name",
      "cli-release",
      "--algorithm",
      "ECDSA-P384",
      "--purpose",
      "sign",
      "--json",
    ]);
    expect(created.code, created.stderr).toBe(0);
    const key = JSON.parse(created.stdout) as KeyView;
    expect(key).toMatchObject({ algorithm: "ECDSA-P384", purpose: "sign", keyPair: true });
    const human = await keyward(kw.token, ["key", "public-key", key.id]);
    expect(human.stdout).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    const pub = file("cli.pem", human.stdout);
    const msg = file("cli.msg", MESSAGE);
    const sigFile = join(dir, "cli.sig");
    const signed = await keyward(kw.token, ["key", "sign", key.id, "--in", msg, "--out", sigFile]);
    expect(signed.code, signed.stderr).toBe(0);
    expect(signed.stdout).toContain("Signed with version 1 (ES384)");
    expect(openssl(["dgst", "-sha384", "-verify", pub, "-signature", sigFile, msg]).toString()).toContain(
      "Verified OK",
    );
    const verified = await keyward(kw.token, ["key", "verify", key.id, "--in", msg, "--signature", sigFile, "--json"]);
    expect(JSON.parse(verified.stdout)).toEqual({ valid: true, version: 1, state: "active", algorithm: "ES384" });
    const bad = await keyward(kw.token, ["key", "verify", key.id, "--in", pub, "--signature", sigFile]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain("Signature does NOT verify");
    const refused = await keyward(kw.token, [
      "key",
      "create",
      "--name",
      "x",
      "--algorithm",
      "Ed25519",
      "--purpose",
      "decrypt",
    ]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('purpose "decrypt" does not fit Ed25519');
  }, 60_000);
});
