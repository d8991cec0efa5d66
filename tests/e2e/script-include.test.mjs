// The <script async> include: the inline snippet queues calls before the file loads, they
// replay in order after it loads, and the same global keeps working afterwards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withProxyAndBrowser, demoLeads } from './harness.mjs';

const env = withProxyAndBrowser();

test('calls queued before load replay in order, then push and methods keep working', { timeout: 60_000 }, async () => {
  const uuid = '0b9e8f2a-5c1d-4e7b-9a3f-2d4c6b8a1e0f';
  const context = await env.browser.newContext();
  // The visitor already opened the chat earlier in this tab session.
  await context.addInitScript((id) => sessionStorage.setItem('Reekolect_uuid', id), uuid);
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  const puts = [];
  page.on('request', (request) => { if (request.method() === 'PUT') puts.push(JSON.parse(request.postData())); });
  // Hold the include back so that the page's calls certainly come before it.
  let release;
  const held = new Promise((resolve) => { release = resolve; });
  await page.route('**/pkg/reekolect-companion.js', async (route) => { await held; await route.continue(); });

  await page.goto(`${env.proxy.url}/newsletter.html`, { waitUntil: 'domcontentloaded' });
  const before = await page.evaluate(() => {
    window.reekolect.push(['setAttributes', { step: 'one' }]);
    window.reekolect.setAttributes({ step: 'two' }); // the snippet's stub queues too
    window.reekolect.push(['addTags', ['first']], ['addTags', ['second']]);
    window.reekolect.push(['setStatus', 'nonsense']); // invalid: reported, loses nothing else
    window.reekolect.push(['noSuchMethod']);
    return { queued: window.reekolect.length, loaded: !!window.reekolect.loaded };
  });
  assert.deepEqual(before, { queued: 10, loaded: false }); // 1 from the page head + 3 on() + 6 here
  release();
  await page.waitForFunction(() => window.reekolect.loaded === true);
  await page.evaluate(() => window.reekolect.flush());
  assert.equal(puts.length, 1, `queued calls must travel as one request, got ${puts.length}`);
  assert.deepEqual(puts[0].attributes, [{ key: 'landing', value: 'newsletter' }, { key: 'step', value: 'two' }]);
  assert.deepEqual(puts[0].tags, ['first', 'second']);
  assert.equal(puts[0].status, undefined);

  // After load: the form uses push(), and direct methods return promises.
  await page.fill('input[name=email]', 'Reader@Example.org');
  await page.click('button[type=submit]');
  await page.waitForSelector('#form-status.ok', { timeout: 10_000 });
  const answer = await page.evaluate(() => window.reekolect.addNote({ title: 'Asked for rare plants' }));
  assert.deepEqual(answer, { success: true, message: 'ok', code: 200 });

  const lead = (await demoLeads(env.proxy.url)).find((l) => l.uuid === uuid);
  assert.equal(lead.profile.userDetails.contact.email, 'Reader@example.org');
  assert.deepEqual(lead.profile.userDetails.tags, ['first', 'second', 'newsletter']);
  assert.deepEqual(lead.profile.notes.map((n) => n.title), ['Asked for rare plants']);
  assert.deepEqual(pageErrors, []);
  await context.close();
});

test('a burst of ten calls through the global is one request', { timeout: 30_000 }, async () => {
  const context = await env.browser.newContext();
  await context.addInitScript(() => sessionStorage.setItem('Reekolect_uuid', '5d2c7a10-3b4e-4f6a-8c9d-0e1f2a3b4c5d'));
  const page = await context.newPage();
  const puts = [];
  page.on('request', (request) => { if (request.method() === 'PUT') puts.push(request.url()); });
  await page.goto(`${env.proxy.url}/newsletter.html`);
  await page.waitForFunction(() => window.reekolect.loaded === true);
  await page.evaluate(() => window.reekolect.flush()); // what the page head queued
  puts.length = 0;
  await page.evaluate(async () => {
    const calls = [];
    for (let i = 0; i < 10; i++) calls.push(window.reekolect.setAttributes({ ['k' + i]: i }));
    await Promise.all(calls);
  });
  assert.equal(puts.length, 1, `got ${puts.length} PUTs`);
  await context.close();
});
