// Page context and events on the demo, in a real browser: three real page loads and one
// pushState, the lead's page attributes and event note in the mock, shown by the inbox, and
// the query string of the landing URL in no request. Also a tab clicked before the companion
// loaded, and the History API fallback, for browsers without the Navigation API: the site's
// router keeps working.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withProxyAndBrowser, demoLeads } from './harness.mjs';

const env = withProxyAndBrowser();

/** A page that records every request body sent to the proxy. */
async function recordingPage(context) {
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  const bodies = [];
  page.on('request', (request) => { if (['PUT', 'POST'].includes(request.method())) bodies.push(request.postData() ?? ''); });
  return { page, bodies, pageErrors };
}

/** The lead of `uuid` once `ready(attributes)` holds (the mock is read every 200 ms, 10 s at most). */
async function leadWhen(uuid, ready) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const lead = (await demoLeads(env.proxy.url)).find((l) => l.uuid === uuid);
    const attributes = Object.fromEntries((lead?.profile.userDetails.attributes ?? []).map((a) => [a.key, a.value]));
    if (lead && ready(attributes)) return { lead, attributes };
    if (Date.now() > deadline) throw new Error(`lead ${uuid} not ready: ${JSON.stringify(lead)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

test('three page loads and a pushState tab: visits, last page, trail and the event reach the lead and the inbox', { timeout: 60_000 }, async () => {
  const context = await env.browser.newContext();
  const { page, bodies, pageErrors } = await recordingPage(context);

  // Load 1: the shop, from a link whose query carries what must never leave the page.
  await page.goto(`${env.proxy.url}/?utm_source=mail&email=ann%40leak.example&token=s3cr3t#access_token=f4ke`);
  await page.click('.rk-bubble');
  const uuid = await page.evaluate(() => sessionStorage.getItem('Reekolect_uuid'));
  // Sent before leaving (else it goes with keepalive, and the next page waits out its lease).
  await leadWhen(uuid, (a) => a.page_trail === '/');
  // Load 2: the care guide.
  await Promise.all([page.waitForURL('**/care/'), page.click('nav a[href="/care/"]')]);
  await page.waitForSelector('.tabs a[aria-selected=true]');
  // One pushState: the "Light" tab changes the address without a page load.
  const loads = [];
  page.on('load', () => loads.push(page.url()));
  await page.click('.tabs a[href="/care/light/"]');
  assert.equal(new URL(page.url()).pathname, '/care/light/');
  assert.equal(await page.title(), 'Light — Fernwood care guide');
  assert.deepEqual(loads, [], 'the tab loads no page');
  await page.click('#book-visit');
  await page.waitForSelector('#book-status.ok');
  // The event's update is sent; the tab's page context may not be: it goes 100 ms after the
  // click (the title settles), so the event's batch can leave without it. Sent before leaving,
  // as on load 1 (else it goes with keepalive, and the next page waits out its lease).
  await leadWhen(uuid, (a) => a.page_trail === '/ › /care/ › /care/light/');
  // Load 3: back to the shop.
  await Promise.all([page.waitForURL(`${env.proxy.url}/`), page.click('a.brand')]);

  const trail = '/ › /care/ › /care/light/ › /';
  const { lead, attributes } = await leadWhen(uuid, (a) => a.page_trail === trail);
  assert.equal(attributes.visits, '1');
  assert.equal(attributes.last_page, '/ — Fernwood Plant Studio — houseplants delivered');
  assert.match(attributes.first_seen, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.match(attributes.last_seen, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.ok(attributes.first_seen < attributes.last_seen, `${attributes.first_seen} < ${attributes.last_seen}`);
  assert.equal(attributes.last_event, 'care visit requested');
  assert.deepEqual(lead.profile.notes.map(({ title, description }) => ({ title, description })),
    [{ title: 'care visit requested', description: 'topic: light\nurgent: false' }]);

  assert.ok(bodies.length >= 3, `${bodies.length} requests`);
  for (const body of bodies) {
    for (const secret of ['leak', 's3cr3t', 'f4ke', 'utm_', 'token', '?']) {
      assert.ok(!body.includes(secret), `${secret} in ${body}`);
    }
  }

  // The inbox shows the visits, the last page and the trail, and the event.
  const inbox = await context.newPage();
  await inbox.goto(`${env.proxy.url}/inbox.html`);
  const row = inbox.locator(`tr[data-uuid="${uuid}"]`);
  await row.waitFor({ timeout: 10_000 });
  const text = await row.innerText();
  assert.match(text, /1 visit\b/);
  assert.match(text, /Last: \/ — Fernwood Plant Studio/);
  assert.match(text, /Trail: \/ › \/care\/ › \/care\/light\/ › \//);
  assert.match(text, /care visit requested: topic: light, urgent: false/);
  assert.match(text, /Last event: care visit requested/);
  assert.deepEqual(pageErrors, []);
  await context.close();
});

test('a tab clicked before the companion has loaded: the page the visitor landed on stays in the trail', { timeout: 30_000 }, async () => {
  const context = await env.browser.newContext();
  const uuid = '7e6d5c4b-3a29-4180-9f6e-5d4c3b2a1908';
  await context.addInitScript((id) => sessionStorage.setItem('Reekolect_uuid', id), uuid);
  // A slow machine or network: the companion (which loads after the page) starts only once
  // the visitor has clicked a tab, so its navigation listeners never saw the landing page.
  let clicked;
  const tabClicked = new Promise((resolve) => { clicked = resolve; });
  await context.route('**/reekolect_companion_bg.wasm', async (route) => { await tabClicked; await route.continue(); });
  const { page, bodies, pageErrors } = await recordingPage(context);
  await page.goto(`${env.proxy.url}/care/?token=s3cr3t#access_token=f4ke`);
  await page.click('.tabs a[href="/care/light/"]');
  assert.equal(new URL(page.url()).pathname, '/care/light/');
  clicked();
  const { attributes } = await leadWhen(uuid, (a) => a.page_trail);
  assert.equal(attributes.page_trail, '/care/ › /care/light/', 'the landing page, then the tab');
  assert.equal(attributes.last_page, '/care/light/ — Light — Fernwood care guide');
  for (const body of bodies) {
    for (const secret of ['s3cr3t', 'f4ke', 'token', '?']) assert.ok(!body.includes(secret), `${secret} in ${body}`);
  }
  assert.deepEqual(pageErrors, []);
  await context.close();
});

test('without the Navigation API, pushState and popstate still count, and the History API is left as it is', { timeout: 60_000 }, async () => {
  const context = await env.browser.newContext();
  // An older browser: no window.navigation, so the companion listens to popstate and looks
  // at the address for pushState (it never wraps the site's History API).
  await context.addInitScript(() => {
    Object.defineProperty(window, 'navigation', { value: undefined, configurable: true });
  });
  const uuid = '3c2b1a09-8f7e-4d6c-9b5a-4f3e2d1c0b9a';
  await context.addInitScript((id) => sessionStorage.setItem('Reekolect_uuid', id), uuid);
  const { page, pageErrors } = await recordingPage(context);
  await page.goto(`${env.proxy.url}/care/`);
  await page.waitForFunction(() => window.navigation === undefined && document.querySelector('.tabs a[aria-selected=true]'));
  await leadWhen(uuid, (a) => a.page_trail === '/care/');
  const router = await page.evaluate(async () => {
    await new Promise((resolve) => setTimeout(resolve, 300)); // the companion has started
    const returned = history.pushState({ tab: 'light' }, '', '/care/light/?ref=router');
    const state = history.state;
    let thrown = null;
    try {
      history.pushState(null, '', 'https://elsewhere.example/'); // the browser refuses another origin
    } catch (error) {
      thrown = error.name;
    }
    const native = [history.pushState, history.replaceState].every((f) => /\[native code\]/.test(String(f)));
    return { returned, state, thrown, path: location.pathname, native };
  });
  assert.deepEqual(router, { returned: undefined, state: { tab: 'light' }, thrown: 'SecurityError', path: '/care/light/', native: true });
  await leadWhen(uuid, (a) => a.page_trail === '/care/ › /care/light/'); // seen by the look at the address
  await page.goBack(); // popstate
  assert.equal(new URL(page.url()).pathname, '/care/');
  const { attributes } = await leadWhen(uuid, (a) => a.page_trail === '/care/ › /care/light/ › /care/');
  assert.equal(attributes.last_page, '/care/ — Watering — Fernwood care guide');
  assert.deepEqual(pageErrors, []);
  await context.close();
});

test('the <script> include takes data-track-pages, and its queue takes track', { timeout: 30_000 }, async () => {
  const context = await env.browser.newContext();
  const uuid = '5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a';
  await context.addInitScript((id) => sessionStorage.setItem('Reekolect_uuid', id), uuid);
  const page = `<!doctype html><html><head><title>Include</title>
    <script id="Reekolect-messenger-widget" src="/widget/none.js" defer>demoBot01,demoCustomer01</script>
    <script>
    !function(w,r){r=w.reekolect=w.reekolect||[];["identify","setAttributes","addTags","addNote","setStatus","assignAgent","updateLead","flush","reset","on","off","captureForms","captureForm","setConsent","track"].forEach(function(m){r[m]=r[m]||function(){r.push([m].concat([].slice.call(arguments)))}})}(window);
    reekolect.track('include loaded', { queued: true });
    </script>
    <script async src="/pkg/reekolect-companion.js" data-proxy-url="/" data-track-pages></script>
    </head><body>include</body></html>`;
  await context.route('**/include/page.html?*', (route) => route.fulfill({ contentType: 'text/html', body: page }));
  const tab = await context.newPage();
  const pageErrors = [];
  tab.on('pageerror', (error) => pageErrors.push(error.message));
  await tab.goto(`${env.proxy.url}/include/page.html?token=s3cr3t`);
  const { lead, attributes } = await leadWhen(uuid, (a) => a.page_trail === '/include/page.html' && a.last_event);
  assert.equal(attributes.last_page, '/include/page.html — Include');
  assert.equal(attributes.last_event, 'include loaded');
  assert.deepEqual(lead.profile.notes.map((n) => [n.title, n.description]), [['include loaded', 'queued: true']]);
  assert.deepEqual(pageErrors, []);
  await context.close();
});
