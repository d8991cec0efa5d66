// Under a strict Content-Security-Policy the demo works with no violation; without
// 'wasm-unsafe-eval' the page still works and the console says exactly what to add.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withProxyAndBrowser, demoLeads } from './harness.mjs';

const env = withProxyAndBrowser();

/** The exact policy the README recommends. */
const STRICT = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'; style-src 'self'; "
  + "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/** A page of the demo served with `policy` as its CSP header, recording violations and errors. */
async function pageUnder(policy) {
  const context = await env.browser.newContext();
  await context.route(`${env.proxy.url}/`, async (route) => {
    const response = await route.fetch();
    await route.fulfill({ response, headers: { ...response.headers(), 'content-security-policy': policy } });
  });
  await context.addInitScript(() => {
    window.violations = [];
    document.addEventListener('securitypolicyviolation', (e) => window.violations.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  const page = await context.newPage();
  const seen = { pageErrors: [], consoleErrors: [] };
  page.on('pageerror', (error) => seen.pageErrors.push(error.message));
  page.on('console', (message) => { if (message.type() === 'error') seen.consoleErrors.push(message.text()); });
  const response = await page.goto(`${env.proxy.url}/`);
  assert.equal(response.headers()['content-security-policy'], policy);
  return { context, page, seen };
}

test('the demo works under a strict CSP, with no violation', { timeout: 30_000 }, async () => {
  const { context, page, seen } = await pageUnder(STRICT);
  await page.click('.rk-bubble');
  await page.fill('input[name=name]', 'Strict Policy');
  await page.fill('input[name=email]', 'csp@example.com');
  await page.click('#contact-form button[type=submit]');
  await page.waitForSelector('#contact-form .form-status.ok', { timeout: 10_000 });
  const uuid = await page.evaluate(() => sessionStorage.getItem('Reekolect_uuid'));
  assert.equal((await demoLeads(env.proxy.url)).find((l) => l.uuid === uuid)?.profile.userDetails.name, 'Strict Policy');
  assert.deepEqual(await page.evaluate(() => window.violations), []);
  assert.deepEqual(seen.pageErrors, []);
  assert.deepEqual(seen.consoleErrors, []);
  await context.close();
});

test("without 'wasm-unsafe-eval': a clear console error, and the page still works", { timeout: 30_000 }, async () => {
  const { context, page, seen } = await pageUnder(STRICT.replace(" 'wasm-unsafe-eval'", ''));
  await page.waitForFunction(() => window.violations.length > 0, null, { timeout: 10_000 });
  await page.click('.rk-bubble'); // the site's own scripts are unaffected
  assert.equal(await page.isVisible('.rk-panel'), true);
  const explained = seen.consoleErrors.filter((text) => text.includes("add 'wasm-unsafe-eval' to script-src"));
  assert.equal(explained.length, 1, `console errors: ${JSON.stringify(seen.consoleErrors)}`);
  assert.deepEqual(seen.pageErrors, [], 'no uncaught exception on the host page');
  await context.close();
});
