import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchBrowser, PHONE, type TestBrowser } from "../helpers/browser.js";
import { startKeyward, type TestKeyward, testActor, writeFile } from "../helpers/keyward.js";
import { createPerson, type Person, SteppingClock } from "../helpers/people.js";
import { krlQuery, sshKeygen } from "../helpers/ssh.js";

// The console's SSH page in a real browser (Debian's chromium) against a real Keyward.
const clock = new SteppingClock();
let kw: TestKeyward;
let browser: TestBrowser;
let auditor: Person;
let admin: Person;
const serials: string[] = [];
const certFiles: string[] = [];

beforeAll(async () => {
  kw = await startKeyward({ clock });
  await kw.services.ssh.init(testActor);
  auditor = await createPerson(kw, clock, "audrey", "auditor");
  admin = await createPerson(kw, clock, "olivia", "admin");
  for (const [name, principals] of [
    ["alice", ["alice"]],
    ["alice-laptop", ["alice", "deploy"]],
    ["bob", ["bob"]],
  ] as const) {
    const res = await kw.api("/api/v1/ssh/certificates", {
      body: { publicKey: sshKeygen(kw.dir, name).pub, type: "user", principals },
    });
    expect(res.status).toBe(201);
    const signed = (await res.json()) as { serial: string; certificate: string };
    serials.push(signed.serial);
    certFiles.push(writeFile(kw.dir, `${name}-cert.pub`, `${signed.certificate}\n`));
  }
  expect(
    (await kw.api(`/api/v1/ssh/certificates/${serials[0]}/revoke`, { body: { reason: "superseded" } })).status,
  ).toBe(200);
  browser = await launchBrowser("console-ssh");
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await kw?.close();
});

async function logIn(person: Person) {
  const { page } = browser;
  await page.goto(`${kw.url}/console/`);
  await page.getByLabel("Name").fill(person.name);
  await page.getByLabel("Password").fill(person.password);
  await page.getByLabel("Authenticator code").fill(person.otp());
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "SSH" }).click();
  await page.getByRole("heading", { name: "SSH certificates", level: 1 }).waitFor();
}

describe("the console's SSH page", { timeout: 120_000 }, () => {
  it("finds a person's SSH certificates by principal with their status, on a desktop and a phone", async () => {
    const { page } = browser;
    await logIn(auditor);
    await page.getByLabel("Principal").fill("alice");
    await page.getByRole("button", { name: "Search" }).click();
    await page.getByText("2 SSH certificates").waitFor();
    const rows = page.getByRole("region", { name: "SSH certificates found" }).locator("tbody tr");
    expect(await rows.count()).toBe(2);
    const revoked = rows.filter({ hasText: serials[0]! });
    expect(await revoked.textContent()).toMatch(/revoked[\s\S]*superseded/);
    expect(await rows.filter({ hasText: serials[1]! }).textContent()).toMatch(/alice, deploy[\s\S]*valid/);
    expect(await rows.filter({ hasText: serials[2]! }).count()).toBe(0);
    // An auditor changes nothing: no revoke button.
    expect(await page.getByRole("button", { name: /Revoke SSH certificate/ }).count()).toBe(0);
    await browser.screenshot("ssh-desktop");
    await page.setViewportSize(PHONE);
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
    await browser.screenshot("ssh-phone");
    expect(browser.takeErrors()).toEqual([]);
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.getByRole("button", { name: "Log out" }).click();
  });

  it("lets an admin revoke one with a reason; the KRL lists it", async () => {
    const { page } = browser;
    await logIn(admin);
    await page.getByLabel("Principal").fill("bob");
    await page.getByRole("button", { name: "Search" }).click();
    await page.getByRole("button", { name: `Revoke SSH certificate ${serials[2]}` }).click();
    const dialog = page.getByRole("dialog", { name: "Revoke this SSH certificate?" });
    await dialog.getByLabel("Reason").selectOption("keyCompromise");
    await dialog.getByText("Its key will be blocked").waitFor();
    await browser.screenshot("ssh-revoke-dialog");
    await dialog.getByRole("button", { name: "Revoke" }).click();
    await page
      .getByRole("status")
      .filter({ hasText: `SSH certificate ${serials[2]} revoked (keyCompromise)` })
      .waitFor();
    const row = page.getByRole("region", { name: "SSH certificates found" }).locator("tbody tr");
    // The status shows before the list reloads: wait for the row to follow.
    await expect.poll(() => row.textContent()).toMatch(/revoked[\s\S]*keyCompromise/);
    const krl = await kw.api("/ssh/revoked.krl", { token: null });
    const file = writeFile(kw.dir, "console.krl", Buffer.from(await krl.arrayBuffer()));
    expect(krlQuery(file, certFiles[2]!).revoked).toBe(true);
    expect(krlQuery(file, certFiles[1]!).revoked).toBe(false);
    expect(browser.takeErrors()).toEqual([]);
  });
});
