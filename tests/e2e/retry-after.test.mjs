// An upstream that rate-limits: its 429 with `Retry-After: 3` reaches the page through the
// proxy, and the companion waits those 3 s before trying again (its own schedule, set to
// 100-200 ms here, would have retried many times by then); the update then arrives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withProxyAndBrowser, demoLeads } from './harness.mjs';

const UUID = '5b1f7c2e-3a4d-4e6f-8a9b-0c1d2e3f4a5b';
const RETRY_AFTER_S = 3;

// No breaker, no rate limits of the proxy's own: only the upstream's answer counts.
const env = withProxyAndBrowser({ args: ['--ip-per-minute', '0', '--uuid-per-minute', '0', '--breaker-failures', '0'] });

const PAGE = `<!doctype html><html><head>
  <script id="Reekolect-messenger-widget" src="/widget/none.js" defer>retryBot,retryCustomer</script>
  <script type="module">
    import { init } from '/pkg/index.js';
    sessionStorage.setItem('Reekolect_uuid', '${UUID}');
    window.rk = await init({ proxyUrl: '/', batchWindowMs: 50, retryBaseMs: 100, retryMaxMs: 200, requestTimeoutMs: 2000 });
  </script></head><body>retry-after</body></html>`;

async function setChaos(settings) {
  const response = await fetch(`${env.proxy.url}/demo/chaos`, {
    method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(settings),
  });
  assert.equal(response.status, 200, await response.text());
}

test("the upstream's Retry-After reaches the page and delays the companion's retry", { timeout: 30_000 }, async () => {
  // Every lead update the mock gets: 429 with Retry-After.
  await setChaos({ failRate: 1, failRetryAfterS: RETRY_AFTER_S });
  const context = await env.browser.newContext();
  await context.route('**/retry-after.html', (route) => route.fulfill({ contentType: 'text/html', body: PAGE }));
  const page = await context.newPage();
  const puts = [];
  page.on('response', async (response) => {
    if (response.request().method() !== 'PUT' || new URL(response.url()).pathname !== '/lead') return;
    puts.push({ at: Date.now(), status: response.status(), retryAfter: await response.headerValue('retry-after') });
  });
  await page.goto(`${env.proxy.url}/retry-after.html`);
  await page.waitForFunction(() => window.rk !== undefined);
  // Not awaited: the update settles only once delivered.
  await page.evaluate(() => { window.rk.updateLead({ attributes: { waited: 'yes' } }).catch(() => {}); });

  const until = async (check, what, ms) => {
    const deadline = Date.now() + ms;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(puts)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  await until(() => puts.length >= 1, 'the first PUT', 10_000);
  assert.equal(puts[0].status, 429);
  assert.equal(puts[0].retryAfter, String(RETRY_AFTER_S), 'Retry-After relayed to the browser');
  // Let the next try succeed, then see when it comes.
  await setChaos({});
  await until(() => puts.some((p) => p.status === 200), 'the retry', 15_000);
  const retry = puts.find((p) => p.status === 200);
  const waited = retry.at - puts[0].at;
  console.log(`PUTs: ${puts.map((p) => p.status).join(', ')}; the retry came ${waited} ms after the 429`);
  assert.equal(puts.length, 2, 'one 429, then one retry: no retry before Retry-After');
  assert.ok(waited >= RETRY_AFTER_S * 1000 - 100, `retried after ${waited} ms, before Retry-After`);

  const lead = (await demoLeads(env.proxy.url, 'retryBot', 'retryCustomer')).find((l) => l.uuid === UUID);
  assert.deepEqual(lead?.profile.userDetails.attributes, [{ key: 'waited', value: 'yes' }]);
  await context.close();
});
