// One small API over the three engines, so that a scenario is written once and runs in
// each: Chromium through playwright-core (as the other end-to-end tests), Firefox ESR and
// WebKit over WebDriver (tests/e2e/webdriver.mjs). The engine is $E2E_ENGINE (chromium by
// default). Pages are served by the proxy from a copy of www/ plus the test pages of
// tests/e2e/site.mjs, so no engine needs request interception or init scripts: a page
// poisons what its URL says before the companion loads.
import { before, after } from 'node:test';
import { launchBrowser, startProxy } from './harness.mjs';
import { startDriver } from './webdriver.mjs';
import { makeTestSite } from './site.mjs';

/** The engine the tests of this process run in. */
export const ENGINE = process.env.E2E_ENGINE ?? 'chromium';

/** Polls `fn(arg)` in `page` until it returns something truthy; resolves to that. */
async function poll(page, fn, arg, { timeout = 10_000, what = String(fn) } = {}) {
  const deadline = Date.now() + timeout;
  let lastError;
  while (Date.now() < deadline) {
    try {
      const value = await page.evaluate(fn, arg);
      if (value) return value;
    } catch (error) {
      lastError = error; // navigating, or the page not there yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out after ${timeout} ms waiting for ${what}${lastError ? ` (last error: ${lastError.message})` : ''}`);
}

/** A Playwright page behind the shared API. */
function playwrightPage(page) {
  return {
    goto: (url) => page.goto(url).then(() => {}),
    evaluate: (fn, arg) => page.evaluate(fn, arg),
    click: (selector) => page.click(selector),
    fill: (selector, text) => page.fill(selector, text),
    select: (selector, value) => page.selectOption(selector, value).then(() => {}),
    close: () => page.close({ runBeforeUnload: true }),
  };
}

/** A browser profile (storage of its own) with pages: Playwright's context. */
async function playwrightContext(browser) {
  const context = await browser.newContext();
  return {
    newPage: async () => playwrightPage(await context.newPage()),
    close: () => context.close(),
  };
}

/**
 * A WebDriver session behind the shared API: each page is a window (tab) of the session,
 * switched to before each command.
 */
async function webdriverContext(driver) {
  const session = await driver.newSession();
  let current = await session.currentWindow();
  let first = current;
  const on = async (handle) => {
    if (current !== handle) {
      await session.switchTo(handle);
      current = handle;
    }
    return session;
  };
  return {
    async newPage() {
      let handle = first;
      first = undefined;
      if (!handle) handle = await session.newWindow();
      return {
        goto: async (url) => { await (await on(handle)).navigate(url); },
        evaluate: async (fn, arg) => (await on(handle)).evaluate(fn, arg),
        click: async (selector) => (await on(handle)).click(selector),
        fill: async (selector, text) => (await on(handle)).fill(selector, text),
        // Chosen as a visitor's pick lands: the value set, then `change`.
        select: async (selector, value) => (await on(handle)).evaluate(({ selector, value }) => {
          const select = document.querySelector(selector);
          select.value = value;
          select.dispatchEvent(new Event('change', { bubbles: true }));
        }, { selector, value }),
        close: async () => {
          await (await on(handle)).closeWindow();
          current = undefined;
        },
      };
    },
    close: () => session.quit(),
  };
}

/** Starts `name`'s browser (or driver); resolves to { name, newContext(), stop() }. */
export async function startEngine(name = ENGINE) {
  if (name === 'chromium') {
    const browser = await launchBrowser();
    return { name, newContext: () => playwrightContext(browser), stop: () => browser.close() };
  }
  const driver = await startDriver(name);
  return { name, newContext: () => webdriverContext(driver), stop: () => driver.stop() };
}

/**
 * Registers before/after hooks that start the proxy (serving www/ and the test pages) and
 * the engine's browser for the test file, and stop both. Returns the object they appear on,
 * with `waitFor(page, fn, arg, options)` to poll a page.
 */
export function withProxyAndEngine(options = {}) {
  const env = { waitFor: poll };
  before(async () => {
    env.site = makeTestSite();
    env.proxy = await startProxy({ ...options, www: env.site.dir });
    env.engine = await startEngine();
  });
  after(async () => {
    await env.engine?.stop();
    await env.proxy?.stop();
    env.site?.remove();
  });
  return env;
}
