import { execFileSync } from "node:child_process";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { launchBrowser, PHONE, DESKTOP, type TestBrowser } from "../helpers/browser.js";
import { opensslAsync, opensslCsr, openssl, startKeyward, type TestKeyward, writeFile } from "../helpers/keyward.js";
import { createPerson, type Person, SteppingClock } from "../helpers/people.js";
import { base32Decode, totpCode } from "../../src/access/totp.js";

const secretOf = (otpauthUri: string) => base32Decode(new URL(otpauthUri).searchParams.get("secret")!);
import { type Permission, roleAllows } from "../../src/access/index.js";

// The admin console in a real browser (Debian's chromium through playwright-core) against a real
// Keyward: SoftHSM2 token, SQLite, HTTP on a port. Results are checked with openssl.

const clock = new SteppingClock();
let kw: TestKeyward;
let browser: TestBrowser;
let admin: Person;
let approver: Person;
let auditor: Person;
let rootFile: string;
let chainFile: string;
/** Two certificates on one key (the compromised one) and one on another key. */
const leaves: Record<"a" | "b" | "other" | "retired", { serial: string; pem: string; file: string }> = {} as never;

async function issue(name: string, csr: string) {
  const res = await kw.api("/api/v1/certificates", { body: { csr, profile: "server" } });
  expect(res.status).toBe(201);
  const body = (await res.json()) as { serial: string; certificate: string };
  return { serial: body.serial, pem: body.certificate, file: writeFile(kw.dir, `${name}.pem`, body.certificate) };
}

/** `openssl ocsp` over HTTP against our responder, the answer verified up to our root. */
function ocsp(certFile: string): Promise<string> {
  return opensslAsync([
    "ocsp",
    "-issuer",
    chainFile,
    "-cert",
    certFile,
    "-url",
    `${kw.url}/ocsp`,
    "-CAfile",
    rootFile,
    "-verify_other",
    chainFile,
  ]);
}

async function logIn(person: Person) {
  const { page } = browser;
  await page.goto(`${kw.url}/console/`);
  await page.getByLabel("Name").fill(person.name);
  await page.getByLabel("Password").fill(person.password);
  await page.getByLabel("Authenticator code").fill(person.otp());
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("heading", { name: "Overview", level: 1 }).waitFor();
}

async function logOut() {
  await browser.page.getByRole("button", { name: "Log out" }).click();
  await browser.page.getByRole("button", { name: "Log in" }).waitFor();
}

async function openPage(label: string, heading: string) {
  await browser.page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: label }).click();
  await browser.page.getByRole("heading", { name: heading, level: 1 }).waitFor();
}

/** The page fits the viewport: nothing forces sideways scrolling of the whole document. */
async function fitsWidth(): Promise<boolean> {
  return browser.page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
}

/** Form fields that a screen reader could not name (no <label>, no aria-label). */
function unlabelledFields(): Promise<string[]> {
  return browser.page.$$eval("input, select, textarea", (fields) =>
    fields
      .filter((f) => !(f as HTMLInputElement).labels?.length && !f.getAttribute("aria-label"))
      .map((f) => f.outerHTML),
  );
}

beforeAll(async () => {
  // Destroying a key version needs a second admin's approval, so the console's quorum path runs.
  kw = await startKeyward({
    clock,
    overrides: { access: { quorum: { "key.destroy": { approvals: 1, role: "admin" } } } },
  });
  admin = await createPerson(kw, clock, "olivia", "admin");
  approver = await createPerson(kw, clock, "bruno", "admin");
  auditor = await createPerson(kw, clock, "audrey", "auditor");
  rootFile = writeFile(kw.dir, "root.pem", await (await fetch(`${kw.url}/ca/root.pem`)).text());
  chainFile = writeFile(kw.dir, "chain.pem", await (await fetch(`${kw.url}/ca/chain.pem`)).text());
  const a = opensslCsr(kw.dir, "shop-a");
  leaves.a = await issue("shop-a", a.csr);
  // A second certificate on the same key, as after a renewal that reused it.
  const bCsr = execFileSync(
    "openssl",
    [
      "req",
      "-new",
      "-key",
      a.keyFile,
      "-subj",
      "/CN=shop-b.example.com",
      "-addext",
      "subjectAltName=DNS:shop-b.example.com",
    ],
    { encoding: "utf8" },
  );
  leaves.b = await issue("shop-b", bCsr);
  leaves.other = await issue("unrelated", opensslCsr(kw.dir, "unrelated").csr);
  leaves.retired = await issue("retired", opensslCsr(kw.dir, "retired").csr);
  const key = await kw.api("/api/v1/keys", { body: { name: "payments", algorithm: "AES-256", rotationDays: 90 } });
  expect(key.status).toBe(201);
  browser = await launchBrowser("console");
}, 120_000);

afterEach(() => {
  // Any console error or uncaught exception in the page fails the test that caused it.
  expect(browser.takeErrors()).toEqual([]);
});

afterAll(async () => {
  await browser?.close();
  await kw?.close();
});

// A browser on two busy cores can be slow; each step still has its own 10 s limit.
describe("the admin console", { timeout: 120_000 }, () => {
  it("is served with a strict CSP, and only what the build produced", async () => {
    const res = await fetch(`${kw.url}/console/certificates/anything`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(res.headers.get("content-security-policy")).not.toContain("unsafe");
    const html = await res.text();
    expect(html).toMatch(/<script type="module" crossorigin src="\/console\/assets\/index-[\w-]+\.js">/);
    // No third-party origin anywhere in the page.
    expect(html).not.toMatch(/https?:\/\//);
    const missing = await fetch(`${kw.url}/console/assets/nope.js`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get("content-type")).toContain("application/problem+json");
  });

  it("logs in with TOTP, finds a certificate, and blocks a compromised key, revoking all its certificates", async () => {
    const { page } = browser;
    await logIn(admin);
    await page
      .getByRole("region", { name: "CA hierarchy" })
      .getByText("intermediate", { exact: true })
      .first()
      .waitFor();
    await page.getByRole("img", { name: /Certificates issued: \d+ in 30 days/ }).waitFor();
    expect(await page.getByRole("heading", { name: "OCSP cache" }).isVisible()).toBe(true);
    await browser.screenshot("admin-overview-1280");

    // Find a certificate by name, open it: decoded, chain, OCSP says good.
    await openPage("Certificates", "Certificates");
    await page.getByLabel("Name contains").fill("shop-a.example.com");
    await page.getByRole("button", { name: "Search" }).click();
    await page.getByText("1 certificate", { exact: true }).waitFor();
    await page.getByRole("link", { name: leaves.a.serial.slice(0, 16) }).click();
    await page.getByRole("heading", { name: `Certificate ${leaves.a.serial}` }).waitFor();
    await page.getByText("Decoded certificate").click();
    await page.getByText("Subject Alternative Name:").waitFor();
    expect(await page.locator("dl.facts").textContent()).toContain("good");
    await browser.screenshot("admin-certificate-1280");

    // The same certificate by serial.
    await openPage("Certificates", "Certificates");
    await page.getByLabel("Serial (hex)").fill(leaves.b.serial);
    await page.getByRole("button", { name: "Search" }).click();
    await page.getByRole("link", { name: leaves.b.serial.slice(0, 16) }).waitFor();
    await browser.screenshot("admin-certificates-1280");

    // Revoke one certificate from its page, with a reason; OCSP (through openssl) agrees.
    await page.goto(`${kw.url}/console/#/certificates/${leaves.retired.serial}`);
    await page.getByLabel("Revocation reason").selectOption("superseded");
    await page.getByRole("button", { name: "Revoke…" }).click();
    await page
      .getByRole("dialog", { name: "Revoke this certificate?" })
      .getByRole("button", { name: "Revoke" })
      .click();
    await page.getByText("Revoked with reason superseded.", { exact: true }).waitFor();
    await page.locator("dl.facts").getByText("revoked", { exact: true }).first().waitFor();
    const retired = await ocsp(leaves.retired.file);
    expect(retired).toMatch(/: revoked/);
    expect(retired).toContain("Reason: superseded");

    // Compromised key: paste the certificate, see both certificates on its key, block and revoke all.
    const started = Date.now();
    await openPage("Compromised key", "Compromised key");
    await page.getByLabel("Certificate, public key or SPKI SHA-256").fill(leaves.a.pem);
    await page.getByRole("button", { name: "Find certificates" }).click();
    await page.getByText(/2 certificates with this key, 2 valid/).waitFor();
    await page.getByRole("button", { name: "Block key and revoke all 2 certificates…" }).click();
    const dialog = page.getByRole("dialog", { name: "Block this key and revoke its certificates?" });
    await dialog.getByLabel("Authenticator code (step-up)").fill(admin.otp());
    await browser.screenshot("admin-compromised-confirm-1280");
    await dialog.getByRole("button", { name: "Block and revoke all" }).click();
    await page.getByRole("heading", { name: "Done: key blocked, 2 revoked" }).waitFor();
    expect(Date.now() - started).toBeLessThan(60_000);
    const shownCrlNumber = Number(await page.locator(".crl-number").first().textContent());
    const answers = page.getByRole("region", { name: "OCSP answers after revocation" });
    expect(await answers.getByText("revoked", { exact: true }).count()).toBe(2);
    expect(await answers.getByText("keyCompromise", { exact: true }).count()).toBe(2);
    // The lookup above refreshed: the key is blocked, none of its certificates is valid any more.
    await page.getByText(/2 certificates with this key, 0 valid/).waitFor();
    expect(await page.getByText("blocked", { exact: true }).count()).toBe(1);
    await browser.screenshot("admin-compromised-done-1280");

    // openssl, not our code, says both are revoked for keyCompromise and the other is still good.
    for (const leaf of [leaves.a, leaves.b]) {
      const out = await ocsp(leaf.file);
      expect(out).toContain("Response verify OK");
      expect(out).toMatch(new RegExp(`${leaf.file}: revoked`));
      expect(out).toContain("Reason: keyCompromise");
    }
    expect(await ocsp(leaves.other.file)).toMatch(/: good/);
    // The CRL number the console showed is the CRL served now, and it lists both serials.
    const crl = openssl(
      ["crl", "-inform", "DER", "-noout", "-text"],
      Buffer.from(await (await fetch(`${kw.url}/crl/intermediate.crl`)).arrayBuffer()),
    );
    expect(crl).toMatch(new RegExp(`X509v3 CRL Number: \\s*\\n?\\s*${shownCrlNumber}\\b`));
    for (const leaf of [leaves.a, leaves.b]) expect(crl.toUpperCase()).toContain(leaf.serial.toUpperCase());
    // And the key is blocked: a new CSR for it is refused.
    const again = execFileSync(
      "openssl",
      [
        "req",
        "-new",
        "-key",
        `${kw.dir}/shop-a.key`,
        "-subj",
        "/CN=shop-c.example.com",
        "-addext",
        "subjectAltName=DNS:shop-c.example.com",
      ],
      { encoding: "utf8" },
    );
    const refused = await kw.api("/api/v1/certificates", { body: { csr: again, profile: "server" } });
    expect(refused.status).toBeGreaterThanOrEqual(400);
    expect(((await refused.json()) as { detail: string }).detail).toContain("is blocked");
  });

  it("rotates a key, files an old version's destruction for approval, a second admin approves it, and filters the audit log", async () => {
    const { page } = browser;
    await openPage("Keys", "Keys");
    await page.getByRole("heading", { name: /payments/ }).waitFor();
    await page.getByRole("button", { name: "Rotate" }).click();
    await page.getByRole("dialog", { name: "Rotate payments?" }).getByRole("button", { name: "Rotate" }).click();
    await page.getByText("Rotate payments: done.").waitFor();
    const key = (await (await kw.api("/api/v1/keys")).json()) as { items: Array<{ versions: unknown[] }> };
    expect(key.items[0]!.versions).toHaveLength(2);
    const versions = page.getByRole("region", { name: "Versions of payments" });
    await versions.getByText("2", { exact: true }).waitFor();
    // Retire version 1: deactivate it, then schedule its destruction (step-up code in the dialog).
    await page.getByRole("button", { name: "Deactivate v1" }).click();
    await page
      .getByRole("dialog", { name: "Deactivate version 1 of payments?" })
      .getByRole("button", { name: "Deactivate" })
      .click();
    await page.getByRole("button", { name: "Schedule destruction of v1" }).click();
    const destroy = page.getByRole("dialog", { name: "Schedule destruction of version 1 of payments?" });
    await destroy.getByLabel("Authenticator code (step-up)").fill(admin.otp());
    await destroy.getByRole("button", { name: "Schedule destruction" }).click();
    await page.getByText(/Filed for approval: destroy version 1 of key payments/).waitFor();
    await browser.screenshot("admin-keys-destroy-filed-1280");
    const pending = (await (await kw.api("/api/v1/keys")).json()) as {
      items: Array<{ versions: Array<{ version: number; state: string; destroyAfter: string | null }> }>;
    };
    expect(pending.items[0]!.versions[0]).toMatchObject({ version: 1, state: "deactivated", destroyAfter: null });

    // Olivia cannot approve her own request; Bruno, another admin, approves it on the overview.
    await openPage("Overview", "Overview");
    await page.getByText(/destroy version 1 of key payments/).waitFor();
    expect(await page.getByRole("button", { name: "Approve…" }).count()).toBe(0);
    await logOut();
    await logIn(approver);
    await page.getByRole("button", { name: "Approve…" }).click();
    const approve = page.getByRole("dialog", { name: "Approve this request?" });
    await approve.getByLabel("Authenticator code (step-up)").fill(approver.otp());
    await approve.getByRole("button", { name: "Approve" }).click();
    await page.getByText(/destroy version 1 of key payments: executed\./).waitFor();
    await browser.screenshot("admin-overview-approved-1280");
    const after = (await (await kw.api("/api/v1/keys")).json()) as {
      items: Array<{ versions: Array<{ version: number; state: string; destroyAfter: string | null }> }>;
    };
    expect(after.items[0]!.versions[0]).toMatchObject({ version: 1, state: "deactivated" });
    expect(after.items[0]!.versions[0]!.destroyAfter).not.toBeNull();
    await openPage("Keys", "Keys");
    await page
      .getByRole("region", { name: "Versions of payments" })
      .getByText(/scheduled after/)
      .waitFor();
    await browser.screenshot("admin-keys-1280");

    await openPage("Audit", "Audit log");
    await page.getByText(/Chain of \d+ events verifies/).waitFor();
    await page.getByLabel("Action").fill("key.block");
    await page.getByRole("button", { name: "Filter" }).click();
    const rows = page.getByRole("region", { name: "Audit events" }).locator("tbody tr");
    await expect.poll(() => rows.count()).toBe(1);
    expect(await rows.first().textContent()).toContain("olivia");
    // The time filter (UTC, minute precision): until the minute before the event, nothing; since
    // its minute, the event.
    const [blocked] = await kw.services.audit.search({ action: "key.block", limit: 1 });
    const minute = (ms: number) => new Date(Math.floor(ms / 60_000) * 60_000).toISOString().slice(0, 16);
    await page.getByLabel("Until (UTC)").fill(minute(blocked!.at.getTime() - 60_000));
    await page.getByRole("button", { name: "Filter" }).click();
    await expect.poll(() => rows.count()).toBe(0);
    await page.getByLabel("Until (UTC)").fill("");
    await page.getByLabel("Since (UTC)").fill(minute(blocked!.at.getTime()));
    await page.getByRole("button", { name: "Filter" }).click();
    await expect.poll(() => rows.count()).toBe(1);
    await browser.screenshot("admin-audit-1280");
  });

  it("works at a phone's width", async () => {
    const { page } = browser;
    await page.setViewportSize(PHONE);
    const pages: Array<[string, string]> = [
      ["Overview", "Overview"],
      ["Certificates", "Certificates"],
      ["Compromised key", "Compromised key"],
      ["Keys", "Keys"],
      ["Audit", "Audit log"],
    ];
    for (const [label, heading] of pages) {
      await openPage(label, heading);
      if (label === "Overview") await page.getByRole("img", { name: "Certificates revoked: 3 in 30 days" }).waitFor();
      await page.waitForLoadState("networkidle");
      expect(await fitsWidth(), `${label} fits ${PHONE.width}px`).toBe(true);
      expect(await unlabelledFields(), `fields without a label on ${label}`).toEqual([]);
      await browser.screenshot(`admin-${label.toLowerCase().replace(/ /g, "-")}-phone`);
    }
    await page.goto(`${kw.url}/console/#/certificates/${leaves.a.serial}`);
    await page.getByRole("heading", { name: `Certificate ${leaves.a.serial}` }).waitFor();
    expect(await fitsWidth()).toBe(true);
    await browser.screenshot("admin-certificate-phone");
    await page.setViewportSize(DESKTOP);
    await logOut();
  });

  it("lets an auditor see everything and change nothing, in the API and in the console", async () => {
    const token = await auditor.login();
    // The API: every route that changes state refuses the auditor before reading the request.
    const { paths } = (await (await fetch(`${kw.url}/api/v1/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { "x-keyward-permission": string }>>;
    };
    const fill = (path: string) =>
      path.replace("{serial}", leaves.other.serial).replace("{id}", "x").replace("{version}", "1");
    // POST routes an auditor may call: reads with a body, and what concerns the caller alone.
    const openToAuditors: Record<string, "read" | "own session" | "own authenticator" | "own escrow share"> = {
      "post /api/v1/public-keys/lookup": "read",
      "post /api/v1/auth/logout": "own session",
      "post /api/v1/auth/totp/enrol": "own authenticator",
      "post /api/v1/auth/totp/confirm": "own authenticator",
      // Only the person linked to an escrow agent may hand in that agent's share.
      "post /api/v1/escrow/recoveries/{id}/shares": "own escrow share",
    };
    let changing = 0;
    for (const [path, operations] of Object.entries(paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        if (method === "get") continue;
        const permission = operation["x-keyward-permission"] as Permission;
        if (roleAllows("auditor", permission)) {
          const why = openToAuditors[`${method} ${path}`];
          expect(why, `${method} ${path} is open to auditors`).toBeDefined();
          if (why === "own escrow share") {
            const res = await kw.api(fill(path), { token, body: { agent: "someone", share: "AAAA" } });
            expect(res.status, `${method} ${path}`).toBeGreaterThanOrEqual(400);
          }
          continue;
        }
        changing++;
        const res = await kw.api(fill(path), { token, body: {} });
        expect(res.status, `${method.toUpperCase()} ${path}`).toBe(403);
      }
    }
    expect(changing).toBeGreaterThan(30);
    // …and every page's data can be read.
    for (const path of [
      "/overview",
      "/stats",
      "/certificates",
      `/certificates/${leaves.a.serial}/details`,
      "/keys",
      "/audit",
      "/audit/verify",
      "/cas",
      "/approvals",
      "/revocations",
    ]) {
      expect((await kw.api(`/api/v1${path}`, { token })).status, path).toBe(200);
    }
    const lookup = await kw.api("/api/v1/public-keys/lookup", { token, body: { certificate: leaves.a.pem } });
    expect(lookup.status).toBe(200);
    // The certificate is still valid: nothing the auditor tried revoked it.
    expect(
      ((await (await kw.api(`/api/v1/certificates/${leaves.other.serial}`)).json()) as { status: string }).status,
    ).toBe("valid");

    // The console: every page, no control that changes anything.
    // Log in with the keyboard alone: the form is reachable and submits with Enter.
    const { page } = browser;
    await page.goto(`${kw.url}/console/`);
    await page.keyboard.press("Tab");
    await page.keyboard.type(auditor.name);
    await page.keyboard.press("Tab");
    await page.keyboard.type(auditor.password);
    await page.keyboard.press("Tab");
    await page.keyboard.type(auditor.otp());
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Overview", level: 1 }).waitFor();
    const nav = page.getByRole("navigation", { name: "Main" });
    for (const label of ["Overview", "Certificates", "Compromised key", "Keys", "Audit"]) {
      expect(await nav.getByRole("link", { name: label }).isVisible(), label).toBe(true);
    }
    const changers = /revoke|block|rotate|suspend|resume|destroy|deactivate|approve|reject/i;
    const actionButtons = () => page.getByRole("button", { name: changers }).count();
    await browser.screenshot("auditor-overview-1280");
    expect(await actionButtons()).toBe(0);

    await page.goto(`${kw.url}/console/#/certificates/${leaves.other.serial}`);
    await page.getByRole("heading", { name: `Certificate ${leaves.other.serial}` }).waitFor();
    await page.getByText("Decoded certificate").waitFor();
    expect(await page.getByLabel("Revocation reason").count()).toBe(0);
    expect(await actionButtons()).toBe(0);
    await browser.screenshot("auditor-certificate-1280");

    await openPage("Compromised key", "Compromised key");
    await page.getByLabel("Certificate, public key or SPKI SHA-256").fill(leaves.a.pem);
    await page.getByRole("button", { name: "Find certificates" }).click();
    await page.getByText(/2 certificates with this key, 0 valid/).waitFor();
    expect(await actionButtons()).toBe(0);
    await browser.screenshot("auditor-compromised-1280");

    await openPage("Keys", "Keys");
    await page.getByRole("heading", { name: /payments/ }).waitFor();
    expect(await actionButtons()).toBe(0);
    await browser.screenshot("auditor-keys-1280");

    await openPage("Audit", "Audit log");
    await page.getByText(/Chain of \d+ events verifies/).waitFor();
    await browser.screenshot("auditor-audit-1280");
    await logOut();
  });

  it("names what needs attention and links it; shows key state, newest audit first, invalidity dates (issue 23)", async () => {
    const { page } = browser;
    // A second intermediate whose key is gone from the token, and a certificate without an OCSP answer.
    const second = await kw.services.ca.createIntermediate(
      { id: "issuing-2", keyType: "p256", commonName: "Issuing 2", validityDays: 365 },
      { makeDefault: false },
      { id: "test", name: "test", kind: "system" },
    );
    await kw.services.hsm.signingKeys.destroyKeyPair(second.keyUri);
    await kw.services.database.db.deleteFrom("ocsp_responses").where("serial", "=", leaves.other.serial).execute();
    // Revoked with an invalidity date: the key was known compromised two days earlier.
    const invalidity = new Date(clock.now().getTime() - 2 * 86_400_000);
    invalidity.setUTCMilliseconds(0);
    const compromised = await issue("compromised", opensslCsr(kw.dir, "compromised").csr);
    const revoked = await kw.api(`/api/v1/certificates/${compromised.serial}/revoke`, {
      body: { reason: "keyCompromise", invalidityDate: invalidity.toISOString() },
    });
    expect(revoked.status).toBe(200);

    await logIn(admin);
    await expect.poll(() => page.locator(".who").textContent()).toMatch(/session expires in \d+ min/);
    const caWarning = page.locator(".warnings li", { hasText: "ca-key:issuing-2" });
    await caWarning.waitFor();
    expect(await caWarning.textContent()).toContain("cannot sign: CA key issuing-2 missing from token keyward");
    expect(await caWarning.getAttribute("class")).toContain("critical");
    // The scrolling region (TableWrap), not the section around it that has the same name.
    const hierarchy = page.locator("section.table-wrap[aria-label='CA hierarchy']");
    expect(await hierarchy.locator("#ca-issuing-2").textContent()).toContain("missing");
    expect(await hierarchy.locator("#ca-root").textContent()).toContain("online");
    expect(await hierarchy.locator("#ca-root").textContent()).toContain("checked against the root CRL");
    expect(await hierarchy.locator("#ca-root").textContent()).not.toContain("offline");
    await browser.screenshot("admin-overview-key-missing-1280");
    // The OCSP warning names the certificate; its link opens the certificate's page.
    const ocspWarning = page.locator(".warnings li", { hasText: "no pre-signed OCSP answer" });
    expect(await ocspWarning.textContent()).toContain(leaves.other.serial);
    await ocspWarning.getByRole("link", { name: leaves.other.serial }).click();
    await page.getByRole("heading", { name: `Certificate ${leaves.other.serial}` }).waitFor();

    await page.goto(`${kw.url}/console/#/certificates/${compromised.serial}`);
    await page.getByRole("heading", { name: `Certificate ${compromised.serial}` }).waitFor();
    await page.getByText("Invalidity date").waitFor();
    expect(await page.locator("dl.facts").textContent()).toContain(invalidity.toISOString().slice(0, 10));
    await browser.screenshot("admin-certificate-invalidity-1280");

    await openPage("Keys", "Keys");
    const card = page.locator("article.key", { hasText: "payments" });
    const facts = await card.locator("dl.facts").textContent();
    expect(facts).toMatch(/Primary versionv\d+ \(encrypts and wraps\)/);
    expect(facts).toContain("in the token (HSM), never extractable");
    expect(facts).toContain("not escrowed");
    expect(facts).toContain("flag the distribution as exposed");
    await browser.screenshot("admin-keys-facts-1280");

    // The audit log: newest first, details as name/value pairs rather than raw JSON.
    await openPage("Audit", "Audit log");
    const rows = page.getByRole("region", { name: "Audit events" }).locator("tbody tr");
    await expect.poll(() => rows.count()).toBeGreaterThan(5);
    const seqs = (await rows.locator("td:first-child").allTextContents()).map(Number);
    expect(seqs).toEqual([...seqs].sort((a, b) => b - a));
    const revocation = rows.filter({ hasText: "certificate.revoke" }).first();
    expect(await revocation.locator("dl.details dt").allTextContents()).toContain("reason");
    expect(await revocation.textContent()).not.toContain("{");
    await browser.screenshot("admin-audit-newest-1280");

    // At a phone's width the CA hierarchy stacks its rows: nothing in it is cut off or scrolled.
    await page.setViewportSize(PHONE);
    await openPage("Overview", "Overview");
    const region = page.locator("section.table-wrap[aria-label='CA hierarchy']");
    await region.locator("#ca-issuing-2").waitFor();
    await browser.screenshot("admin-overview-key-missing-phone");
    expect(await region.evaluate((el) => [el.scrollWidth, el.clientWidth])).toEqual([
      await region.evaluate((el) => el.clientWidth),
      await region.evaluate((el) => el.clientWidth),
    ]);
    expect(await fitsWidth()).toBe(true);
    await page.setViewportSize(DESKTOP);
    await logOut();
  });

  it("logs a person in with a recovery code and enrols a new authenticator from a QR code", async () => {
    const { page } = browser;
    const rita = await createPerson(kw, clock, "rita", "auditor");
    await page.goto(`${kw.url}/console/`);
    await page.getByLabel("Name").fill("rita");
    await page.getByLabel("Password").fill(rita.password);
    await page.getByRole("button", { name: "Lost your authenticator? Use a recovery code" }).click();
    await page.getByLabel("Recovery code").fill(rita.recoveryCodes[0]!);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByRole("heading", { name: "Enrol a new authenticator" }).waitFor();
    expect(await page.getByRole("navigation", { name: "Main" }).count()).toBe(0);
    await page.getByRole("button", { name: "Show the QR code" }).click();
    const qr = page.getByRole("img", { name: "QR code of the new authenticator" });
    await qr.waitFor();
    // The CSP lets the data: image load: it has real pixels.
    await expect.poll(() => qr.evaluate((img) => (img as HTMLImageElement).naturalWidth)).toBeGreaterThan(0);
    await browser.screenshot("recovery-enrol-1280");
    await page.setViewportSize(PHONE);
    expect(await fitsWidth()).toBe(true);
    await browser.screenshot("recovery-enrol-phone");
    await page.setViewportSize(DESKTOP);
    const uri = (await page.locator("main p.mono").textContent())!;
    clock.nextStep();
    await page.getByLabel("First code from the new app").fill(totpCode(secretOf(uri), clock.now()));
    await page.getByRole("button", { name: "Confirm" }).click();
    await page.getByRole("heading", { name: "Overview", level: 1 }).waitFor();
    const events = await kw.services.audit.search({ targetId: rita.id, action: "user.totp.enrol", limit: 5 });
    expect(events).toHaveLength(1);
    await logOut();
  });

  it("shows an altered audit event as a broken chain, on the overview and the audit page", async () => {
    const { page } = browser;
    await kw.services.database.db
      .updateTable("audit_events")
      .set({ actor_name: "mallory" })
      .where("seq", "=", 3)
      .execute();
    await logIn(admin);
    await page.getByText("the audit chain does not verify: an event was altered or removed").waitFor();
    await page.getByText("First problem: event 3 altered.").waitFor();
    await browser.screenshot("admin-overview-audit-broken-1280");
    await openPage("Audit", "Audit log");
    await page.getByText(/do not verify: event 3 altered/).waitFor();
    await browser.screenshot("admin-audit-broken-1280");
    await logOut();
  });

  it("shows a key pair's public key and certificate, and signs a test message in the token", async () => {
    const { page } = browser;
    const created = await kw.api("/api/v1/keys", { body: { name: "releases", algorithm: "ECDSA-P256" } });
    const { id } = (await created.json()) as { id: string };
    await logIn(admin);
    await openPage("Keys", "Keys");
    const card = page.getByRole("article").filter({ has: page.getByRole("heading", { name: /releases/ }) });
    await card.getByText("Public key (version 1)").click();
    await card.getByText("-----BEGIN PUBLIC KEY-----", { exact: false }).waitFor();
    await card.getByText("No version is certified.").waitFor();
    await card.getByRole("button", { name: "Sign test message" }).click();
    await card.getByText("Version 1 signed with ES256 in the token; verified with version 1.").waitFor();
    await browser.screenshot("admin-keys-key-pair-1280");
    const uses = (await (await kw.api(`/api/v1/audit?action=key.sign&target=${id}`)).json()) as {
      items: Array<{ outcome: string }>;
    };
    expect(uses.items.map((e) => e.outcome)).toEqual(["success"]);
    await logOut();
  });

  it("ends the session when it expires: back to the login page, nothing shown", async () => {
    const { page } = browser;
    await logIn(admin);
    // The server's clock moves past the 15-minute session; the next call is refused and the
    // console returns to the login form.
    for (let i = 0; i < 31; i++) clock.nextStep();
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Certificates" }).click();
    await page.getByText("Your session ended. Log in again.").waitFor();
    expect(await page.getByRole("navigation", { name: "Main" }).count()).toBe(0);
    await browser.screenshot("session-expired-1280");
    // The refused call is the one console error expected here (Chromium logs every 4xx fetch).
    const errors = browser.takeErrors();
    expect(errors.length).toBeGreaterThan(0);
    for (const error of errors) expect(error).toMatch(/status of 401/);
  });
});
