// Two tabs of one visitor (a duplicated tab shares sessionStorage, so the visitor UUID):
// one lead, and every update sent exactly once, even when a tab closes with updates unsent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withProxyAndBrowser, demoLeads } from './harness.mjs';

const env = withProxyAndBrowser();

const PAGE = `<!doctype html><html><head>
  <script id="Reekolect-messenger-widget" src="/widget/none.js" defer>tabsBot,tabsCustomer</script>
  <script type="module">
    import { init } from '/pkg/index.js';
    window.rk = await init({ proxyUrl: '/', batchWindowMs: 50, retryBaseMs: 200, retryMaxMs: 400 });
  </script></head><body>tab</body></html>`;

/** Opens the page, gives it a visitor, and duplicates the tab the way a script can. */
async function twoTabsOfOneVisitor(uuid) {
  const context = await env.browser.newContext();
  await context.route('**/tab.html', (route) => route.fulfill({ contentType: 'text/html', body: PAGE }));
  const bodies = [];
  context.on('requestfinished', async (request) => {
    if (request.method() !== 'PUT') return;
    const response = await request.response();
    if (response?.ok()) bodies.push(JSON.parse(request.postData()));
  });
  const first = await context.newPage();
  await first.goto(`${env.proxy.url}/tab.html`);
  await first.evaluate((id) => sessionStorage.setItem('Reekolect_uuid', id), uuid);
  const [second] = await Promise.all([context.waitForEvent('page'), first.evaluate(() => window.open(location.href))]);
  for (const page of [first, second]) await page.waitForFunction(() => window.rk !== undefined);
  assert.equal(await second.evaluate(() => window.rk.context().uuid), uuid, 'the duplicate has the same visitor');
  return { context, first, second, bodies };
}

/** How many accepted PUTs carried each attribute key. */
function sends(bodies) {
  const count = new Map();
  for (const body of bodies) for (const { key } of body.attributes ?? []) count.set(key, (count.get(key) ?? 0) + 1);
  return count;
}

async function noteTitlesOf(uuid) {
  const lead = (await demoLeads(env.proxy.url, 'tabsBot', 'tabsCustomer')).find((l) => l.uuid === uuid);
  return (lead?.profile.notes ?? []).map((note) => note.title);
}

async function attributesOf(uuid) {
  const lead = (await demoLeads(env.proxy.url, 'tabsBot', 'tabsCustomer')).find((l) => l.uuid === uuid);
  return new Map((lead?.profile.userDetails.attributes ?? []).map((a) => [a.key, a.value]));
}

test('both tabs of a visitor update one lead, each update sent once', { timeout: 30_000 }, async () => {
  const uuid = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';
  const { context, first, second, bodies } = await twoTabsOfOneVisitor(uuid);
  const burst = (prefix) => async (p) => {
    for (let i = 0; i < 30; i++) {
      window.rk.setAttributes({ [p + i]: i });
      if (i % 5 === 4) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await window.rk.flush();
  };
  await Promise.all([first.evaluate(burst('a'), 'a'), second.evaluate(burst('b'), 'b')]);
  await Promise.all([first.evaluate(() => window.rk.flush()), second.evaluate(() => window.rk.flush())]);
  await first.waitForTimeout(200);
  const arrived = await attributesOf(uuid);
  const counts = sends(bodies);
  for (const p of ['a', 'b']) {
    for (let i = 0; i < 30; i++) {
      assert.equal(arrived.get(p + i), String(i), `${p}${i} missing from the lead`);
      assert.equal(counts.get(p + i), 1, `${p}${i} sent ${counts.get(p + i)} times`);
    }
  }
  await context.close();
});

test('a tab closed with unsent updates: they arrive, once', { timeout: 50_000 }, async () => {
  // Notes, not attributes: the mock appends every note it is sent, so a second delivery shows
  // in the lead itself, whichever tab or transport made it (the closing tab's keepalive POST
  // can get past this page's route once the page is gone; the other tab then must not send
  // them again).
  const uuid = '1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d';
  const { context, first, second } = await twoTabsOfOneVisitor(uuid);
  // This tab cannot get through (the update's id rides in the query: match the path).
  await first.route((url) => url.pathname === '/lead', (route) => route.abort('internetdisconnected'));
  await first.evaluate(async () => {
    for (let i = 0; i < 10; i++) window.rk.addNote({ title: 'c' + i });
    await new Promise((resolve) => setTimeout(resolve, 300)); // tried, failed, parked for a retry
  });
  await first.close({ runBeforeUnload: true });
  // Waited for: every note in the lead, and no outbox left in storage, so the other tab has
  // adopted the closed tab's updates and sent them again (their keepalive POST may have got
  // through, unanswered): a second delivery would have shown by then, however long the
  // closed tab's lease on them was.
  const outboxes = () => second.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('reekolect:outbox:')));
  const deadline = Date.now() + 30_000;
  let titles = [];
  let left = ['?'];
  while (Date.now() < deadline && (new Set(titles).size < 10 || left.length > 0)) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    [titles, left] = [await noteTitlesOf(uuid), await outboxes()];
  }
  assert.deepEqual(left, [], 'every update settled');
  titles = await noteTitlesOf(uuid);
  for (let i = 0; i < 10; i++) {
    const times = titles.filter((title) => title === 'c' + i).length;
    assert.equal(times, 1, `c${i} arrived ${times} times`);
  }
  await second.close();
  await context.close();
});
