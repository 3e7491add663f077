import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keyward, serve } from "../helpers/cli.js";
import {
  freePort,
  opensslCmsDecrypt,
  opensslCsr,
  startKeyward,
  type TestKeyward,
  writeFile,
} from "../helpers/keyward.js";
import { createTestToken, type TestToken } from "../helpers/softhsm.js";

/**
 * A recipient from a CA that is not ours: another Keyward deployment, run as its own process (its
 * own token and database), configured here in kms.trustAnchors with the URL of its CRL.
 */
let other: { token: TestToken; url: string; admin: string; stop(): Promise<unknown> };
let kw: TestKeyward;

async function otherApi(path: string, body?: unknown): Promise<Response> {
  return fetch(`${other.url}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { authorization: `Bearer ${other.admin}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

beforeAll(async () => {
  const token = createTestToken("keyward");
  await keyward(token, ["init"]);
  const admin = (await keyward(token, ["token", "create", "--role", "admin"])).stdout.trim();
  const { url, stop } = await serve(token, await freePort());
  other = { token, url, admin, stop };
  const anchor = await (await fetch(`${url}/ca/intermediate.pem`)).text();
  kw = await startKeyward({
    overrides: {
      kms: {
        trustAnchors: [
          {
            certFile: writeFile(token.dir, "external-anchor.pem", anchor),
            crlUrl: `${url}/crl/intermediate.crl`,
            crlRefreshSeconds: 0,
          },
        ],
      },
    },
  });
});

afterAll(async () => {
  await kw?.close();
  if (other) {
    await other.stop();
    other.token.cleanup();
  }
});

describe("recipients from a configured external CA", () => {
  it("accepts them while its CRL says good and refuses them once it lists them", async () => {
    const { csr, keyFile } = opensslCsr(other.token.dir, "partner", { key: ["-newkey", "rsa:2048"] });
    const issued = await otherApi("/api/v1/certificates", { csr, profile: "recipient" });
    expect(issued.status).toBe(201);
    const { serial, certificate } = (await issued.json()) as { serial: string; certificate: string };
    const certFile = writeFile(other.token.dir, "partner.pem", certificate);

    const key = (await (
      await kw.api("/api/v1/keys", { body: { name: "partner-key", distributable: true } })
    ).json()) as {
      id: string;
    };
    const sent = await kw.api(`/api/v1/keys/${key.id}/distributions`, { body: { certificate, format: "cms" } });
    expect(sent.status).toBe(201);
    const { data } = (await sent.json()) as { data: string };
    const cms = writeFile(other.token.dir, "partner.cms", Buffer.from(data, "base64"));
    const opened = opensslCmsDecrypt(cms, keyFile, certFile);
    expect(opened).toHaveLength(32);

    expect((await otherApi(`/api/v1/certificates/${serial}/revoke`, { reason: "keyCompromise" })).status).toBe(200);
    // The other CA regenerates its CRL shortly after a revocation (debounced).
    const deadline = Date.now() + 15_000;
    let refused: Response | undefined;
    while (Date.now() < deadline) {
      refused = await kw.api(`/api/v1/keys/${key.id}/distributions`, { body: { certificate, format: "cms" } });
      if (refused.status !== 201) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(refused!.status).toBe(422);
    const problem = (await refused!.json()) as { reason: string; detail: string };
    expect(problem.reason).toBe("revoked");
    expect(problem.detail).toBe(
      `recipient certificate ${serial} (CN=partner.example.com) is revoked (CRL of "O=Keyward, CN=Keyward Intermediate CA")`,
    );
  });
});
