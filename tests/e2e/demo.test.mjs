// The whole path in a real browser: demo page → companion (wasm) → proxy → embedded mock API.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withProxyAndBrowser, demoLeads } from './harness.mjs';

const env = withProxyAndBrowser();

/** The page context the demo records (trackPages): checked in pages.test.mjs, left out here. */
const PAGE_CONTEXT = ['first_seen', 'last_seen', 'visits', 'last_page', 'page_trail'];
const formAttributes = (user) => user.attributes.filter((a) => !PAGE_CONTEXT.includes(a.key));

test('a visitor opens the chat, sends the contact form, and the lead arrives in the mock and the inbox', { timeout: 60_000 }, async () => {
  const page = await env.browser.newPage();
  const pageErrors = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  // Everything the page received, to prove the API token never reached the env.browser.
  const received = [];
  page.on('response', async (response) => {
    const headers = JSON.stringify(await response.allHeaders());
    const body = await response.body().then((b) => b.toString('latin1'), () => '');
    received.push({ url: response.url(), text: headers + body });
  });

  await page.goto(`${env.proxy.url}/`);
  await page.click('.rk-bubble');
  const uuid = await page.evaluate(() => sessionStorage.getItem('Reekolect_uuid'));
  assert.match(uuid, /^[0-9a-f-]{36}$/);

  await page.fill('input[name=name]', '  Ada Lovelace ');
  await page.fill('input[name=email]', 'ada@Example.com');
  await page.fill('input[name=phone]', '+44 20 7946 0958');
  await page.selectOption('select[name=interest]', 'calathea');
  await page.fill('textarea[name=message]', 'Brown leaf edges on my calathea.');
  await page.click('button[type=submit]');
  await page.waitForSelector('#contact-form .form-status.ok', { timeout: 10_000 });

  const leads = await demoLeads(env.proxy.url);
  const lead = leads.find((l) => l.uuid === uuid);
  assert.ok(lead, `the mock holds no lead for ${uuid}: ${JSON.stringify(leads)}`);
  const user = lead.profile.userDetails;
  assert.equal(user.name, 'Ada Lovelace');
  assert.equal(user.contact.email, 'ada@example.com');
  assert.deepEqual(user.contact.phone, { number: '2079460958', prefix: '44' });
  assert.deepEqual(formAttributes(user), [{ key: 'interest', value: 'calathea' }]);
  assert.deepEqual(lead.profile.notes.map(({ title, description }) => ({ title, description })),
    [{ title: 'Your question', description: 'Brown leaf edges on my calathea.' }]);

  // The inbox page shows it, by itself, within a refresh or two.
  const inbox = await env.browser.newPage();
  await inbox.goto(`${env.proxy.url}/inbox.html`);
  const row = inbox.locator(`tr[data-uuid="${uuid}"]`);
  await row.waitFor({ timeout: 10_000 });
  const text = await row.innerText();
  assert.match(text, /Ada Lovelace/);
  assert.match(text, /ada@example\.com/);
  assert.match(text, /\+44 2079460958/);

  assert.ok(received.length >= 5, `recorded ${received.length} responses`);
  const leaks = received.filter((r) => r.text.includes(env.proxy.token)).map((r) => r.url);
  assert.deepEqual(leaks, [], 'the API token reached the browser');
  assert.deepEqual(pageErrors, []);
});

test('a form sent before the chat is opened waits for the visitor, then arrives', { timeout: 30_000 }, async () => {
  // A visitor of its own: the first test's page stays open, and in one browser context the
  // two pages would share localStorage (outbox, heartbeats, what was sent), i.e. be one
  // visitor's two tabs, which tabs.test.mjs covers.
  const context = await env.browser.newContext();
  const page = await context.newPage();
  const puts = [];
  page.on('request', (request) => { if (request.method() === 'PUT') puts.push(request.url()); });
  await page.goto(`${env.proxy.url}/`);
  await page.fill('input[name=name]', 'Grace Hopper');
  await page.fill('input[name=email]', 'grace@example.com');
  await page.click('button[type=submit]');
  await page.waitForSelector('#contact-form .form-status.pending', { timeout: 10_000 });
  assert.match(await page.innerText('#contact-form .form-status'), /Open the chat bubble/);
  await page.waitForTimeout(800); // longer than the batch window and a UUID poll
  assert.deepEqual(puts, [], 'nothing is sent without a visitor UUID');

  await page.click('.rk-bubble');
  await page.waitForSelector('#contact-form .form-status.ok', { timeout: 10_000 });
  const uuid = await page.evaluate(() => sessionStorage.getItem('Reekolect_uuid'));
  const lead = (await demoLeads(env.proxy.url)).find((l) => l.uuid === uuid);
  assert.equal(lead?.profile.userDetails.name, 'Grace Hopper');
  assert.equal(puts.length, 1);
  await context.close();
});

test('an invalid field is refused in the page, naming the field', { timeout: 30_000 }, async () => {
  const page = await env.browser.newPage();
  await page.goto(`${env.proxy.url}/`);
  await page.click('.rk-bubble');
  await page.fill('input[name=name]', 'Alan Turing');
  await page.fill('input[name=email]', 'alan at example');
  await page.click('#contact-form button[type=submit]');
  await page.waitForSelector('#contact-form .form-status.error', { timeout: 10_000 });
  // The bad email is left out, and said so; the rest of the form still arrives.
  assert.match(await page.innerText('#contact-form .form-status'), /left out email: must be an email address/);
  const uuid = await page.evaluate(() => sessionStorage.getItem('Reekolect_uuid'));
  const lead = (await demoLeads(env.proxy.url)).find((l) => l.uuid === uuid);
  assert.equal(lead?.profile.userDetails.name, 'Alan Turing');
  assert.equal(lead?.profile.userDetails.contact.email, null);
});

test('the quote form is mapped automatically, and its password never leaves the page', { timeout: 30_000 }, async () => {
  const page = await env.browser.newPage();
  const bodies = [];
  page.on('request', (request) => { if (['PUT', 'POST'].includes(request.method())) bodies.push(request.postData() ?? ''); });
  await page.goto(`${env.proxy.url}/`);
  await page.click('.rk-bubble');
  await page.fill('input[name=first_name]', 'Grace');
  await page.fill('input[name=last_name]', 'Hopper');
  await page.fill('input[name=work_email]', 'grace@navy.example');
  await page.fill('input[name=company]', 'US Navy');
  await page.selectOption('select[name=plants]', '11–50');
  await page.check('input[name=rooms][value=reception]');
  await page.check('input[name=rooms][value="open plan"]');
  await page.fill('input[name=password]', 'correct horse battery staple');
  await page.click('#quote-form button[type=submit]');
  await page.waitForSelector('#quote-form .form-status.ok', { timeout: 10_000 });
  const uuid = await page.evaluate(() => sessionStorage.getItem('Reekolect_uuid'));
  const user = (await demoLeads(env.proxy.url)).find((l) => l.uuid === uuid).profile.userDetails;
  assert.equal(user.name, 'Grace Hopper');
  assert.equal(user.contact.email, 'grace@navy.example');
  assert.deepEqual(formAttributes(user), [
    { key: 'company', value: 'US Navy' }, { key: 'plants', value: '11–50' }, { key: 'rooms', value: 'reception, open plan' },
  ]);
  assert.ok(bodies.length >= 1);
  assert.ok(bodies.every((body) => !body.includes('battery staple')), 'the password was sent');
});
