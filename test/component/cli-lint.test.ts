import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keyward } from "../helpers/cli.js";
import { openssl, opensslCsr, startKeyward, type TestKeyward, testActor, writeFile } from "../helpers/keyward.js";
import { sshKeygen } from "../helpers/ssh.js";

/** `keyward lint FILE` on what openssl makes wrong and on what Keyward issues. */
describe("keyward lint", () => {
  let k: TestKeyward;
  beforeAll(async () => {
    k = await startKeyward();
  });
  afterAll(() => k?.close());

  const lint = async (file: string, ...args: string[]) => keyward(k.token, ["lint", file, ...args]);

  it("finds the errors in a certificate openssl made against the rules, and exits 1", async () => {
    // A self-signed TLS leaf: 800 days, a 1-octet serial, keyCertSign without cA, no SAN.
    const config = writeFile(
      k.dir,
      "bad.cnf",
      "[req]\ndistinguished_name=dn\n[dn]\n[v3]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyCertSign\nextendedKeyUsage=serverAuth\n",
    );
    openssl(
      ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        .concat(["-keyout", `${k.dir}/bad.key`, "-subj", "/CN=bad.example.com", "-days", "800", "-set_serial", "7"])
        .concat(["-config", config, "-extensions", "v3", "-out", `${k.dir}/bad.pem`]),
    );
    const human = await lint(`${k.dir}/bad.pem`);
    expect(human.code).toBe(1);
    expect(human.stdout).toContain("certificate");
    expect(human.stdout).toMatch(/error +rfc5280_4_2_1_3_ca_key_cert_sign: keyCertSign is asserted but cA is not TRUE/);
    const json = JSON.parse((await lint(`${k.dir}/bad.pem`, "--json")).stdout);
    expect(json.type).toBe("certificate");
    expect(json.findings.map((f: { rule: string }) => f.rule)).toEqual(
      expect.arrayContaining([
        "br_7_1_serial_entropy",
        "br_6_3_2_subscriber_validity_398_days",
        "rfc5280_4_2_1_6_san_required",
        "rfc5280_4_2_1_3_ca_key_cert_sign",
      ]),
    );
  });

  it("lints OpenSSH certificates: ssh-keygen's defaults (no principals, forever) break rules; Keyward's pass against its CA", async () => {
    // ssh-keygen -s without -n and -V: valid for any principal, forever.
    const ca = sshKeygen(k.dir, "other-ca", "ed25519");
    const user = sshKeygen(k.dir, "lint-user", "ed25519");
    execFileSync("ssh-keygen", ["-q", "-s", ca.path, "-I", "anything", `${user.path}.pub`]);
    const bad = await lint(`${user.path}-cert.pub`, "--json");
    expect(bad.code).toBe(1);
    const findings = JSON.parse(bad.stdout).findings.map((f: { rule: string }) => f.rule);
    expect(findings).toEqual(expect.arrayContaining(["ssh_cert_principals", "ssh_cert_validity"]));

    await k.services.ssh.init(testActor);
    const res = await k.api("/api/v1/ssh/certificates", {
      body: { publicKey: user.pub, type: "user", principals: ["alice"] },
    });
    const ours = writeFile(k.dir, "ours-cert.pub", ((await res.json()) as { certificate: string }).certificate);
    const userCa = writeFile(k.dir, "user_ca.pub", await (await k.api("/ssh/user_ca.pub", { token: null })).text());
    const hostCa = writeFile(k.dir, "host_ca.pub", await (await k.api("/ssh/host_ca.pub", { token: null })).text());
    const good = await lint(ours, "--issuer", userCa);
    expect(good.code, good.stdout + good.stderr).toBe(0);
    expect(good.stdout).toMatch(/ssh-certificate\s+no findings/);
    const wrongCa = await lint(ours, "--issuer", hostCa);
    expect(wrongCa.code).toBe(1);
    expect(wrongCa.stdout).toMatch(/ssh_cert_signature_key: the signature key is not the signing CA's key/);
  });

  it("lists the rules with their target and severity (--rules), and asks for a file otherwise", async () => {
    const listed = JSON.parse((await keyward(k.token, ["--json", "lint", "--rules"])).stdout) as {
      rules: { name: string; target: string; severity: string; description: string }[];
    };
    expect(listed.rules.length).toBeGreaterThanOrEqual(40);
    expect(listed.rules).toContainEqual(
      expect.objectContaining({ name: "br_7_1_2_certificate_policies", target: "certificate", severity: "error" }),
    );
    expect(listed.rules).toContainEqual(
      expect.objectContaining({ name: "rfc5280_5_2_3_crl_number_increases", target: "crl", severity: "error" }),
    );
    expect(listed.rules.every((r) => /(RFC|BR) |PROTOCOL\.certkeys/.test(r.description))).toBe(true);
    expect(listed.rules).toContainEqual(
      expect.objectContaining({ name: "ssh_cert_principals", target: "ssh-certificate" }),
    );
    const human = await keyward(k.token, ["lint", "--rules"]);
    expect(human.stdout).toMatch(/certificate +warning +br_7_1_3_1_tls_server_eddsa/);
    const bare = await keyward(k.token, ["lint"]);
    expect(bare.code).not.toBe(0);
    expect(bare.stderr).toContain("name the file to lint, or --rules");
  });

  it("finds no error in what Keyward issued: a certificate (PEM and DER), its CRL and an OCSP answer", async () => {
    const { csr } = opensslCsr(k.dir, "linted");
    const issued = (await (await k.api("/api/v1/certificates", { body: { csr, profile: "server" } })).json()) as {
      certificate: string;
    };
    const leaf = writeFile(k.dir, "issued.pem", issued.certificate);
    const intermediate = writeFile(
      k.dir,
      "intermediate.pem",
      await (await fetch(`${k.url}/ca/intermediate.pem`)).text(),
    );
    openssl(["x509", "-in", leaf, "-outform", "DER", "-out", `${k.dir}/issued.der`]);
    const crl = Buffer.from(await (await fetch(`${k.url}/crl/intermediate.crl`)).arrayBuffer());
    writeFile(k.dir, "intermediate.crl", crl);
    // The request by openssl, sent with fetch: this process serves it, so no blocking child here.
    openssl(["ocsp", "-issuer", intermediate, "-cert", leaf, "-no_nonce", "-reqout", `${k.dir}/request.der`]);
    const answer = await fetch(`${k.url}/ocsp`, {
      method: "POST",
      headers: { "content-type": "application/ocsp-request" },
      body: readFileSync(`${k.dir}/request.der`),
    });
    writeFile(k.dir, "answer.der", Buffer.from(await answer.arrayBuffer()));
    for (const [file, type] of [
      [leaf, "certificate"],
      [`${k.dir}/issued.der`, "certificate"],
      [`${k.dir}/intermediate.crl`, "crl"],
      [`${k.dir}/answer.der`, "ocsp"],
    ] as const) {
      const result = await lint(file, "--issuer", intermediate, "--json");
      expect(result.code, `${file}: ${result.stdout}`).toBe(0);
      const report = JSON.parse(result.stdout);
      expect(report.type).toBe(type);
      expect(report.findings.filter((f: { severity: string }) => f.severity === "error")).toEqual([]);
    }
  });
});
