import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchBrowser, PHONE, type TestBrowser } from "../helpers/browser.js";
import { startKeyward, type TestKeyward, testActor } from "../helpers/keyward.js";
import { createPerson, type Person, SteppingClock } from "../helpers/people.js";
import { sshKeygen } from "../helpers/ssh.js";

// The console's SSH page in a real browser (Debian's chromium) against a real Keyward.
const clock = new SteppingClock();
let kw: TestKeyward;
let browser: TestBrowser;
let auditor: Person;
const serials: string[] = [];

beforeAll(async () => {
  kw = await startKeyward({ clock });
  await kw.services.ssh.init(testActor);
  auditor = await createPerson(kw, clock, "audrey", "auditor");
  for (const [name, principals] of [
    ["alice", ["alice"]],
    ["alice-laptop", ["alice", "deploy"]],
    ["bob", ["bob"]],
  ] as const) {
    const res = await kw.api("/api/v1/ssh/certificates", {
      body: { publicKey: sshKeygen(kw.dir, name).pub, type: "user", principals },
    });
    expect(res.status).toBe(201);
    serials.push(((await res.json()) as { serial: string }).serial);
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

describe("the console's SSH page", { timeout: 120_000 }, () => {
  it("finds a person's SSH certificates by principal with their status, on a desktop and a phone", async () => {
    const { page } = browser;
    await page.goto(`${kw.url}/console/`);
    await page.getByLabel("Name").fill(auditor.name);
    await page.getByLabel("Password").fill(auditor.password);
    await page.getByLabel("Authenticator code").fill(auditor.otp());
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "SSH" }).click();
    await page.getByRole("heading", { name: "SSH certificates", level: 1 }).waitFor();
    await page.getByLabel("Principal").fill("alice");
    await page.getByRole("button", { name: "Search" }).click();
    await page.getByText("2 SSH certificates").waitFor();
    const rows = page.getByRole("region", { name: "SSH certificates found" }).locator("tbody tr");
    expect(await rows.count()).toBe(2);
    const revoked = rows.filter({ hasText: serials[0]! });
    expect(await revoked.textContent()).toMatch(/revoked[\s\S]*superseded/);
    expect(await rows.filter({ hasText: serials[1]! }).textContent()).toMatch(/alice, deploy[\s\S]*valid/);
    expect(await rows.filter({ hasText: serials[2]! }).count()).toBe(0);
    await browser.screenshot("ssh-desktop");
    await page.setViewportSize(PHONE);
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
    await browser.screenshot("ssh-phone");
    expect(browser.takeErrors()).toEqual([]);
  });
});
