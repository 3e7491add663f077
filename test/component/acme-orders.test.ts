import { createServer, type Server } from "node:http";
import { createPrivateKey } from "node:crypto";
import acme from "acme-client";
import { exportJWK, FlattenedSign } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ChallTestSrv, startChallTestSrv } from "../helpers/challtestsrv.js";
import { freePort, opensslCsr, openssl, startKeyward, type TestKeyward, writeFile } from "../helpers/keyward.js";

let kw: TestKeyward;
let dns: ChallTestSrv;
let http01: Server;
const tokens = new Map<string, string>();

beforeAll(async () => {
  dns = await startChallTestSrv();
  const port = await freePort();
  // The http-01 responder a client would run: serves key authorizations from the map.
  http01 = createServer((req, res) => {
    const token = req.url?.split("/").pop() ?? "";
    const body = tokens.get(token);
    res.writeHead(body ? 200 : 404).end(body ?? "");
  });
  await new Promise<void>((r) => http01.listen(port, "127.0.0.1", r));
  kw = await startKeyward({
    overrides: { acme: { http01Port: port, dnsResolver: dns.dns, caaIdentities: ["keyward.test"] } },
  });
  writeFile(kw.dir, "root.pem", await (await fetch(`${kw.url}/ca/root.pem`)).text());
});

afterAll(async () => {
  await kw?.close();
  http01?.close();
  dns?.stop();
});

function client() {
  return acme.crypto
    .createPrivateEcdsaKey()
    .then(
      (accountKey) =>
        new acme.Client({ directoryUrl: `${kw.url}/acme/directory`, accountKey, backoffMin: 100, backoffMax: 500 }),
    );
}

const challengeCreateFn = async (
  _authz: unknown,
  challenge: { type: string; token: string },
  keyAuthorization: string,
) => {
  if (challenge.type === "http-01") tokens.set(challenge.token, keyAuthorization);
  else {
    const authz = _authz as { identifier: { value: string } };
    await dns.setTxt(`_acme-challenge.${authz.identifier.value}`, keyAuthorization);
  }
};
const challengeRemoveFn = async (_authz: unknown, challenge: { type: string; token: string }) => {
  tokens.delete(challenge.token);
};

/** acme-client's whole flow, answering challenges through our http-01 server or the DNS server. */
function auto(c: acme.Client, csr: Buffer, challenge: "http-01" | "dns-01") {
  return c.auto({
    csr,
    termsOfServiceAgreed: true,
    challengePriority: [challenge],
    skipChallengeVerification: true,
    challengeCreateFn,
    challengeRemoveFn,
  });
}

function verifyChain(pem: string, name: string): string {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g)!;
  const leaf = writeFile(kw.dir, `${name}.pem`, blocks[0]!);
  const chain = writeFile(kw.dir, `${name}-chain.pem`, blocks.slice(1).join("\n"));
  return openssl(["verify", "-CAfile", `${kw.dir}/root.pem`, "-untrusted", chain, leaf]);
}

/** RFC 9773 certID: base64url(AKI keyIdentifier) "." base64url(serial DER octets), from openssl's view. */
function certIdOf(pem: string): string {
  const text = openssl(["x509", "-noout", "-text"], pem);
  const aki = /Authority Key Identifier:\s*\n\s*(?:keyid:)?([0-9A-F:]+)/.exec(text)![1]!.replaceAll(":", "");
  const serialHex = openssl(["x509", "-noout", "-serial"], pem).trim().slice("serial=".length);
  const serialDer = Buffer.from(serialHex.length % 2 ? `0${serialHex}` : serialHex, "hex");
  const der = serialDer[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), serialDer]) : serialDer;
  return `${Buffer.from(aki, "hex").toString("base64url")}.${der.toString("base64url")}`;
}

interface RawApi {
  apiResourceRequest(
    resource: string,
    payload: unknown,
    codes: number[],
  ): Promise<{ status: number; data: Record<string, unknown>; headers: Record<string, string> }>;
}
/** acme-client's signed-request API, for fields its high-level calls do not send (profile, replaces). */
const rawApi = (c: acme.Client) => (c as unknown as { api: RawApi }).api;

describe("ACME orders with acme-client", () => {
  it("issues for DNS names via http-01; the chain verifies with openssl", async () => {
    const c = await client();
    const [, csr] = await acme.crypto.createCsr({
      commonName: "www.example.com",
      altNames: ["www.example.com", "api.example.com"],
    });
    const pem = await auto(c, csr, "http-01");
    expect(verifyChain(pem, "auto-http")).toContain(": OK");
    const sans = openssl(["x509", "-noout", "-ext", "subjectAltName"], pem);
    expect(sans).toContain("DNS:www.example.com");
    expect(sans).toContain("DNS:api.example.com");
  });

  it("issues for an IP address identifier (RFC 8738) via http-01", async () => {
    const c = await client();
    await c.createAccount({ termsOfServiceAgreed: true });
    const order = await c.createOrder({ identifiers: [{ type: "ip", value: "127.0.0.1" }] });
    const [authz] = await c.getAuthorizations(order);
    expect(authz!.challenges.map((ch) => ch.type)).toEqual(["http-01"]);
    const challenge = authz!.challenges[0]!;
    tokens.set(challenge.token, await c.getChallengeKeyAuthorization(challenge));
    expect((await c.completeChallenge(challenge)).status).toBe("valid");
    const { csr } = opensslCsr(kw.dir, "ip", { subj: "/CN=127.0.0.1", san: "IP:127.0.0.1" });
    const finalized = await c.finalizeOrder(order, csr);
    expect(finalized.status).toBe("valid");
    const pem = await c.getCertificate(finalized);
    expect(verifyChain(pem, "ip")).toContain(": OK");
    expect(openssl(["x509", "-noout", "-ext", "subjectAltName"], pem)).toContain("IP Address:127.0.0.1");
  });

  it("issues a wildcard via dns-01 only", async () => {
    const c = await client();
    const [, csr] = await acme.crypto.createCsr({ commonName: "*.wild.example.com", altNames: ["*.wild.example.com"] });
    const pem = await auto(c, csr, "dns-01");
    expect(verifyChain(pem, "wild")).toContain(": OK");
    expect(openssl(["x509", "-noout", "-ext", "subjectAltName"], pem)).toContain("DNS:*.wild.example.com");
  });

  it("answers a challenge with its final state at once when validation is quick, and marks a failed one invalid", async () => {
    const c = await client();
    await c.createAccount({ termsOfServiceAgreed: true });
    const order = await c.createOrder({ identifiers: [{ type: "dns", value: "fast.example.com" }] });
    const [authz] = await c.getAuthorizations(order);
    const challenge = authz!.challenges.find((ch) => ch.type === "http-01")!;
    tokens.set(challenge.token, await c.getChallengeKeyAuthorization(challenge));
    const answered = await c.completeChallenge(challenge);
    expect(answered.status).toBe("valid");
    expect((await c.getOrder(order)).status).toBe("ready");
    // The immediate answer is the challenge as stored (a later read shows the same, timestamp too).
    const stored = (await c.getAuthorizations(order))[0]!.challenges.find((ch) => ch.type === "http-01");
    expect(answered).toEqual(stored);
    expect((answered as { validated?: string }).validated).toMatch(/^\d{4}-\d\d-\d\dT/);

    const bad = await c.createOrder({ identifiers: [{ type: "dns", value: "nobody-home.example.com" }] });
    const [badAuthz] = await c.getAuthorizations(bad);
    const badChallenge = badAuthz!.challenges.find((ch) => ch.type === "http-01")!;
    const failed = await c.completeChallenge(badChallenge);
    expect(failed.status).toBe("invalid");
    expect((failed as { error?: { type: string } }).error?.type).toBe("urn:ietf:params:acme:error:unauthorized");
    expect((await c.getOrder(bad)).status).toBe("invalid");
    const storedBad = (await c.getAuthorizations(bad))[0]!.challenges.find((ch) => ch.type === "http-01");
    expect(failed).toEqual(storedBad);
  });

  it("refuses finalize before the order is ready, and CSR names that differ from the order", async () => {
    const c = await client();
    await c.createAccount({ termsOfServiceAgreed: true });
    const order = await c.createOrder({ identifiers: [{ type: "dns", value: "early.example.com" }] });
    const [, csr] = await acme.crypto.createCsr({ commonName: "early.example.com" });
    await expect(c.finalizeOrder(order, csr)).rejects.toThrow(/order is pending, not ready/);

    const [authz] = await c.getAuthorizations(order);
    const challenge = authz!.challenges.find((ch) => ch.type === "http-01")!;
    tokens.set(challenge.token, await c.getChallengeKeyAuthorization(challenge));
    await c.completeChallenge(challenge);
    const [, other] = await acme.crypto.createCsr({ commonName: "other.example.com" });
    await expect(c.finalizeOrder(order, other)).rejects.toThrow(
      /CSR names \(dns:other\.example\.com\) are not the order's identifiers \(dns:early\.example\.com\)/,
    );
    // The order stays ready: a correct CSR still finalizes it.
    const done = await c.finalizeOrder(order, csr);
    expect(done.status).toBe("valid");
  });

  it("rejects identifiers the policy forbids at newOrder", async () => {
    const c = await client();
    await c.createAccount({ termsOfServiceAgreed: true });
    await expect(c.createOrder({ identifiers: [{ type: "dns", value: "printer.local" }] })).rejects.toThrow(
      /"printer.local" is forbidden by policy/,
    );
    await expect(c.createOrder({ identifiers: [{ type: "dns", value: "bad..example.com" }] })).rejects.toThrow(
      /label "" must be 1-63/,
    );
    await expect(c.createOrder({ identifiers: [{ type: "email", value: "a@example.com" }] })).rejects.toThrow(
      /identifier type "email" is not supported/,
    );
  });

  it("revokes by account key and by certificate key, with the right problems for repeats and bad reasons", async () => {
    const c = await client();
    const [certKey, csr] = await acme.crypto.createCsr({
      commonName: "revoke.example.com",
      altNames: ["revoke.example.com", "revoke2.example.com"],
    });
    const pem = await auto(c, csr, "http-01");
    const serial = openssl(["x509", "-noout", "-serial"], pem).trim().slice("serial=".length).toLowerCase();

    await expect(c.revokeCertificate(pem, { reason: 6 })).rejects.toThrow(/reason 6 is not allowed/);
    await c.revokeCertificate(pem, { reason: 4 });
    const record = await kw.services.issuance.get(serial);
    expect(record).toMatchObject({ status: "revoked", revocationReason: 4 });
    await expect(c.revokeCertificate(pem)).rejects.toThrow(/is already revoked/);

    // Another account may not revoke it; the certificate's own key may (jwk in the header).
    const stranger = await client();
    await stranger.createAccount({ termsOfServiceAgreed: true });
    const pem2 = await auto(c, csr, "http-01");
    await expect(stranger.revokeCertificate(pem2)).rejects.toThrow(/this account did not order that certificate/);
    // The certificate's own key signs, with "jwk" in the header (as certbot does with --key-path).
    const key = createPrivateKey(certKey);
    const jwk = await exportJWK(key);
    const publicJwk = { kty: jwk.kty, n: jwk.n, e: jwk.e };
    const url = `${kw.url}/acme/revoke-cert`;
    const nonce = (await fetch(`${kw.url}/acme/new-nonce`, { method: "HEAD" })).headers.get("replay-nonce")!;
    const jws = await new FlattenedSign(
      new TextEncoder().encode(JSON.stringify({ certificate: acme.crypto.getPemBodyAsB64u(pem2), reason: 1 })),
    )
      .setProtectedHeader({ alg: "RS256", url, nonce, jwk: publicJwk })
      .sign(key);
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/jose+json" },
      body: JSON.stringify(jws),
    });
    expect(res.status).toBe(200);
    const serial2 = openssl(["x509", "-noout", "-serial"], pem2).trim().slice("serial=".length).toLowerCase();
    expect(await kw.services.issuance.get(serial2)).toMatchObject({ status: "revoked", revocationReason: 1 });
  });

  it("rolls the account key over (keyChange): the new key works, the old one no longer does", async () => {
    const oldKey = await acme.crypto.createPrivateEcdsaKey();
    const c = new acme.Client({ directoryUrl: `${kw.url}/acme/directory`, accountKey: oldKey });
    await c.createAccount({ termsOfServiceAgreed: true });
    const url = c.getAccountUrl();
    const newKey = await acme.crypto.createPrivateEcdsaKey("P-384");
    await c.updateAccountKey(newKey);
    const withNew = new acme.Client({ directoryUrl: `${kw.url}/acme/directory`, accountKey: newKey });
    await withNew.createAccount({ onlyReturnExisting: true });
    expect(withNew.getAccountUrl()).toBe(url);
    const order = await withNew.createOrder({ identifiers: [{ type: "dns", value: "rolled.example.com" }] });
    expect(order.status).toBe("pending");
    const withOld = new acme.Client({ directoryUrl: `${kw.url}/acme/directory`, accountKey: oldKey });
    await expect(withOld.createAccount({ onlyReturnExisting: true })).rejects.toThrow(/no account exists for this key/);
  });

  it("lists an account's unfinished orders at its orders URL", async () => {
    const c = await client();
    const account = await c.createAccount({ termsOfServiceAgreed: true });
    const order = await c.createOrder({ identifiers: [{ type: "dns", value: "listed.example.com" }] });
    // acme-client has no call for the orders list; its signed-request API makes the POST-as-GET.
    const api = (
      c as unknown as {
        api: { apiRequest(url: string, payload: null, codes: number[]): Promise<{ data: { orders: string[] } }> };
      }
    ).api;
    const listed = await api.apiRequest((account as { orders: string }).orders, null, [200]);
    expect(listed.data.orders).toContain(order.url);
  });

  it("answers ARI renewalInfo (RFC 9773) with a window inside the lifetime, and a current one once revoked", async () => {
    const c = await client();
    const [, csr] = await acme.crypto.createCsr({ commonName: "ari.example.com" });
    const pem = await auto(c, csr, "http-01");
    const dir = (await (await fetch(`${kw.url}/acme/directory`)).json()) as { renewalInfo: string };
    const certId = certIdOf(pem);
    const text = openssl(["x509", "-noout", "-text"], pem);

    const res = await fetch(`${dir.renewalInfo}/${certId}`);
    expect(res.status).toBe(200);
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
    const { suggestedWindow } = (await res.json()) as { suggestedWindow: { start: string; end: string } };
    const notBefore = Date.parse(/Not Before: (.+)/.exec(text)![1]!);
    const notAfter = Date.parse(/Not After : (.+)/.exec(text)![1]!);
    expect(Date.parse(suggestedWindow.start)).toBeGreaterThan(notBefore + (notAfter - notBefore) / 2);
    expect(Date.parse(suggestedWindow.end)).toBeLessThan(notAfter);
    expect(Date.parse(suggestedWindow.end)).toBeGreaterThan(Date.parse(suggestedWindow.start));

    await c.revokeCertificate(pem, { reason: 1 });
    const after = (await (await fetch(`${dir.renewalInfo}/${certId}`)).json()) as {
      suggestedWindow: { start: string };
    };
    expect(Date.parse(after.suggestedWindow.start)).toBeLessThanOrEqual(Date.now());
    expect((await fetch(`${dir.renewalInfo}/AAAA.AAAA`)).status).toBe(404);
    expect((await fetch(`${dir.renewalInfo}/not-a-cert-id`)).status).toBe(400);
  });

  it("reuses the account's valid authorization: a second order for the same name is ready at once", async () => {
    const c = await client();
    await c.createAccount({ termsOfServiceAgreed: true });
    const first = await c.createOrder({ identifiers: [{ type: "dns", value: "reuse.example.com" }] });
    const [authz] = await c.getAuthorizations(first);
    const challenge = authz!.challenges.find((ch) => ch.type === "http-01")!;
    tokens.set(challenge.token, await c.getChallengeKeyAuthorization(challenge));
    expect((await c.completeChallenge(challenge)).status).toBe("valid");

    const second = await c.createOrder({ identifiers: [{ type: "dns", value: "reuse.example.com" }] });
    expect(second.status).toBe("ready");
    expect(second.authorizations).toEqual(first.authorizations);
    const [, csr] = await acme.crypto.createCsr({ commonName: "reuse.example.com" });
    expect((await c.finalizeOrder(second, csr)).status).toBe("valid");

    // Another account gets its own authorization.
    const other = await client();
    await other.createAccount({ termsOfServiceAgreed: true });
    const theirs = await other.createOrder({ identifiers: [{ type: "dns", value: "reuse.example.com" }] });
    expect(theirs.status).toBe("pending");
    expect(theirs.authorizations).not.toEqual(first.authorizations);
  });

  it("checks CAA (RFC 8659): records naming us or none allow issuance, records naming another CA refuse it", async () => {
    await dns.addCaa("caa-ok.example.com", [{ tag: "issue", value: "keyward.test" }]);
    await dns.addCaa("caa-other.example.com", [{ tag: "issue", value: "other-ca.example; account=1" }]);
    await dns.addCaa("caa-parent.example.net", [{ tag: "issue", value: "other-ca.example" }]);
    const c = await client();
    await c.createAccount({ termsOfServiceAgreed: true });
    const validate = async (name: string) => {
      const order = await c.createOrder({ identifiers: [{ type: "dns", value: name }] });
      const [authz] = await c.getAuthorizations(order);
      const challenge = authz!.challenges.find((ch) => ch.type === "http-01")!;
      tokens.set(challenge.token, await c.getChallengeKeyAuthorization(challenge));
      return (await c.completeChallenge(challenge)) as { status: string; error?: { type: string; detail: string } };
    };
    expect((await validate("caa-ok.example.com")).status).toBe("valid");
    const refused = await validate("caa-other.example.com");
    expect(refused.status).toBe("invalid");
    expect(refused.error).toMatchObject({ type: "urn:ietf:params:acme:error:caa" });
    expect(refused.error!.detail).toContain(
      "CAA records at caa-other.example.com do not allow this CA (keyward.test) to issue",
    );
    // The relevant record set is found on a parent when the name has none.
    expect((await validate("www.caa-parent.example.net")).error?.type).toBe("urn:ietf:params:acme:error:caa");
  });

  it("offers certificate profiles in the directory and issues under the one an order names", async () => {
    const dir = (await (await fetch(`${kw.url}/acme/directory`)).json()) as {
      meta: { profiles: Record<string, string> };
    };
    expect(Object.keys(dir.meta.profiles).sort()).toEqual(["client", "kmip-client", "recipient", "server"]);
    const c = await client();
    await c.createAccount({ termsOfServiceAgreed: true });
    const api = (
      c as unknown as {
        api: {
          apiResourceRequest(
            r: string,
            p: unknown,
            codes: number[],
          ): Promise<{ data: { profile: string }; headers: Record<string, string> }>;
        };
      }
    ).api;
    const created = await api.apiResourceRequest(
      "newOrder",
      { identifiers: [{ type: "dns", value: "client-profile.example.com" }], profile: "client" },
      [201],
    );
    expect(created.data.profile).toBe("client");
    const order = await c.getOrder({ url: created.headers.location } as never);
    const [authz] = await c.getAuthorizations(order);
    const challenge = authz!.challenges.find((ch) => ch.type === "http-01")!;
    tokens.set(challenge.token, await c.getChallengeKeyAuthorization(challenge));
    await c.completeChallenge(challenge);
    const [, csr] = await acme.crypto.createCsr({ commonName: "client-profile.example.com" });
    const pem = await c.getCertificate(await c.finalizeOrder(order, csr));
    expect(openssl(["x509", "-noout", "-ext", "extendedKeyUsage"], pem)).toContain("TLS Web Client Authentication");

    await expect(
      api.apiResourceRequest(
        "newOrder",
        { identifiers: [{ type: "dns", value: "x.example.com" }], profile: "ocsp-responder" },
        [201],
      ),
    ).rejects.toThrow(/profile "ocsp-responder" is not offered; profiles are server, client, kmip-client, recipient/);
  });

  it("lets an administrator force the ARI window (e.g. after a key compromise), and honours replaces once", async () => {
    const c = await client();
    const [, csr] = await acme.crypto.createCsr({ commonName: "replace-me.example.com" });
    const pem = await auto(c, csr, "http-01");
    const certId = certIdOf(pem);
    const serial = openssl(["x509", "-noout", "-serial"], pem).trim().slice("serial=".length).toLowerCase();

    const forced = await kw.api("/api/v1/acme/renewal-windows", {
      method: "POST",
      body: { serials: [serial], explanationUrl: "https://example.com/incident-42" },
    });
    expect(forced.status).toBe(200);
    expect(((await forced.json()) as { certificates: number }).certificates).toBe(1);
    const info = (await (await fetch(`${kw.url}/acme/renewal-info/${certId}`)).json()) as {
      suggestedWindow: { start: string; end: string };
      explanationURL: string;
    };
    expect(Date.parse(info.suggestedWindow.start)).toBeLessThanOrEqual(Date.now());
    expect(Date.parse(info.suggestedWindow.end) - Date.parse(info.suggestedWindow.start)).toBe(3_600_000);
    expect(info.explanationURL).toBe("https://example.com/incident-42");
    const both = await kw.api("/api/v1/acme/renewal-windows", {
      method: "POST",
      body: { serials: [serial], caId: "x" },
    });
    expect(both.status).toBe(400);
    expect(((await both.json()) as { detail: string }).detail).toMatch(/either serials or caId/);
    const unknown = await kw.api("/api/v1/acme/renewal-windows", { method: "POST", body: { serials: ["0badc0de"] } });
    expect(unknown.status).toBe(404);

    // Another account may not claim to replace it.
    const stranger = await client();
    await stranger.createAccount({ termsOfServiceAgreed: true });
    const refused = await rawApi(stranger).apiResourceRequest(
      "newOrder",
      { identifiers: [{ type: "dns", value: "replace-me.example.com" }], replaces: certId },
      [403],
    );
    expect(refused.data.type).toBe("urn:ietf:params:acme:error:unauthorized");

    // The owner's replacing order echoes replaces and completes; a second replacement is refused.
    const created = await rawApi(c).apiResourceRequest(
      "newOrder",
      { identifiers: [{ type: "dns", value: "replace-me.example.com" }], replaces: certId },
      [201],
    );
    expect(created.data.replaces).toBe(certId);
    expect(created.data.status).toBe("ready"); // the authorization from the first order is reused
    const order = await c.getOrder({ url: created.headers.location } as never);
    const [, csr2] = await acme.crypto.createCsr({ commonName: "replace-me.example.com" });
    expect((await c.finalizeOrder(order, csr2)).status).toBe("valid");
    const again = await rawApi(c).apiResourceRequest(
      "newOrder",
      { identifiers: [{ type: "dns", value: "replace-me.example.com" }], replaces: certId },
      [409],
    );
    expect(again.data.type).toBe("urn:ietf:params:acme:error:alreadyReplaced");
    const malformed = await rawApi(c).apiResourceRequest(
      "newOrder",
      { identifiers: [{ type: "dns", value: "replace-me.example.com" }], replaces: "AAAA.AAAA" },
      [400],
    );
    expect(malformed.data.detail).toMatch(/replaces: no certificate has that certID/);
  });

  it("names each refused identifier in its own subproblem (RFC 8555 §6.7.1)", async () => {
    const c = await client();
    await c.createAccount({ termsOfServiceAgreed: true });
    const refused = await rawApi(c).apiResourceRequest(
      "newOrder",
      {
        identifiers: [
          { type: "dns", value: "fine.example.com" },
          { type: "dns", value: "printer.local" },
          { type: "dns", value: "bad..example.com" },
        ],
      },
      [400],
    );
    expect(refused.data.type).toBe("urn:ietf:params:acme:error:rejectedIdentifier");
    expect(refused.data.detail).toBe("2 identifiers were refused; see subproblems");
    const subproblems = refused.data.subproblems as Array<{ type: string; detail: string; identifier: unknown }>;
    expect(subproblems).toHaveLength(2);
    expect(subproblems[0]).toMatchObject({
      type: "urn:ietf:params:acme:error:rejectedIdentifier",
      identifier: { type: "dns", value: "printer.local" },
    });
    expect(subproblems[0]!.detail).toMatch(/forbidden by policy/);
    expect(subproblems[1]!.identifier).toEqual({ type: "dns", value: "bad..example.com" });
  });
  it("refuses a wildcard under a public suffix and special IP addresses as rejectedIdentifier with the reason", async () => {
    const c = await client();
    await c.createAccount({ termsOfServiceAgreed: true });
    const wildcard = await rawApi(c).apiResourceRequest(
      "newOrder",
      { identifiers: [{ type: "dns", value: "*.co.uk" }] },
      [400],
    );
    expect(wildcard.data.type).toBe("urn:ietf:params:acme:error:rejectedIdentifier");
    expect(wildcard.data.detail).toBe(
      'DNS name "*.co.uk": a wildcard must not stand directly under a public suffix (co.uk)',
    );
    const metadata = await rawApi(c).apiResourceRequest(
      "newOrder",
      { identifiers: [{ type: "ip", value: "169.254.169.254" }] },
      [400],
    );
    expect(metadata.data.type).toBe("urn:ietf:params:acme:error:rejectedIdentifier");
    expect(metadata.data.detail).toBe(
      "IP address 169.254.169.254 is a link-local address and cannot name a certificate's subject",
    );
  });
});
