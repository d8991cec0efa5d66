// Each update once, through the unload race: an update sent with keepalive while its page
// goes is delivered, but the page never reads the answer, so the next page sends it again.
// The Reekolect API appends notes: without update ids (or a proxy that delivers an id once)
// the note would be in the lead twice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withProxyAndBrowser, demoLeads } from './harness.mjs';

const env = withProxyAndBrowser();

async function leadOf(uuid) {
  return (await demoLeads(env.proxy.url)).find((l) => l.uuid === uuid);
}

/** Waits until `check()` gives something truthy (every 200 ms, `ms` at most); returns it. */
async function until(check, what, ms = 30_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

test('an event tracked as the page is left arrives once, though the next page sends it again', { timeout: 60_000 }, async () => {
  const context = await env.browser.newContext();
  const uuid = '0e1d2c3b-4a59-4867-9f8e-7d6c5b4a3921';
  await context.addInitScript((id) => sessionStorage.setItem('Reekolect_uuid', id), uuid);
  // Every /lead request, with its update id and the page it came from (the closing page's
  // keepalive POST may not show here: it outlives its page).
  const sends = [];
  context.on('request', (request) => {
    const url = new URL(request.url());
    if (url.pathname !== '/lead') return;
    let from = null;
    try { from = new URL(request.frame().url()).pathname; } catch { /* no frame */ }
    const send = { method: request.method(), from, id: url.searchParams.get('updateId'), note: (request.postData() ?? '').includes('care visit requested'), status: null };
    sends.push(send);
    request.response().then((response) => { send.status = response?.status() ?? 'none'; }, () => { send.status = 'none'; });
  });
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await page.goto(`${env.proxy.url}/care/`);
  await until(async () => (await leadOf(uuid))?.profile.userDetails.attributes?.some((a) => a.key === 'page_trail'), 'the landing page in the lead');

  // Book a visit and leave at once, in one task: the event's note goes with keepalive as the
  // page goes (its batch window has not ended), and the page never sees the answer.
  const left = Date.now();
  await Promise.all([
    page.waitForURL(`${env.proxy.url}/`),
    page.evaluate(() => { document.getElementById('book-visit').click(); location.href = '/'; }),
  ]);

  // Waited for: the next page sending the same update again (its outbox adopted the closed
  // page's, the lease on the update over), and that request's answer.
  const resent = await until(() => sends.find((s) => s.note && s.from === '/' && s.status !== null),
    'the note\'s update sent again by the next page', 30_000).catch((error) => {
    throw new Error(`${error.message}; sends: ${JSON.stringify(sends)}`);
  });
  console.log(`# the next page sent the note's update again ${Date.now() - left} ms after the page was left`);
  assert.match(resent.id ?? '', /^[0-9a-f]{32}$/, 'the update carries its id');
  assert.equal(resent.status, 200, 'the repeat is answered as delivered');
  const noteIds = new Set(sends.filter((s) => s.note).map((s) => s.id));
  assert.equal(noteIds.size, 1, `one update, one id: ${JSON.stringify(sends)}`);
  // Settled: nothing left in any outbox, so nothing will be sent again.
  await until(() => page.evaluate(() => !Object.keys(localStorage).some((k) => k.startsWith('reekolect:outbox:'))), 'every outbox empty');

  const lead = await leadOf(uuid);
  const notes = lead.profile.notes.filter((n) => n.title === 'care visit requested');
  assert.equal(notes.length, 1, `the note arrived ${notes.length} times`);
  // The next page's own update (its page context) got through too.
  await until(async () => (await leadOf(uuid)).profile.userDetails.attributes.find((a) => a.key === 'page_trail')?.value.endsWith(' › /'), 'the next page in the trail');
  assert.deepEqual(pageErrors, []);
  await context.close();
});
