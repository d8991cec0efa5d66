// Hostile or missing browser APIs, each removed or poisoned before the companion loads (see
// tests/e2e/site.mjs): the companion fails soft, never throws on the page, and loses
// nothing it can keep. Runs in each engine ($E2E_ENGINE).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { demoLeads } from './harness.mjs';
import { ENGINE, withProxyAndEngine } from './engines.mjs';

const env = withProxyAndEngine();

async function attributesOf(uuid, botId = 'includeBot', customerId = 'includeCustomer') {
  const lead = (await demoLeads(env.proxy.url, botId, customerId)).find((l) => l.uuid === uuid);
  return new Map((lead?.profile.userDetails.attributes ?? []).map((a) => [a.key, a.value]));
}

/** Polls the mock until `uuid`'s lead has every key of `keys` (15 s at most). */
async function arrived(uuid, keys, ids = []) {
  const deadline = Date.now() + 15_000;
  let found = new Map();
  while (Date.now() < deadline) {
    found = await attributesOf(uuid, ...ids);
    if (keys.every((key) => found.has(key))) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return found;
}

/** Opens the include page with `query`, in a fresh profile; resolves to { context, page }. */
async function includePage(query) {
  const context = await env.engine.newContext();
  const page = await context.newPage();
  await page.goto(`${env.proxy.url}/t/include.html?${query}`);
  return { context, page };
}

test(`${ENGINE}: storage blocked: starts in memory, accepts calls, one warning, nothing thrown`, { timeout: 60_000 }, async () => {
  const { context, page } = await includePage('poison=storage');
  try {
    assert.equal(await page.evaluate(() => { try { return !localStorage; } catch (e) { return e.name; } }), 'SecurityError');
    await env.waitFor(page, () => window.reekolect.loaded === true, undefined, { what: 'the include to load' });
    const state = await page.evaluate(async () => {
      const pending = window.reekolect.setAttributes({ more: 'calls' });
      const settled = await Promise.race([pending.then(() => 'resolved', () => 'rejected'),
        new Promise((resolve) => setTimeout(() => resolve('waiting'), 600))]);
      let context;
      try { window.reekolect.companion.context(); } catch (error) { context = error.message; }
      return { settled, context, events: window.__events, errors: window.__errors };
    });
    // No visitor UUID can be read, so the calls wait for one, in memory.
    assert.equal(state.settled, 'waiting');
    assert.match(state.context, /sessionStorage is blocked/);
    const warnings = state.events.filter((e) => e.name === 'warning');
    assert.equal(warnings.length, 1, JSON.stringify(state.events));
    assert.match(warnings[0].message, /web storage is unavailable \(blocked\); pending updates are kept in memory only/);
    assert.deepEqual(state.events.map((e) => e.name), ['invalid', 'warning'], 'the queued calls ran');
    assert.deepEqual(state.errors, []);
  } finally {
    await context.close();
  }
});

test(`${ENGINE}: in a sandboxed frame (storage blocked by the browser itself): loads, one warning, nothing thrown`, { timeout: 60_000 }, async () => {
  const context = await env.engine.newContext();
  try {
    const page = await context.newPage();
    await page.goto(`${env.proxy.url}/t/frame.html`);
    const seen = await env.waitFor(page, () => window.__frame?.loaded && window.__frame.events.length >= 2 && window.__frame,
      undefined, { what: 'the framed companion to load and report' });
    assert.deepEqual(seen.events.map((e) => e.name), ['invalid', 'warning'], JSON.stringify(seen));
    assert.match(seen.events[1].message, /web storage is unavailable/);
    assert.deepEqual(seen.errors, []);
  } finally {
    await context.close();
  }
});

test(`${ENGINE}: localStorage blocked, sessionStorage kept: the updates arrive, one warning`, { timeout: 60_000 }, async () => {
  const uuid = '7b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e';
  const { context, page } = await includePage(`uuid=${uuid}&poison=localstorage`);
  try {
    await env.waitFor(page, () => window.reekolect.loaded === true, undefined, { what: 'the include to load' });
    await page.evaluate(() => window.reekolect.flush());
    const answer = await page.evaluate(() => window.reekolect.setAttributes({ after: 'load' }));
    assert.equal(answer.success, true);
    const found = await arrived(uuid, ['step', 'after']);
    assert.equal(found.get('step'), 'two');
    const events = await page.evaluate(() => window.__events.map((e) => e.name));
    assert.deepEqual(events.filter((name) => name === 'warning'), ['warning']);
    assert.deepEqual(await page.evaluate(() => window.__errors), []);
  } finally {
    await context.close();
  }
});

test(`${ENGINE}: no crypto.randomUUID, no AbortSignal.timeout, Web Locks denied: the updates arrive, nothing thrown`, { timeout: 60_000 }, async () => {
  const uuid = '8c2d3e4f-5a6b-4c7d-9e8f-0a1b2c3d4e5f';
  const { context, page } = await includePage(`uuid=${uuid}&poison=randomuuid,timeout,locksdenied`);
  try {
    assert.equal(await page.evaluate(() => typeof crypto.randomUUID + typeof AbortSignal.timeout), 'undefinedundefined');
    await env.waitFor(page, () => window.reekolect.loaded === true, undefined, { what: 'the include to load' });
    await page.evaluate(() => window.reekolect.flush());
    assert.equal((await arrived(uuid, ['step'])).get('step'), 'two');
    assert.deepEqual(await page.evaluate(() => window.__errors), []);
  } finally {
    await context.close();
  }
});

test(`${ENGINE}: no WebAssembly: one clear console message, calls stay queued, nothing thrown`, { timeout: 60_000 }, async () => {
  const { context, page } = await includePage('poison=wasm');
  try {
    await env.waitFor(page, () => window.__console.length > 0, undefined, { what: 'a console message' });
    await new Promise((resolve) => setTimeout(resolve, 500)); // and no second one
    const state = await page.evaluate(() => {
      window.reekolect.setAttributes({ later: 'call' }); // the snippet's stub keeps queueing
      return { console: window.__console, errors: window.__errors, queued: window.reekolect.length, loaded: !!window.reekolect.loaded };
    });
    assert.equal(state.console.length, 1, JSON.stringify(state.console));
    assert.match(state.console[0], /^error: Reekolect: .*calls stay queued.*no WebAssembly/);
    assert.deepEqual(state.errors, []);
    assert.deepEqual({ queued: state.queued, loaded: state.loaded }, { queued: 11, loaded: false });
  } finally {
    await context.close();
  }
});

test(`${ENGINE}: fetch refuses keepalive and there is no sendBeacon: a pending update arrives from the next page`, { timeout: 60_000 }, async () => {
  const uuid = '3d5f7a9b-2e4c-4b6d-9f8e-0a1b2c3d4e5f';
  const context = await env.engine.newContext();
  try {
    const page = await context.newPage();
    await page.goto(`${env.proxy.url}/t/leave.html?uuid=${uuid}&poison=keepalive,beacon`);
    await env.waitFor(page, () => window.rk !== undefined, undefined, { what: 'the companion' });
    assert.equal(await page.evaluate(() => typeof navigator.sendBeacon), 'undefined');
    await page.evaluate(() => { window.rk.setAttributes({ left: 'for the next page' }); });
    await page.goto(`${env.proxy.url}/t/leave.html?poison=keepalive,beacon`);
    const found = await arrived(uuid, ['left'], ['leaveBot', 'leaveCustomer']);
    assert.equal(found.get('left'), 'for the next page');
    assert.deepEqual(await page.evaluate(() => window.__errors), []);
  } finally {
    await context.close();
  }
});

test(`${ENGINE}: no navigator.locks: a closed tab's updates are adopted and sent once`, { timeout: 90_000 }, async () => {
  const uuid = '4e6a8c0d-3f5b-4c7e-8a9b-1c2d3e4f5a6b';
  const context = await env.engine.newContext();
  try {
    // Two tabs of the site are open; a third cannot reach the proxy and is closed.
    const others = [];
    for (let i = 0; i < 2; i++) {
      const page = await context.newPage();
      await page.goto(`${env.proxy.url}/t/leave.html?poison=locks`);
      others.push(page);
    }
    const leaving = await context.newPage();
    await leaving.goto(`${env.proxy.url}/t/leave.html?uuid=${uuid}&poison=locks,offline`);
    await env.waitFor(leaving, () => window.rk !== undefined && navigator.locks === undefined, undefined, { what: 'the companion' });
    await leaving.evaluate(async () => {
      for (let i = 0; i < 10; i++) window.rk.setAttributes({ ['c' + i]: i });
      await window.rk.flush(); // tried, failed, parked for a retry
    });
    await leaving.close();
    const keys = Array.from({ length: 10 }, (_, i) => 'c' + i);
    const found = await arrived(uuid, keys, ['leaveBot', 'leaveCustomer']);
    assert.deepEqual(keys.filter((key) => found.get(key) !== key.slice(1)), [], 'lost with the closed tab');
    await new Promise((resolve) => setTimeout(resolve, 3_500)); // a heartbeat more: no second adoption
    const sends = new Map();
    for (const page of others) {
      for (const body of await page.evaluate(() => window.__bodies)) {
        for (const { key } of JSON.parse(body).attributes ?? []) sends.set(key, (sends.get(key) ?? 0) + 1);
      }
    }
    assert.deepEqual(keys.map((key) => sends.get(key) ?? 0), keys.map(() => 1), 'each update sent once');
  } finally {
    await context.close();
  }
});
