import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";

/** Debian's chromium (installed by .ci/run and npm test when missing): a browser we did not build. */
export const CHROMIUM = process.env.KEYWARD_TEST_CHROMIUM ?? "/usr/bin/chromium";
/** Screenshots land here (git-ignored), one folder per test file. */
export const ARTIFACTS = resolve(import.meta.dirname, "../../test-artifacts");

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

export interface TestBrowser {
  page: Page;
  context: BrowserContext;
  /** Console errors and uncaught exceptions seen since the last call (then cleared). */
  takeErrors(): string[];
  /** Saves a full-page PNG under test-artifacts/<folder>/<name>.png. */
  screenshot(name: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * Headless chromium with a fresh user data dir (no state from any earlier run), one page, and
 * every console error and page exception recorded so a test can fail on them.
 */
export async function launchBrowser(folder: string): Promise<TestBrowser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  const profile = mkdtempSync(join(tmpdir(), "keyward-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu"],
    viewport: DESKTOP,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  // Every step here takes well under a second; a failure should not wait 30 s per later step.
  page.setDefaultTimeout(10_000);
  const errors: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(`console: ${message.text()} (${message.location().url})`);
  });
  page.on("pageerror", (error) => errors.push(`page error: ${error.message}`));
  const dir = join(ARTIFACTS, folder);
  mkdirSync(dir, { recursive: true });
  return {
    page,
    context,
    takeErrors: () => errors.splice(0),
    async screenshot(name) {
      const path = join(dir, `${name}.png`);
      await page.screenshot({ path, fullPage: true });
      return path;
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
