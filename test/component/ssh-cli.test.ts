import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { compose } from "../../src/compose.js";
import { loadConfig } from "../../src/config/index.js";
import { keyward } from "../helpers/cli.js";
import { testActor, testEnv } from "../helpers/keyward.js";
import { createTestToken, listTokenObjects, type TestToken } from "../helpers/softhsm.js";
import { krlQuery, sshFingerprint, sshKeygen, sshKeygenShow } from "../helpers/ssh.js";

const tokens: TestToken[] = [];
afterAll(() => {
  for (const t of tokens) t.cleanup();
});

// Each command opens the token and the database (seconds on two busy cores): a test runs several.
describe("keyward ssh", { timeout: 150_000 }, () => {
  it("ssh init adds the SSH CA keys to a deployment made before them; init makes them for a new one", async () => {
    // A deployment whose CA was created without SSH keys (as every one before this release).
    const old = createTestToken("keyward");
    tokens.push(old);
    const services = await compose(loadConfig({ env: testEnv(old) }));
    await services.ca.initialize(structuredClone(services.config.ca), testActor);
    await services.close();
    expect((await keyward(old, ["ssh", "ca-key", "--type", "user"])).stderr).toMatch(
      /no SSH user CA key exists yet; create it with `keyward ssh init`/,
    );

    const added = await keyward(old, ["ssh", "init", "--json"]);
    expect(added.code, added.stderr).toBe(0);
    expect(JSON.parse(added.stdout).created).toEqual([
      { type: "user", keyType: "ed25519" },
      { type: "host", keyType: "ed25519" },
    ]);
    const again = await keyward(old, ["ssh", "init"]);
    expect(again.stdout).toMatch(/SSH CA keys already exist .*nothing changed/);
    const labels = listTokenObjects(old, "privkey").map((k) => /label:\s+(\S+)/.exec(k)?.[1]);
    expect(labels.filter((l) => l?.startsWith("ssh-")).sort()).toEqual(["ssh-host-ca", "ssh-user-ca"]);
    for (const key of listTokenObjects(old, "privkey")) expect(key).toMatch(/never extractable/);

    const fresh = createTestToken("keyward");
    tokens.push(fresh);
    const init = await keyward(fresh, ["init", "--json"]);
    expect(JSON.parse(init.stdout).ssh).toEqual([
      { type: "user", keyType: "ed25519" },
      { type: "host", keyType: "ed25519" },
    ]);
  });

  it("ca-key, sign, list, show, revoke and krl: what ssh-keygen reads", async () => {
    const token = createTestToken("keyward");
    tokens.push(token);
    expect((await keyward(token, ["init"])).code).toBe(0);
    const caKey = await keyward(token, ["ssh", "ca-key", "--type", "user"]);
    expect(caKey.stdout).toMatch(/^ssh-ed25519 AAAA\S+ keyward-user-ca\n$/);
    writeFileSync(join(token.dir, "user_ca.pub"), caKey.stdout);

    const key = sshKeygen(token.dir, "ops", "ed25519");
    const certFile = join(token.dir, "ops-cert.pub");
    const signed = await keyward(token, [
      "ssh",
      "sign",
      "--type",
      "user",
      "--public-key",
      `${key.path}.pub`,
      "--principals",
      "ops,root",
      "--validity-hours",
      "2",
      "--force-command",
      "uptime",
      "--out",
      certFile,
    ]);
    expect(signed.code, signed.stderr).toBe(0);
    expect(signed.stderr).toMatch(/Signed user certificate serial (\d+)/);
    const serial = /serial (\d+)/.exec(signed.stderr)![1]!;
    const shown = sshKeygenShow(certFile);
    expect(shown).toContain(`Serial: ${serial}`);
    expect(shown).toMatch(/Principals: \n\s+ops\n\s+root\n/);
    expect(shown).toContain("force-command uptime");
    expect(shown).toContain(`Signing CA: ED25519 ${sshFingerprint(join(token.dir, "user_ca.pub"))}`);

    const list = JSON.parse((await keyward(token, ["ssh", "list", "--json", "--principal", "root"])).stdout);
    expect(list.items.map((i: { serial: string }) => i.serial)).toEqual([serial]);
    const show = JSON.parse((await keyward(token, ["ssh", "show", serial, "--json"])).stdout);
    expect(show).toMatchObject({
      status: "valid",
      principals: ["ops", "root"],
      requestedBy: expect.stringMatching(/^cli:/),
    });
    expect(`${show.certificate}\n`).toBe(readFileSync(certFile, "utf8"));

    const weak = sshKeygen(token.dir, "weak", "rsa", 1024);
    const refused = await keyward(token, [
      "ssh",
      "sign",
      "--type",
      "user",
      "--public-key",
      `${weak.path}.pub`,
      "--principals",
      "ops",
    ]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/RSA keys of 1024 bits are refused/);

    const revoked = await keyward(token, ["ssh", "revoke", serial, "--reason", "superseded"]);
    expect(revoked.code, revoked.stderr).toBe(0);
    const krl = join(token.dir, "revoked.krl");
    expect((await keyward(token, ["ssh", "krl", "--out", krl])).code).toBe(0);
    expect(krlQuery(krl, certFile).revoked).toBe(true);
    expect(execFileSync("ssh-keygen", ["-Q", "-l", "-f", krl], { encoding: "utf8" })).toContain(`serial: ${serial}`);
    const twice = await keyward(token, ["ssh", "revoke", serial]);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toMatch(/already revoked/);
  });
});
