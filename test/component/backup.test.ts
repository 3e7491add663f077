import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { keyward, serve } from "../helpers/cli.js";
import { freePort, opensslCmsDecrypt, opensslCsr, opensslOutput } from "../helpers/keyward.js";
import { createTestToken, type TestToken } from "../helpers/softhsm.js";

/**
 * The disaster drill, end to end with the CLI: a Keyward with certificates, revocations, keys and
 * custodians is backed up; its data dir and token are deleted; a fresh token is restored with two
 * of three custodians' shares, and the restored server still answers OCSP and decrypts old data.
 */
const work = mkdtempSync(join(tmpdir(), "keyward-drill-"));
const tokens: TestToken[] = [];
afterAll(() => {
  for (const t of tokens) t.cleanup();
  rmSync(work, { recursive: true, force: true });
});

function newToken(): TestToken {
  const token = createTestToken("keyward");
  tokens.push(token);
  return token;
}

describe("backup and restore", () => {
  it("survives losing the data dir and the token: restored with 2 of 3 custodians", { timeout: 180_000 }, async () => {
    const before = newToken();
    await keyward(before, ["init"]);
    const issue = async (name: string) => {
      const { csrFile } = opensslCsr(work, name);
      const out = join(work, `${name}.pem`);
      const issued = await keyward(before, [
        "cert",
        "issue",
        "--csr",
        csrFile,
        "--profile",
        "server",
        "--out",
        out,
        "--json",
      ]);
      return { serial: (JSON.parse(issued.stdout) as { serial: string }).serial, file: out };
    };
    const good = await issue("good");
    const bad = await issue("bad");
    expect((await keyward(before, ["cert", "revoke", bad.serial, "--reason", "keyCompromise"])).code).toBe(0);

    const custodians: Record<string, { keyFile: string; certFile: string }> = {};
    for (const name of ["cara", "dan", "eve"]) {
      const { csrFile, keyFile } = opensslCsr(work, name, {
        key: ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
      });
      const certFile = join(work, `${name}-cert.pem`);
      await keyward(before, ["cert", "issue", "--csr", csrFile, "--profile", "recipient", "--out", certFile]);
      expect((await keyward(before, ["escrow", "agent", "add", "--name", name, "--certificate", certFile])).code).toBe(
        0,
      );
      custodians[name] = { keyFile, certFile };
    }
    const key = JSON.parse(
      (await keyward(before, ["key", "create", "--name", "records", "--distributable", "--json"])).stdout,
    ) as {
      id: string;
    };
    await keyward(before, ["key", "create", "--name", "token-bound"]);
    const plain = join(work, "plain.txt");
    writeFileSync(plain, "written before the fire");
    const jwe = join(work, "records.jwe");
    writeFileSync(jwe, (await keyward(before, ["key", "encrypt", key.id, "--in", plain])).stdout);

    const archive = join(work, "keyward.backup");
    const created = await keyward(before, [
      "backup",
      "create",
      "--out",
      archive,
      "--custodians",
      "cara,dan,eve",
      "--threshold",
      "2",
      "--json",
    ]);
    expect(created.code).toBe(0);
    const made = JSON.parse(created.stdout) as { needsHsmBackup: Array<{ kind: string; name: string }> };
    expect(made.needsHsmBackup.map((k) => `${k.kind}:${k.name}`)).toEqual(
      expect.arrayContaining(["key:token-bound", "ca:O=Keyward, CN=Keyward Root CA"]),
    );
    const verified = await keyward(before, ["backup", "verify", archive]);
    expect(verified.stdout).toMatch(/^OK: backup of .*, 2 of 3 custodians \(cara, dan, eve\)/);
    // Format 2: the magic line first, the signed header last (it signs the payload's hash).
    const file = readFileSync(archive);
    expect(file.subarray(0, 17).toString()).toBe("keyward-backup/2\n");
    const headerLength = Number(file.readBigUInt64BE(file.length - 8));
    const header = JSON.parse(file.subarray(file.length - 8 - headerLength, file.length - 8).toString()) as {
      payload: { bytes: number };
    };
    expect(17 + header.payload.bytes + headerLength + 8).toBe(file.length);
    // One flipped byte inside the payload: verify says so, and a restore would refuse (below).
    const flipped = join(work, "flipped.backup");
    const altered = Buffer.from(file);
    altered[17 + Math.floor(header.payload.bytes / 2)]! ^= 1;
    writeFileSync(flipped, altered);
    const flippedCheck = await keyward(before, ["backup", "verify", flipped]);
    expect(flippedCheck.code).toBe(1);
    expect(flippedCheck.stdout).toContain("the payload does not match its recorded SHA-256");
    // An archive of the earlier format is named as such, not called garbage.
    const older = join(work, "older.backup");
    writeFileSync(older, gzipSync(JSON.stringify({ format: "keyward-backup/1" })));
    const olderCheck = await keyward(before, ["backup", "verify", older]);
    expect(olderCheck.code).toBe(1);
    expect(olderCheck.stderr).toContain("this archive is in format keyward-backup/1");
    // A backup that cannot be written leaves nothing behind and says where it could not write.
    const nowhere = join(work, "missing-dir", "keyward.backup");
    const unwritable = await keyward(before, [
      "backup",
      "create",
      "--out",
      nowhere,
      "--custodians",
      "cara,dan",
      "--threshold",
      "2",
    ]);
    expect(unwritable.code).toBe(1);
    expect(unwritable.stderr).toContain(`cannot write the archive ${nowhere}: ENOENT`);
    expect(readdirSync(work).filter((f) => f.endsWith(".partial"))).toEqual([]);
    expect(existsSync(nowhere)).toBe(false);

    // Another deployment's Keyward recognises the archive is not its own.
    const stranger = newToken();
    await keyward(stranger, ["init"]);
    const foreign = await keyward(stranger, ["backup", "verify", archive]);
    expect(foreign.code).toBe(1);
    expect(foreign.stdout).toContain("the archive is from another deployment");

    // The fire: data dir and token are gone.
    before.cleanup();
    const after = newToken();

    // Custodians open their shares offline: cara with keyward, eve with openssl.
    const shareFile = async (name: string, withOpenssl: boolean) => {
      const sealed = join(work, `${name}.sealed`);
      expect(
        (await keyward(after, ["backup", "share", "export", archive, "--custodian", name, "--out", sealed])).code,
      ).toBe(0);
      const out = join(work, `${name}.share`);
      if (withOpenssl) {
        const raw = opensslCmsDecrypt(sealed, custodians[name]!.keyFile, custodians[name]!.certFile);
        writeFileSync(out, raw.toString("base64"));
      } else {
        const opened = await keyward(after, [
          "escrow",
          "share",
          "decrypt",
          "--in",
          sealed,
          "--key",
          custodians[name]!.keyFile,
          "--certificate",
          custodians[name]!.certFile,
          "--out",
          out,
        ]);
        expect(opened.code).toBe(0);
      }
      return out;
    };
    const cara = await shareFile("cara", false);
    const eve = await shareFile("eve", true);

    // Bad input changes nothing: a share under the wrong name, one share only, a damaged archive.
    const wrong = await keyward(after, [
      "backup",
      "restore",
      archive,
      "--share",
      `dan=${eve}`,
      "--share",
      `cara=${cara}`,
    ]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("the share given for dan is not dan's share of this archive");
    const one = await keyward(after, ["backup", "restore", archive, "--share", `cara=${cara}`]);
    expect(one.stderr).toContain("1 share(s) given; this archive needs 2");
    const flippedRestore = await keyward(after, [
      "backup",
      "restore",
      flipped,
      "--share",
      `cara=${cara}`,
      "--share",
      `eve=${eve}`,
    ]);
    expect(flippedRestore.code).toBe(1);
    expect(flippedRestore.stderr).toContain("the archive is damaged: the payload does not match its recorded SHA-256");
    const damaged = join(work, "damaged.backup");
    const bytes = readFileSync(archive);
    writeFileSync(damaged, bytes.subarray(0, bytes.length - 100));
    const broken = await keyward(after, ["backup", "verify", damaged]);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain("not a Keyward backup archive");
    expect(JSON.parse((await keyward(after, ["ca", "list", "--json"])).stdout)).toEqual({ items: [] });

    const restored = await keyward(after, [
      "backup",
      "restore",
      archive,
      "--share",
      `cara=${cara}`,
      "--share",
      `eve=${eve}`,
    ]);
    expect(restored.code, restored.stderr).toBe(0);
    // Said before the restore began: which keys this deployment will not have.
    expect(restored.stderr).toMatch(
      /^warning: these keys will not be in token "keyward" after this restore \(the archive cannot hold them\)/,
    );
    expect(restored.stderr).toContain("ca O=Keyward, CN=Keyward Intermediate CA");
    expect(restored.stderr).toContain("key token-bound v1");
    expect(restored.stdout).toMatch(/Restored backup .*: \d+ rows, 1 key versions unwrapped into the token\./);

    expect((await keyward(after, ["audit", "verify"])).stdout).toMatch(/^OK: \d+ events/m);
    expect((await keyward(after, ["key", "decrypt", key.id, "--in", jwe])).stdout).toBe("written before the fire");

    const port = await freePort();
    const server = await serve(after, port);
    try {
      const issuer = join(work, "issuer.pem");
      writeFileSync(issuer, await (await fetch(`${server.url}/ca/intermediate.pem`)).text());
      const status = (cert: string) =>
        opensslOutput(["ocsp", "-issuer", issuer, "-cert", cert, "-url", `${server.url}/ocsp`, "-noverify"]);
      expect(status(bad.file)).toContain(": revoked");
      expect(status(good.file)).toContain(": good");
    } finally {
      await server.stop();
    }
  });
});
