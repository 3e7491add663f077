// Issue 27, target 2 asks where an ACME certificate's milliseconds go, per request type. Here each
// type is sent on its own, by 8 accounts at once, and the server's CPU over that phase is divided
// by its requests: the cost of each step of the flow lego runs, in isolation, in the same run, for
// Keyward and for Pebble alike.
import { generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import { writeFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { join } from "node:path";
import acme from "acme-client";
import { calculateJwkThumbprint, exportJWK, type JWK } from "jose";

interface Account {
  key: KeyObject;
  jwk: JWK;
  thumbprint: string;
  kid: string;
  /** The Replay-Nonce of the account's last answer, used by its next request (as lego does). */
  nonce: string;
}

export interface AcmeRequestCost {
  /** The request, as the route it reaches. */
  request: string;
  requests: number;
  cpuUs: number;
}

/**
 * `tokens` is the http-01 responder's directory (files named by token hold the key authorization);
 * `cpuMs(pid)` reads the server's CPU time. `perAccount` orders per account go through every step.
 */
export async function acmeRequestCosts(options: {
  directory: string;
  pid: number;
  tokens: string;
  domain: string;
  cpuMs: (pid: number) => number;
  perAccount?: number;
  /** The server's TLS certificate, for an https directory (Pebble). */
  ca?: Buffer;
}): Promise<AcmeRequestCost[]> {
  const perAccount = options.perAccount ?? 40;
  const request = httpClient(options.ca);
  const directory = JSON.parse((await request(options.directory)).body) as Record<string, string>;
  const nonce = async () => (await request(directory.newNonce!, { method: "HEAD" })).headers["replay-nonce"] as string;

  const post = async (
    account: Account | { key: KeyObject; jwk: JWK; nonce: string },
    url: string,
    payload?: unknown,
  ) => {
    const header = {
      alg: "ES256",
      nonce: account.nonce,
      url,
      ...("kid" in account ? { kid: account.kid } : { jwk: account.jwk }),
    };
    const protectedB64 = Buffer.from(JSON.stringify(header)).toString("base64url");
    const payloadB64 = payload === undefined ? "" : Buffer.from(JSON.stringify(payload)).toString("base64url");
    const signature = sign("sha256", Buffer.from(`${protectedB64}.${payloadB64}`), {
      key: account.key,
      dsaEncoding: "ieee-p1363",
    }).toString("base64url");
    const res = await request(url, {
      method: "POST",
      headers: { "content-type": "application/jose+json" },
      body: JSON.stringify({ protected: protectedB64, payload: payloadB64, signature }),
    });
    account.nonce = (res.headers["replay-nonce"] as string | undefined) ?? account.nonce;
    const body = res.headers["content-type"]?.includes("json") ? JSON.parse(res.body) : res.body;
    if (res.status >= 400) throw new Error(`${url}: ${res.status} ${JSON.stringify(body)}`);
    return { body: body as Record<string, unknown>, location: (res.headers.location as string | undefined) ?? null };
  };
  /** Polls an order (POST-as-GET) until it leaves `status`: Pebble validates and issues after answering. */
  const pollWhile = async (account: Account, url: string, status: string) => {
    for (;;) {
      const { body } = await post(account, url);
      if (body.status !== status) return body;
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  const accounts: Account[] = await Promise.all(
    Array.from({ length: 8 }, async () => {
      const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
      const jwk = await exportJWK(publicKey);
      const signer = { key: privateKey, jwk, nonce: await nonce() };
      const created = await post(signer, directory.newAccount!, { termsOfServiceAgreed: true });
      return { ...signer, thumbprint: await calculateJwkThumbprint(jwk), kid: created.location! };
    }),
  );

  const results: AcmeRequestCost[] = [];
  let measuring = false;
  /** Runs `step` for every account's items at once and records the server's CPU per request. */
  const phase = async <T, R>(
    request: string,
    items: T[][],
    step: (account: Account, item: T) => Promise<R>,
    settle = false,
  ) => {
    const cpu0 = options.cpuMs(options.pid);
    const out = await Promise.all(
      accounts.map(async (account, a) => {
        const done: R[] = [];
        for (const item of items[a]!) done.push(await step(account, item));
        return done;
      }),
    );
    // Work the server finishes after answering (a validation past its answer window, or Pebble's
    // validations, which run after the answer) counts too: wait until the server is idle again.
    if (settle) {
      for (let last = options.cpuMs(options.pid), until = Date.now() + 10_000; Date.now() < until; ) {
        await new Promise((r) => setTimeout(r, 200));
        const now = options.cpuMs(options.pid);
        if (now - last <= 10) break; // one 10 ms tick in 200 ms: idle
        last = now;
      }
    }
    const requests = items.reduce((n, list) => n + list.length, 0);
    if (measuring) results.push({ request, requests, cpuUs: ((options.cpuMs(options.pid) - cpu0) * 1000) / requests });
    return out;
  };
  const each = <T>(make: (a: number, i: number) => T, count: number) =>
    accounts.map((_, a) => Array.from({ length: count }, (_, i) => make(a, i)));

  /**
   * Every request type in turn for `count` orders per account. Run once unmeasured first:
   * V8 compiles each type's path while it runs under load, and a type measured on its first run
   * counted that compile (for Keyward's challenge, ~350 µs of 1.9 ms went to TurboFan's threads).
   */
  const flow = async (count: number, tag: string) => {
    // The cheap requests four times as often: CPU time is read in 10 ms ticks.
    await phase(
      "GET /acme/directory",
      each(() => 0, 4 * count),
      async () => {
        await request(options.directory);
      },
    );
    await phase(
      "HEAD /acme/new-nonce",
      each(() => 0, 4 * count),
      async () => {
        await request(directory.newNonce!, { method: "HEAD" });
      },
    );
    const names = each((a, i) => `c${a}-${i}.${tag}.${options.domain}`, count);
    const orders = await phase("POST /acme/new-order", names, async (account, name) => {
      const { body, location } = await post(account, directory.newOrder!, {
        identifiers: [{ type: "dns", value: name }],
      });
      return { name, url: location!, authz: (body.authorizations as string[])[0]!, finalize: body.finalize as string };
    });
    const challenges = await phase("POST /acme/authz/:id (POST-as-GET)", orders, async (account, order) => {
      const { body } = await post(account, order.authz);
      const http01 = (body.challenges as Array<{ type: string; url: string; token: string }>).find(
        (c) => c.type === "http-01",
      )!;
      writeFileSync(join(options.tokens, http01.token), `${http01.token}.${account.thumbprint}`);
      return http01.url;
    });
    await phase(
      "POST /acme/chall/:id (validates http-01)",
      challenges,
      async (account, url) => {
        const { body } = await post(account, url, {});
        if (body.status === "invalid") throw new Error(`challenge ${JSON.stringify(body)}`);
      },
      true,
    );
    // Not measured: where validation runs after the answer (Pebble), wait until every order is ready.
    await Promise.all(
      accounts.map(async (account, a) => {
        for (const order of orders[a]!) {
          const body = await pollWhile(account, order.url, "pending");
          if (body.status !== "ready")
            throw new Error(`order ${order.url} is ${JSON.stringify(body.status)}, not ready`);
        }
      }),
    );
    const csrKeys = accounts.map(
      () =>
        generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({
          type: "pkcs8",
          format: "pem",
        }) as string,
    );
    const csrs = await Promise.all(
      orders.map((list, a) =>
        Promise.all(
          list.map(async (order) => {
            const [, csr] = await acme.crypto.createCsr({ commonName: order.name }, csrKeys[a]!);
            return { order, csr: acme.crypto.getPemBodyAsB64u(csr) };
          }),
        ),
      ),
    );
    // Where the order answers "processing" (Pebble issues after answering), its polls count here too.
    const issued = await phase("POST /acme/order/:id/finalize (issues)", csrs, async (account, { order, csr }) => {
      let { body } = await post(account, order.finalize, { csr });
      if (body.status === "processing") body = await pollWhile(account, order.url, "processing");
      if (body.status !== "valid") throw new Error(`finalize answered ${JSON.stringify(body.status)}, not valid`);
      return body.certificate as string;
    });
    await phase("POST /acme/order/:id (POST-as-GET)", orders, async (account, order) => {
      await post(account, order.url);
    });
    await phase("POST /acme/cert/:id (download)", issued, async (account, url) => {
      await post(account, url);
    });
  };
  await flow(perAccount, "warm");
  measuring = true;
  await flow(perAccount, "measured");
  return results;
}

/** One keep-alive connection pool, as `fetch` keeps, that can also trust a given certificate. */
function httpClient(ca?: Buffer) {
  const agent = ca ? new https.Agent({ keepAlive: true, ca }) : new http.Agent({ keepAlive: true });
  return (url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) =>
    new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
      const req = (url.startsWith("https:") ? https : http).request(
        url,
        { method: init.method ?? "GET", headers: init.headers, agent },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () =>
            resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }),
          );
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(init.body);
    });
}
