// Never lose an update: one visitor, 1000 updates over several page loads, against an
// upstream that fails ~30 % of requests, answers slowly or not at all, with an offline
// spell, reloads mid-flight, and the visitor UUID appearing only after the first 50 calls.
// At the end the mock's lead must hold every update: prints `lost: N`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withProxyAndBrowser, demoLeads } from './harness.mjs';

const UPDATES = 1000;
const PAGE_LOADS = 5;
const UUID = '3f6c1a2b-8d4e-4c5f-9a7b-1e2d3c4b5a69';

// The proxy's own protections would only slow this test down: rate limits off, and no
// circuit breaker (the injected failures would open it).
const env = withProxyAndBrowser({ args: ['--ip-per-minute', '0', '--uuid-per-minute', '0', '--breaker-failures', '0'] });

/** A bare page of the site: the widget tag and the companion, tuned for a quick test. */
const PAGE = `<!doctype html><html><head>
  <script id="Reekolect-messenger-widget" src="/widget/none.js" defer>chaosBot,chaosCustomer</script>
  <script type="module">
    import { init } from '/pkg/index.js';
    window.rk = await init({ proxyUrl: '/', batchWindowMs: 100, retryBaseMs: 100, retryMaxMs: 1000, requestTimeoutMs: 1500 });
    window.rk.on('failed', ({ error }) => (window.failures ??= []).push(error.message));
  </script></head><body>chaos</body></html>`;

async function setChaos(settings) {
  const response = await fetch(`${env.proxy.url}/demo/chaos`, {
    method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(settings),
  });
  assert.equal(response.status, 200, await response.text());
}

test('1000 updates through failures, slowness, an offline spell and reloads: none lost', { timeout: 110_000 }, async () => {
  await setChaos({ failRate: 0.3, hangRate: 0.05, maxDelayMs: 400 });
  const context = await env.browser.newContext();
  await context.route('**/chaos.html', (route) => route.fulfill({ contentType: 'text/html', body: PAGE }));
  const page = await context.newPage();
  let puts = 0;
  page.on('request', (request) => { if (request.method() === 'PUT') puts += 1; });
  const pageErrors = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));

  const perLoad = UPDATES / PAGE_LOADS;
  let next = 0;
  for (let load = 0; load < PAGE_LOADS; load++) {
    if (load === 0) await page.goto(`${env.proxy.url}/chaos.html`);
    else await page.reload(); // mid-flight: earlier updates are still being retried
    await page.waitForFunction(() => window.rk !== undefined);
    const first = next;
    next += perLoad;
    await page.evaluate(async ({ first, last, uuid }) => {
      for (let i = first; i < last; i++) {
        if (i === 50) sessionStorage.setItem('Reekolect_uuid', uuid); // the visitor opens the chat
        const update = { attributes: { ['u' + i]: i } };
        if (i % 100 === 99) update.name = 'Visitor ' + i;
        window.rk.updateLead(update).catch(() => {}); // failures are counted from the lead itself
        if (i % 20 === 19) await new Promise((resolve) => setTimeout(resolve, 15));
      }
    }, { first, last: next, uuid: UUID });
    if (load === 2) {
      await context.setOffline(true); // an offline spell with updates in the outbox
      await page.waitForTimeout(1500);
      await context.setOffline(false);
    }
    await page.waitForTimeout(300);
  }

  // Let the last page drain, chaos still on.
  const deadline = Date.now() + 60_000;
  let lead;
  while (Date.now() < deadline) {
    lead = (await demoLeads(env.proxy.url, 'chaosBot', 'chaosCustomer')).find((l) => l.uuid === UUID);
    if ((lead?.profile.userDetails.attributes.length ?? 0) >= UPDATES) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  await setChaos({ failRate: 0, hangRate: 0, maxDelayMs: 0 });

  const arrived = new Map((lead?.profile.userDetails.attributes ?? []).map((a) => [a.key, a.value]));
  const lost = [];
  for (let i = 0; i < UPDATES; i++) if (arrived.get('u' + i) !== String(i)) lost.push(i);
  console.log(`sent: ${UPDATES} updates in ${puts} PUTs; arrived: ${UPDATES - lost.length}; lost: ${lost.length}`);
  assert.deepEqual(lost, [], 'updates lost');
  assert.equal(lead.profile.userDetails.name, `Visitor ${UPDATES - 1}`, 'the last name set wins');
  assert.deepEqual(await page.evaluate(() => window.failures ?? []), [], 'no update was given up');
  assert.deepEqual(pageErrors, []);
  await context.close();
});
