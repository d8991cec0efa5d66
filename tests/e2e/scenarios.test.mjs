// The scenarios that matter to a visitor, written once and run in each engine ($E2E_ENGINE:
// chromium, firefox or webkit): the demo flow, the <script async> include replaying queued
// calls, form capture on the trap page, and leaving a page with updates pending.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { demoLeads } from './harness.mjs';
import { ENGINE, withProxyAndEngine } from './engines.mjs';

const env = withProxyAndEngine();

/** The lead of `uuid` in the mock, once `ready(lead)` holds (polled for up to 15 s). */
async function leadOnceReady(uuid, [botId, customerId], ready = () => true) {
  const deadline = Date.now() + 15_000;
  let lead;
  while (Date.now() < deadline) {
    lead = (await demoLeads(env.proxy.url, botId, customerId)).find((l) => l.uuid === uuid);
    if (lead && ready(lead)) return lead;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return lead;
}

// The demo records page context (trackPages): those attributes are not the form's.
const PAGE_CONTEXT = ['first_seen', 'last_seen', 'visits', 'last_page', 'page_trail'];
const formAttributes = (user) => user.attributes.filter((a) => !PAGE_CONTEXT.includes(a.key));
const attributes = (lead) => Object.fromEntries((lead?.profile.userDetails.attributes ?? []).map((a) => [a.key, a.value]));

test(`${ENGINE}: the demo: bubble, contact form, and the lead is in the mock`, { timeout: 60_000 }, async () => {
  const context = await env.engine.newContext();
  try {
    const page = await context.newPage();
    await page.goto(`${env.proxy.url}/`);
    await env.waitFor(page, () => document.querySelector('.rk-bubble'));
    await page.click('.rk-bubble');
    const uuid = await page.evaluate(() => sessionStorage.getItem('Reekolect_uuid'));
    assert.match(uuid, /^[0-9a-f-]{36}$/);
    await page.fill('input[name=name]', 'Ada Lovelace');
    await page.fill('input[name=email]', 'ada@Example.com');
    await page.fill('input[name=phone]', '+44 20 7946 0958');
    await page.select('select[name=interest]', 'calathea');
    await page.fill('textarea[name=message]', 'Brown leaf edges on my calathea.');
    await page.click('#contact-form button[type=submit]');
    await env.waitFor(page, () => document.querySelector('#contact-form .form-status.ok'), undefined, { what: 'the form to say it was sent' });
    const lead = await leadOnceReady(uuid, ['demoBot01', 'demoCustomer01']);
    assert.ok(lead, `the mock holds no lead for ${uuid}`);
    const user = lead.profile.userDetails;
    assert.equal(user.name, 'Ada Lovelace');
    assert.equal(user.contact.email, 'ada@example.com');
    assert.deepEqual(user.contact.phone, { number: '2079460958', prefix: '44' });
    assert.deepEqual(formAttributes(user), [{ key: 'interest', value: 'calathea' }]);
    assert.deepEqual(lead.profile.notes.map((n) => n.description), ['Brown leaf edges on my calathea.']);
  } finally {
    await context.close();
  }
});

test(`${ENGINE}: the <script async> include replays the calls queued before it loaded, in one request`, { timeout: 60_000 }, async () => {
  const uuid = '0b9e8f2a-5c1d-4e7b-9a3f-2d4c6b8a1e0f';
  const context = await env.engine.newContext();
  try {
    const page = await context.newPage();
    await page.goto(`${env.proxy.url}/t/include.html?uuid=${uuid}`);
    await env.waitFor(page, () => window.reekolect.loaded === true, undefined, { what: 'the include to load' });
    assert.equal(await page.evaluate(() => window.__queuedBeforeLoad), 10);
    await page.evaluate(() => window.reekolect.flush());
    const bodies = (await page.evaluate(() => window.__bodies)).map((b) => JSON.parse(b));
    assert.equal(bodies.length, 1, `queued calls must travel as one request: ${JSON.stringify(bodies)}`);
    assert.deepEqual(bodies[0].attributes, [{ key: 'step', value: 'two' }]);
    assert.deepEqual(bodies[0].tags, ['first', 'second']);
    assert.equal(bodies[0].status, undefined);
    // After load, the global's methods return the companion's promises.
    const answer = await page.evaluate(() => window.reekolect.addNote({ title: 'Asked for rare plants' }));
    assert.deepEqual(answer, { success: true, message: 'ok', code: 200 });
    const lead = await leadOnceReady(uuid, ['includeBot', 'includeCustomer']);
    assert.deepEqual(lead.profile.userDetails.tags, ['first', 'second']);
    assert.deepEqual(lead.profile.notes.map((n) => n.title), ['Asked for rare plants']);
    const events = await page.evaluate(() => window.__events.map((e) => e.name));
    assert.deepEqual(events, ['invalid', 'sent', 'sent']);
    const warnings = await page.evaluate(() => window.__console);
    assert.equal(warnings.length, 2, `the bad status and the unknown method, each said once: ${JSON.stringify(warnings)}`);
    assert.deepEqual(await page.evaluate(() => window.__errors), []);
  } finally {
    await context.close();
  }
});

const SECRETS = ['hunter2-secret', '4111111111111111', '4111 1111 1111 1111', '5500 0055 5555 5559', '378282246310005',
  'GB82WEST12345698765432', 'GB82 WEST 1234 5698 7654 32', '078-05-1120', '737', 'utm-hidden-value', 'ignored-value',
  'ignored-form-value'];

test(`${ENGINE}: form capture on the trap page: the right fields arrive, no secret leaves`, { timeout: 60_000 }, async () => {
  const uuid = '6f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0';
  const context = await env.engine.newContext();
  try {
    const page = await context.newPage();
    await page.goto(`${env.proxy.url}/t/forms.html?uuid=${uuid}`);
    await env.waitFor(page, () => window.rk !== undefined, undefined, { what: 'the companion' });
    await page.click('#traps button');
    await page.click('#ignored button');
    // A form the page adds later, with an explicit mapping.
    await page.evaluate(() => {
      const late = document.createElement('form');
      late.innerHTML = '<input name="x1" data-reekolect-field="tag" value="late-form"><input name="plan" data-reekolect-field="attribute:Plan Tier" value="gold"><button>Go</button>';
      late.addEventListener('submit', (e) => e.preventDefault());
      document.body.append(late);
      late.querySelector('button').click();
    });
    await page.evaluate(() => window.rk.flush());
    assert.equal(await page.evaluate(() => window.siteHandled), true, "the site's own submit handler ran");
    assert.deepEqual(await page.evaluate(() => window.__errors), []);

    // A form that navigates away at once: its capture survives the unload.
    await page.click('#leaves button');
    await env.waitFor(page, () => document.getElementById('banner')?.textContent === 'thanks' && window.rk !== undefined,
      undefined, { what: 'the next page' });
    const lead = await leadOnceReady(uuid, ['formsBot', 'formsCustomer'], (l) => 'company' in attributes(l));
    const user = lead.profile.userDetails;
    assert.equal(user.name, 'Ada Lovelace');
    assert.equal(user.contact.email, 'Ada@example.com');
    assert.deepEqual(user.contact.phone, { number: '2079460958', prefix: '44' });
    assert.deepEqual(user.tags, ['late-form']);
    assert.deepEqual(attributes(lead), {
      notes: 'Please call. My card is [removed], exp 12/29.',
      budget: 'large',
      channels: 'email, phone',
      size: 'm',
      extras: 'pots, care',
      backup_payment: 'pay with [removed] thanks',
      plan_tier: 'gold',
      company: 'Analytical Engines Ltd',
    });
    const bodies = await page.evaluate(() => JSON.parse(sessionStorage.getItem('test:bodies') || '[]'));
    assert.ok(bodies.length >= 2, `recorded ${bodies.length} requests`);
    // The lead as stored, without what the mock adds (its ids and times hold digits that may
    // spell a secret such as the card code "737" by chance).
    const stored = JSON.stringify(lead, (key, value) => (['_id', 'createdAt', 'updatedAt'].includes(key) ? undefined : value));
    const sent = bodies.join('\n') + stored;
    for (const secret of SECRETS) {
      assert.ok(!sent.includes(secret) && !sent.includes(secret.replace(/ /g, '')), `"${secret}" left the page`);
    }
    assert.deepEqual(await page.evaluate(() => window.__errors), []);
  } finally {
    await context.close();
  }
});

test(`${ENGINE}: leaving a page with an update pending: it arrives (keepalive)`, { timeout: 60_000 }, async () => {
  const uuid = '2c4e6a8b-1d3f-4a5b-8c7d-9e0f1a2b3c4d';
  const context = await env.engine.newContext();
  try {
    const page = await context.newPage();
    await page.goto(`${env.proxy.url}/t/leave.html?uuid=${uuid}`);
    await env.waitFor(page, () => window.rk !== undefined, undefined, { what: 'the companion' });
    const pending = await page.evaluate(() => {
      window.rk.setAttributes({ left: 'with keepalive' }); // held for the 10 s batch window
      return window.__bodies.length;
    });
    assert.equal(pending, 0, 'nothing was sent before leaving');
    await page.goto(`${env.proxy.url}/t/plain.html`); // a page without the companion
    const lead = await leadOnceReady(uuid, ['leaveBot', 'leaveCustomer'], (l) => 'left' in attributes(l));
    assert.equal(attributes(lead).left, 'with keepalive');
    const bodies = await page.evaluate(() => JSON.parse(sessionStorage.getItem('test:bodies') || '[]'));
    assert.equal(bodies.length, 1, `one request, sent as the page left: ${JSON.stringify(bodies)}`);
  } finally {
    await context.close();
  }
});
