import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { systemClock } from "../../src/clock/index.js";
import { HsmError } from "../../src/errors/index.js";
import { createLinter } from "../../src/lint/index.js";
import type { KeyType } from "../../src/pki/key-types.js";
import { SshAuthority, type SshCaKeyRecord } from "../../src/signer/index.js";
import { startKeyward, testActor } from "../helpers/keyward.js";
import { sshFingerprint, sshKeygen, sshKeygenShow } from "../helpers/ssh.js";

const dir = mkdtempSync(join(tmpdir(), "keyward-ssh-types-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("SSH CA key types", () => {
  it.each([
    ["p256", "ECDSA", "ecdsa-sha2-nistp256"],
    ["rsa3072", "RSA", "rsa-sha2-512"],
  ] as const)(
    "a %s CA key in the token signs certificates ssh-keygen verifies (%s, %s)",
    async (keyType, name, algorithm) => {
      const kw = await startKeyward({ overrides: { ssh: { caKeyType: keyType } } });
      try {
        const { created } = await kw.services.ssh.init(testActor);
        expect(created.map((k) => k.keyType)).toEqual([keyType, keyType]);
        const caLine = await (await kw.api("/ssh/user_ca.pub", { token: null })).text();
        writeFileSync(join(dir, `${keyType}-ca.pub`), caLine);
        const key = sshKeygen(dir, `user-${keyType}`, "ed25519");
        const res = await kw.api("/api/v1/ssh/certificates", {
          body: { publicKey: key.pub, type: "user", principals: ["alice"] },
        });
        expect(res.status).toBe(201);
        writeFileSync(
          join(dir, `${keyType}-cert.pub`),
          `${((await res.json()) as { certificate: string }).certificate}\n`,
        );
        expect(sshKeygenShow(join(dir, `${keyType}-cert.pub`))).toContain(
          `Signing CA: ${name} ${sshFingerprint(join(dir, `${keyType}-ca.pub`))} (using ${algorithm})`,
        );
      } finally {
        await kw.close();
      }
    },
  );

  it("falls back to the next type when the token cannot make Ed25519 keys, and stops on other token errors", async () => {
    const tried: KeyType[] = [];
    const stored: SshCaKeyRecord[] = [];
    const authority = (failure: string) =>
      new SshAuthority({
        keys: {
          async generateKeyPair(keyType) {
            tried.push(keyType);
            if (keyType === "ed25519") throw new HsmError("HSM generate key pair failed", { ckr: failure });
            return { uri: `pkcs11:object=${keyType}`, spki: Buffer.alloc(0) };
          },
          checkKeyType: () => undefined,
          publicKey: async () => Buffer.alloc(0),
          sign: async () => Buffer.alloc(0),
          destroyKeyPair: async () => undefined,
        },
        store: {
          sshCaKeys: async () => stored,
          insertSshCaKey: async (record) => {
            stored.push(record);
            return true;
          },
        },
        lint: createLinter([]),
        clock: systemClock,
      });
    const { created } = await authority("CKR_MECHANISM_INVALID").createKeys(["ed25519", "p256", "rsa3072"], testActor);
    expect(created.map((k) => [k.type, k.keyType])).toEqual([
      ["user", "p256"],
      ["host", "p256"],
    ]);
    expect(tried).toEqual(["ed25519", "p256", "ed25519", "p256"]);
    stored.length = 0;
    await expect(authority("CKR_DEVICE_ERROR").createKeys(["ed25519", "p256"], testActor)).rejects.toThrow(HsmError);
    expect(stored).toEqual([]);
  });
});
