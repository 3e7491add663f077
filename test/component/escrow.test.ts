import { createPrivateKey } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Actor } from "../../src/audit/index.js";
import { openEnvelope } from "../../src/pki/cms.js";
import { pemBlocks } from "../../src/pki/pem.js";
import {
  opensslCmsDecrypt,
  opensslCsr,
  startKeyward,
  testActor,
  type TestKeyward,
  writeFile,
} from "../helpers/keyward.js";
import { listTokenObjects } from "../helpers/softhsm.js";

let kw: TestKeyward;
let dir: string;
const operator: Actor = { id: "cli:ops", name: "cli:ops", kind: "cli" };

interface Agent {
  name: string;
  keyFile: string;
  certFile: string;
}
const agents: Agent[] = [];

beforeAll(async () => {
  kw = await startKeyward();
  dir = mkdtempSync(join(tmpdir(), "keyward-escrow-"));
  for (const [name, key] of [
    ["alice", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]],
    ["bob", ["-newkey", "rsa:2048"]],
    ["carol", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"]],
  ] as const) {
    const { csr, keyFile } = opensslCsr(dir, name, { key: [...key] });
    const res = await kw.api("/api/v1/certificates", { body: { csr, profile: "recipient" } });
    const { certificate } = (await res.json()) as { certificate: string };
    await kw.services.escrow.addAgent({ name, certificate }, testActor);
    agents.push({ name, keyFile, certFile: writeFile(dir, `${name}.pem`, certificate) });
  }
});

afterAll(async () => {
  await kw?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** What an agent does offline: open its CMS share with its own private key. */
function decryptShare(agent: Agent, cms: Buffer, withOpenssl: boolean): Buffer {
  if (withOpenssl) {
    const file = writeFile(dir, `${agent.name}-share.cms`, cms);
    return opensslCmsDecrypt(file, agent.keyFile, agent.certFile);
  }
  const der = pemBlocks(readFileSync(agent.certFile, "utf8"), "CERTIFICATE")[0]!;
  return openEnvelope(cms, createPrivateKey(readFileSync(agent.keyFile)), der);
}

describe("key escrow, 2 of 3 agents", () => {
  it("recovers a version whose token object was lost, with two agents' shares; one share or a tampered one does not", async () => {
    const { escrow, keys, keyCrypto, hsm } = kw.services;
    const key = await keys.create({ name: "vault", algorithm: "AES-256", distributable: true }, testActor);
    const set = await escrow.setPolicy({ keyId: key.id, agents: ["alice", "bob", "carol"], threshold: 2 }, testActor);
    expect(set.escrowed).toBe(1);
    const { ciphertext } = await keyCrypto.encrypt(key.id, Buffer.from("before the disaster"), testActor);

    const escrowed = await escrow.escrowOf(key.id, 1);
    expect(escrowed.threshold).toBe(2);
    const all = await escrow.agents();
    const cmsOf = (name: string) =>
      escrowed.shares.find((s) => s.agentId === all.find((a) => a.name === name)!.id)!.cms;
    const aliceShare = decryptShare(agents[0]!, cmsOf("alice"), true);
    const bobShare = decryptShare(agents[1]!, cmsOf("bob"), false);
    expect(aliceShare.equals(bobShare)).toBe(false);

    // The token copy is lost.
    const lostUri = key.versions[0]!.keyUri;
    await hsm.secretKeys.destroySecretKey(lostUri);
    expect(listTokenObjects(kw.token, "secrkey").some((o) => o.includes("kms-vault-v1"))).toBe(false);
    await expect(keyCrypto.decrypt(key.id, ciphertext, testActor)).rejects.toThrow(
      /^key missing: pkcs11:.*object=kms-vault-v1/,
    );

    const recovery = await escrow.openRecovery(key.id, 1, testActor);
    const one = await escrow.submitShare(recovery.id, "alice", aliceShare, operator);
    expect(one).toMatchObject({ submitted: 1, threshold: 2, recovered: false });
    await expect(keyCrypto.decrypt(key.id, ciphertext, testActor)).rejects.toThrow();

    const tampered = Buffer.from(bobShare);
    tampered[5]! ^= 0x01;
    await expect(escrow.submitShare(recovery.id, "bob", tampered, operator)).rejects.toThrow(
      `this is not agent bob's share of version 1 of key ${key.id}: it is wrong or altered`,
    );
    await expect(escrow.submitShare(recovery.id, "carol", bobShare, operator)).rejects.toThrow(
      /not agent carol's share/,
    );
    await expect(escrow.submitShare(recovery.id, "bob", bobShare, testActor)).rejects.toThrow(
      "only the local operator may submit agent bob's share",
    );

    const two = await escrow.submitShare(recovery.id, "bob", bobShare, operator);
    expect(two).toMatchObject({ submitted: 2, recovered: true });
    expect(two.recovery.status).toBe("completed");
    expect(two.recovery.submitted).toEqual([]);
    const { plaintext } = await keyCrypto.decrypt(key.id, ciphertext, testActor);
    expect(plaintext.toString()).toBe("before the disaster");
    const recovered = await keys.get(key.id);
    expect(recovered.versions[0]!.keyUri).not.toBe(lostUri);
    expect(await hsm.secretKeys.secretKeyAttributes(recovered.versions[0]!.keyUri)).toMatchObject({
      sensitive: true,
      token: true,
    });

    const actions = (await kw.services.audit.search({ targetId: key.id, limit: 50 })).map(
      (e) => `${e.action}:${e.outcome}`,
    );
    expect(actions).toEqual(
      expect.arrayContaining([
        "escrow.create:success",
        "escrow.recovery.open:success",
        "escrow.share.submit:failure",
        "escrow.share.submit:success",
        "key.recovered:success",
        "escrow.recovery.complete:success",
      ]),
    );
    await expect(escrow.submitShare(recovery.id, "carol", aliceShare, operator)).rejects.toThrow("is completed");
  });

  it("escrows new versions and tagged keys automatically, and refuses what cannot be escrowed", async () => {
    const { escrow, keys } = kw.services;
    const key = await keys.create({ name: "rotating", algorithm: "AES-256", distributable: true }, testActor);
    await escrow.setPolicy({ keyId: key.id, agents: ["alice", "carol"], threshold: 2 }, testActor);
    await keys.rotate(key.id, testActor);
    expect((await escrow.escrowOf(key.id, 2)).shares).toHaveLength(2);

    await escrow.setPolicy({ tag: "finance", agents: ["alice", "bob", "carol"], threshold: 3 }, testActor);
    const tagged = await keys.create(
      { name: "ledger", algorithm: "AES-256", distributable: true, tags: ["finance"] },
      testActor,
    );
    expect((await escrow.escrowOf(tagged.id, 1)).threshold).toBe(3);

    const kept = await keys.create({ name: "inside-only", algorithm: "AES-128" }, testActor);
    await expect(
      escrow.setPolicy({ keyId: kept.id, agents: ["alice", "bob"], threshold: 2 }, testActor),
    ).rejects.toThrow("key inside-only is not distributable");
    await expect(
      escrow.setPolicy({ keyId: key.id, agents: ["alice", "bob"], threshold: 3 }, testActor),
    ).rejects.toThrow("the threshold must be between 2 and the number of agents (2)");
    await expect(
      escrow.setPolicy({ keyId: key.id, agents: ["alice", "zed"], threshold: 2 }, testActor),
    ).rejects.toThrow('no escrow agent "zed"');
    await expect(escrow.openRecovery(kept.id, 1, testActor)).rejects.toThrow("is not escrowed");
  });
});
