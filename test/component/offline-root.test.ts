import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { totpCode, base32Decode } from "../../src/access/totp.js";
import { keyward, serve } from "../helpers/cli.js";
import { freePort, openssl, opensslCsr, opensslOutput } from "../helpers/keyward.js";
import { createTestToken, listTokenObjects, type TestToken } from "../helpers/softhsm.js";

const ROOT_LABEL = "offline-root";
const ROOT_PIN = "root-pin-7305";

/**
 * The offline-root ceremony end to end, with the built CLI and server as operators run them: the
 * root key lives on a second SoftHSM2 token whose directory is moved out of the token store
 * ("detached"), so the server's module really cannot see it.
 */
describe("offline root ceremony", () => {
  let token: TestToken;
  let rootTokenDir: string;
  let parked: string;
  let port: number;
  const rootEnv = { KEYWARD_HSM_ROOT_PIN: ROOT_PIN };
  const file = (name: string) => join(token.dir, name);
  /** openssl's verdict on a DER CRL file, checked against the issuer's certificate file. */
  const crlVerify = (crl: string, issuer: string) =>
    opensslOutput(["crl", "-inform", "DER", "-in", file(crl), "-CAfile", file(issuer), "-noout", "-verify"]);
  const attached = () => readdirSync(join(token.dir, "tokens")).includes(rootTokenDir);
  const detach = () => renameSync(join(token.dir, "tokens", rootTokenDir), join(parked, rootTokenDir));
  const attach = () => renameSync(join(parked, rootTokenDir), join(token.dir, "tokens", rootTokenDir));
  const slots = () =>
    execFileSync("pkcs11-tool", ["--module", token.modulePath, "--list-token-slots"], {
      env: { ...process.env, SOFTHSM2_CONF: token.conf },
      encoding: "utf8",
    });
  const json = async (args: string[], env: Record<string, string> = {}) => {
    const r = await keyward(token, ["--json", ...args], env);
    expect(r.code, `${args.join(" ")}: ${r.stdout}${r.stderr}`).toBe(0);
    return JSON.parse(r.stdout);
  };

  beforeAll(async () => {
    token = createTestToken("keyward");
    const before = readdirSync(join(token.dir, "tokens"));
    execFileSync(
      "softhsm2-util",
      ["--init-token", "--free", "--label", ROOT_LABEL, "--pin", ROOT_PIN, "--so-pin", "root-so-pin-1"],
      { env: { ...process.env, SOFTHSM2_CONF: token.conf }, stdio: "pipe" },
    );
    rootTokenDir = readdirSync(join(token.dir, "tokens")).find((d) => !before.includes(d))!;
    parked = join(token.dir, "safe");
    mkdirSync(parked);
    // Certificates carry URLs with the port, so it is fixed before init.
    port = await freePort();
    writeFileSync(file("keyward.yaml"), `listen: 127.0.0.1:${port}\nceremony:\n  minWitnesses: 1\n`);
  });
  afterAll(() => token?.cleanup());

  it("creates the root key on the root token only, and the intermediate on the online token", async () => {
    const init = await json(["init", "--root-token", ROOT_LABEL], rootEnv);
    expect(init.initialized).toBe(true);
    const [root, intermediate] = init.cas;
    expect(root.keyUri).toContain(`token=${ROOT_LABEL}`);
    expect(intermediate.keyUri).toContain("token=keyward;");
    // pkcs11-tool (OpenSC) sees the root key on the root token, never on the online one.
    const rootToken = { ...token, tokenLabel: ROOT_LABEL, pin: ROOT_PIN };
    const onRoot = listTokenObjects(rootToken, "privkey");
    expect(onRoot.some((o) => o.includes("root-ca"))).toBe(true);
    expect(onRoot.join("\n")).toMatch(/never extractable/);
    expect(listTokenObjects(token, "privkey").some((o) => o.includes("root-ca"))).toBe(false);
    writeFileSync(file("root.pem"), root.certificate);
    writeFileSync(file("intermediate.pem"), intermediate.certificate);
  });

  it("serves issuance, OCSP, intermediate CRLs and ACME without the root token attached", async () => {
    detach();
    expect(attached()).toBe(false);
    expect(slots()).not.toContain(ROOT_LABEL);
    const server = await serve(token, port);
    try {
      expect(await (await fetch(`${server.url}/ready`)).json()).toMatchObject({ ready: true });
      const admin = (await json(["token", "create", "--role", "admin"])).token as string;
      const { csr } = opensslCsr(token.dir, "www");
      const issued = await fetch(`${server.url}/api/v1/certificates`, {
        method: "POST",
        headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
        body: JSON.stringify({ csr, profile: "server" }),
      });
      expect(issued.status).toBe(201);
      writeFileSync(file("www.pem"), (await issued.json()).certificate);
      expect(
        openssl(["verify", "-CAfile", file("root.pem"), "-untrusted", file("intermediate.pem"), file("www.pem")]),
      ).toContain("www.pem: OK");
      const ocsp = opensslOutput([
        "ocsp",
        ...["-issuer", file("intermediate.pem"), "-cert", file("www.pem"), "-url", `${server.url}/ocsp`],
        ...["-CAfile", file("root.pem"), "-verify_other", file("intermediate.pem")],
      ]);
      expect(ocsp).toContain("Response verify OK");
      expect(ocsp).toContain("www.pem: good");
      writeFileSync(
        file("int.crl"),
        Buffer.from(await (await fetch(`${server.url}/crl/intermediate.crl`)).arrayBuffer()),
      );
      expect(crlVerify("int.crl", "intermediate.pem")).toContain("verify OK");
      // The root CRL signed at init is served as is, valid until the next ceremony.
      writeFileSync(file("root0.crl"), Buffer.from(await (await fetch(`${server.url}/crl/root.crl`)).arrayBuffer()));
      expect(crlVerify("root0.crl", "root.pem")).toContain("verify OK");
      expect((await fetch(`${server.url}/acme/directory`)).status).toBe(200);
      // Creating an intermediate over the API (a person, with step-up) is refused with a problem
      // naming the missing token, and creates nothing.
      const olga = await keyward(
        token,
        ["--json", "user", "create", "--name", "olga", "--role", "admin", "--password-stdin"],
        {},
        "a long admin passphrase\n",
      );
      const secret = base32Decode(new URL(JSON.parse(olga.stdout).otpauthUri).searchParams.get("secret")!);
      // The verifier accepts the previous step too: login with it, step up with the current one.
      // Not within seconds of a step's end: the server would see the code two steps old.
      const leftInStep = 30_000 - (Date.now() % 30_000);
      if (leftInStep < 5_000) await new Promise((resume) => setTimeout(resume, leftInStep + 100));
      const login = await fetch(`${server.url}/api/v1/auth/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          name: "olga",
          password: "a long admin passphrase",
          otp: totpCode(secret, new Date(Date.now() - 30_000)),
        }),
      });
      expect(login.status).toBe(200);
      const session = (await login.json()).token as string;
      const create = await fetch(`${server.url}/api/v1/cas`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${session}`,
          "content-type": "application/json",
          "x-keyward-otp": totpCode(secret, new Date()),
        },
        body: JSON.stringify({ id: "api-int", commonName: "API Intermediate" }),
      });
      expect(create.status).toBe(409);
      expect(create.headers.get("content-type")).toContain("application/problem+json");
      expect((await create.json()).detail).toContain(`the offline token "${ROOT_LABEL}" is not attached`);
      const ids = (await json(["ca", "list"])).items.map((c: { id: string }) => c.id);
      expect(ids).not.toContain("api-int");
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  it("refuses root operations while the root token is detached, naming the token, and changes nothing", async () => {
    for (const args of [
      ["crl", "root"],
      ["ca", "sign-intermediate", "--id", "int2"],
    ]) {
      const r = await keyward(token, args, rootEnv);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`the offline token "${ROOT_LABEL}" is not attached`);
    }
    const cas = (await json(["ca", "list"])).items.map((c: { id: string }) => c.id);
    expect(cas).toEqual(["root", "intermediate"]);
    expect(listTokenObjects(token, "privkey").some((o) => o.includes("int2-ca"))).toBe(false);
  });

  it("signs a new intermediate and the root CRL only with the root token attached and a witness", async () => {
    attach();
    // ceremony.minWitnesses: 1, checked before any key is generated.
    const unwitnessed = await keyward(token, ["ca", "sign-intermediate", "--id", "int2"], rootEnv);
    expect(unwitnessed.code).toBe(1);
    expect(unwitnessed.stderr).toContain("needs 1 witness(es)");
    const alice = await keyward(
      token,
      ["--json", "user", "create", "--name", "alice", "--role", "ca-operator", "--password-stdin"],
      {},
      "correct horse battery staple\n",
    );
    expect(alice.code).toBe(0);
    const secret = base32Decode(new URL(JSON.parse(alice.stdout).otpauthUri).searchParams.get("secret")!);
    // Each code is accepted once; the verifier's window also takes the next step's code.
    const otp = totpCode(secret, new Date());
    const nextOtp = () => totpCode(secret, new Date(Date.now() + 30_000));
    // The ceremony command is the only way to a new intermediate while the root is offline.
    const plain = await keyward(token, ["ca", "create-intermediate", "--id", "int9"], rootEnv);
    expect(plain.code).toBe(1);
    expect(plain.stderr).toContain(`the root key is on the offline token "${ROOT_LABEL}"`);
    const signed = await json(
      [
        "ca",
        "sign-intermediate",
        "--id",
        "int2",
        "--default",
        "--witness",
        `alice:${otp}`,
        "--out",
        file("int2-chain.pem"),
      ],
      rootEnv,
    );
    expect(signed).toMatchObject({ id: "int2", parent: "root", default: true, witnesses: ["alice"] });
    expect(signed.keyUri).toContain("token=keyward;");
    // A quorum configured for ca.create also binds the ceremony: its count and its role.
    writeFileSync(
      file("keyward.yaml"),
      `listen: 127.0.0.1:${port}\nceremony:\n  minWitnesses: 1\naccess:\n  quorum:\n    ca.create: { approvals: 1, role: admin }\n`,
    );
    const wrongRole = await keyward(
      token,
      ["ca", "sign-intermediate", "--id", "int3", "--witness", "alice:000000"],
      rootEnv,
    );
    expect(wrongRole.code).toBe(1);
    expect(wrongRole.stderr).toContain("has role ca-operator; ca.create needs witnesses with role admin");
    writeFileSync(file("keyward.yaml"), `listen: 127.0.0.1:${port}\nceremony:\n  minWitnesses: 1\n`);
    // The old intermediate is retired (e.g. suspected compromise): it stops issuing at once…
    // (a revocation at a ceremony needs its witness too, before anything is recorded)
    const unwitnessedRevoke = await keyward(token, ["ca", "revoke", "--id", "intermediate"], rootEnv);
    expect(unwitnessedRevoke.stderr).toContain("needs 1 witness(es)");
    expect(
      (await json(["ca", "list"])).items.find((c: { id: string }) => c.id === "intermediate").revokedAt,
    ).toBeNull();
    const revoked = await json(
      ["ca", "revoke", "--id", "intermediate", "--reason", "superseded", "--witness", `alice:${nextOtp()}`],
      rootEnv,
    );
    expect(revoked.crlNumber).toBeGreaterThan(1);
    // …and the root CRL listing it is signed in the same ceremony.
    const bob = await keyward(
      token,
      ["--json", "user", "create", "--name", "bob", "--role", "admin", "--password-stdin"],
      {},
      "another long passphrase\n",
    );
    const bobSecret = base32Decode(new URL(JSON.parse(bob.stdout).otpauthUri).searchParams.get("secret")!);
    const crl = await json(
      ["crl", "root", "--out", file("root1.crl"), "--witness", `bob:${totpCode(bobSecret, new Date())}`],
      rootEnv,
    );
    const ceremonies = await json(["audit", "list", "--action", "ceremony.sign-root-crl"]);
    expect(ceremonies.items.at(-1).details).toMatchObject({ witnesses: ["bob"], number: crl.number });
    expect(crl.number).toBeGreaterThan(1);
    detach();
    expect(slots()).not.toContain(ROOT_LABEL);

    // The new chain, checked by openssl: leaf → int2 → root.
    const { csrFile } = opensslCsr(token.dir, "api");
    await json(["cert", "issue", "--csr", csrFile, "--out", file("api.pem")]);
    writeFileSync(file("int2.pem"), signed.certificate);
    expect(openssl(["verify", "-CAfile", file("root.pem"), "-untrusted", file("int2.pem"), file("api.pem")])).toContain(
      "api.pem: OK",
    );
    expect(crlVerify("root1.crl", "root.pem")).toContain("verify OK");
    // Every certificate of the new chain, the root included, is in the scope of its issuer's CRL.
    await json(["crl", "int2", "--out", file("int2.crl")]);
    const pem = (name: string) => openssl(["crl", "-inform", "DER", "-in", file(name)]);
    writeFileSync(file("root1.crl.pem"), pem("root1.crl"));
    writeFileSync(file("int2.crl.pem"), pem("int2.crl"));
    expect(
      opensslOutput([
        "verify",
        "-crl_check_all",
        ...["-CAfile", file("root.pem"), "-untrusted", file("int2.pem")],
        ...["-CRLfile", file("root1.crl.pem"), "-CRLfile", file("int2.crl.pem")],
        file("api.pem"),
      ]),
    ).toContain("api.pem: OK");
    // The root CRL revokes the old intermediate: openssl now refuses the old chain with CRL checks.
    const serial = openssl(["x509", "-in", file("intermediate.pem"), "-noout", "-serial"])
      .trim()
      .split("=")[1]!;
    expect(openssl(["crl", "-inform", "DER", "-in", file("root1.crl"), "-noout", "-text"]).toUpperCase()).toContain(
      serial,
    );
    writeFileSync(file("crls.pem"), pem("root1.crl") + pem("int.crl"));
    expect(
      opensslOutput([
        "verify",
        "-crl_check_all",
        ...["-CRLfile", file("crls.pem"), "-CAfile", file("root.pem"), "-untrusted", file("intermediate.pem")],
        file("www.pem"),
      ]),
    ).toContain("certificate revoked");
    // The chain file written at the ceremony holds the new intermediate, then the root.
    expect(readFileSync(file("int2-chain.pem"), "utf8").match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    // A dozen CLI runs, each opening the token: minutes on a loaded machine.
  }, 240_000);

  it("an intermediate revoked with the root offline: the root CRL is due, warned on health and the overview until the ceremony", async () => {
    // Issue 22: the revocation is recorded at once; the root CRL listing it waits for the root key.
    expect(attached()).toBe(false);
    const revoked = await json(["ca", "revoke", "--id", "int2", "--reason", "superseded"], rootEnv);
    expect(revoked.crlNumber).toBeNull();
    type Health = { ready: boolean; components: Array<{ component: string; status: string; detail: string }> };
    const rootCrl = (health: Health) => health.components.find((c) => c.component === "crl:root")!;
    const ceremony = "sign it at the next root ceremony (keyward crl root)";
    // At once, without the two minutes a CRL with an online key gets: nothing signs it before a ceremony.
    const cli = (await json(["health"])) as Health;
    expect(rootCrl(cli).status).toBe("warning");
    expect(rootCrl(cli).detail).toMatch(/lacks revocations made since \d{4}-/);
    expect(rootCrl(cli).detail).toContain(ceremony);
    const server = await serve(token, port);
    try {
      const admin = (await json(["token", "create", "--role", "admin"])).token as string;
      const get = async (path: string) =>
        (await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${admin}` } })).json();
      const health = (await get("/api/v1/health")) as Health;
      expect(health.ready).toBe(true);
      expect(rootCrl(health)).toMatchObject({ status: "warning", detail: expect.stringContaining(ceremony) });
      const overview = await get("/api/v1/overview");
      expect(overview.warnings).toContainEqual(
        expect.objectContaining({
          code: "crl-due",
          message: expect.stringContaining("the root CRL lacks revocations"),
        }),
      );
      // Publicly ok/failing only: a CRL waiting for a ceremony does not take the instance out of service.
      const ready = await fetch(`${server.url}/ready`);
      expect(ready.status).toBe(200);
      expect((await ready.json()).components["crl:root"]).toBe("ok");
    } finally {
      expect(await server.stop()).toBe(0);
    }

    // The ceremony signs the root CRL with the revocation: the warning is gone.
    attach();
    const dora = await keyward(
      token,
      ["--json", "user", "create", "--name", "dora", "--role", "admin", "--password-stdin"],
      {},
      "dora's long passphrase\n",
    );
    const doraSecret = base32Decode(new URL(JSON.parse(dora.stdout).otpauthUri).searchParams.get("secret")!);
    const crl = await json(
      ["crl", "root", "--out", file("root2.crl"), "--witness", `dora:${totpCode(doraSecret, new Date())}`],
      rootEnv,
    );
    detach();
    const int2Serial = openssl(["x509", "-in", file("int2.pem"), "-noout", "-serial"])
      .trim()
      .split("=")[1]!;
    expect(openssl(["crl", "-inform", "DER", "-in", file("root2.crl"), "-noout", "-text"]).toUpperCase()).toContain(
      int2Serial,
    );
    const after = rootCrl((await json(["health"])) as Health);
    expect(after.status).toBe("ok");
    expect(after.detail).toContain(`CRL number ${crl.number} fresh until`);
    expect(after.detail).not.toContain("lacks");
  }, 240_000);
});
