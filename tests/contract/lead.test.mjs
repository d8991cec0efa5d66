// The `/lead` contract, one set of HTTP cases run against both implementations: the Rust proxy
// (`reekolect-proxy serve`, the reference) and the Cloudflare Worker (edge/) in workerd, each in
// front of the embedded mock API. Each case checks the answer, and a last block checks that
// the two answered alike, so they cannot drift. REEKOLECT_CONTRACT_TARGETS=proxy|edge runs one.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  TARGETS, selectedTargets, newToken, visitorToken, startMock, closedPort, startStandIn,
} from './targets.mjs';

const targets = selectedTargets();
const ALLOWED_ORIGIN = 'https://shop.example';
const OTHER_ORIGIN = 'https://evil.example';
const VISITOR_SECRET = 'contract-visitor-secret-' + newToken();
/** Every answer seen, headers and body as text, to prove the token never comes back. */
const seen = [];
/** answers[case][target] = { status, json, headers }, compared across targets at the end. */
const answers = {};

const uuid = (n) => `7e88d192-9b20-4035-9b68-${String(n).padStart(12, '0')}`;
const lead = (n, extra = {}) => ({ uuid: uuid(n), botId: 'b1', customerId: 'c1', ...extra });

async function call(base, path, { method = 'PUT', headers = {}, body } = {}) {
  const response = await fetch(`${base}${path}`, {
    method, headers, body: typeof body === 'object' && !(body instanceof Uint8Array) ? JSON.stringify(body) : body,
  });
  const text = await response.text();
  const answer = { status: response.status, headers: Object.fromEntries(response.headers), text };
  try { answer.json = JSON.parse(text); } catch { answer.json = undefined; }
  seen.push(JSON.stringify(answer.headers) + text);
  return answer;
}

function record(name, target, answer) {
  (answers[name] ??= {})[target] = answer;
}

/** The records the mock holds for bot b1, customer c1 (both types), read with the token. */
async function mockRecords(mockUrl, token) {
  const records = [];
  for (const type of ['lead', 'non-lead']) {
    const response = await fetch(`${mockUrl}/inbox/direct/chats?botId=b1&customerId=c1&page=1&type=${type}`,
      { headers: { 'x-bot-token': token } });
    assert.equal(response.status, 200);
    records.push(...(await response.json()).data);
  }
  return records;
}

const list = (value) => (value ?? '').split(',').map((v) => v.trim().toLowerCase()).filter(Boolean).sort();

for (const target of targets) {
  describe(`/lead contract: ${target}`, () => {
    const env = {};
    const stops = [];
    before(async () => {
      env.token = newToken();
      const start = TARGETS[target];
      const mock = await startMock(env.token);
      stops.push(mock.stop);
      env.mock = mock.url;
      const settings = {
        token: env.token, allowBots: ['b1:c1'], allowOrigins: [ALLOWED_ORIGIN], visitorSecret: VISITOR_SECRET,
      };
      const main = await start({ ...settings, upstream: mock.url });
      stops.push(main.stop);
      env.main = main.url;
      const down = await start({ ...settings, upstream: `http://127.0.0.1:${await closedPort()}` });
      stops.push(down.stop);
      env.down = down.url;
      // A mock that never answers in time (--mock-hang-rate 1), behind a 1 s upstream timeout.
      const hanging = await startMock(env.token, ['--mock-hang-rate', '1']);
      stops.push(hanging.stop);
      const slow = await start({ ...settings, upstream: hanging.url, upstreamTimeout: '1s' });
      stops.push(slow.stop);
      env.slow = slow.url;
      // An upstream that puts the token it was sent into its (JSON) answer.
      const echo = await startStandIn((request, body, response) => {
        response.writeHead(400, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ success: false, code: 400, message: `token ${request.headers['x-bp-token']} refused` }));
      });
      stops.push(echo.stop);
      // Also the one without an origin allowlist (any origin, as by default).
      const echoing = await start({ ...settings, allowOrigins: [], upstream: echo.url });
      stops.push(echoing.stop);
      env.echoing = echoing.url;
    });
    after(async () => {
      for (const stop of stops.reverse()) await stop();
    });

    test('GET /healthz answers ok', async () => {
      const answer = await call(env.main, '/healthz', { method: 'GET' });
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.json, { ok: true });
      record('healthz', target, answer);
    });

    test('a valid update is forwarded with the token, normalised, and the upstream answer relayed', async () => {
      const answer = await call(env.main, '/lead', {
        headers: { 'content-type': 'application/json', 'x-request-id': 'contract-rid-1' },
        body: lead(1, { tags: [' vip ', 'vip'], attributes: { plan: 'pro', seats: 3 }, status: 'inProgress' }),
      });
      assert.equal(answer.status, 200, answer.text);
      assert.deepEqual(answer.json, { success: true, message: 'ok', code: 200 });
      assert.equal(answer.headers['x-request-id'], 'contract-rid-1');
      assert.equal(answer.headers['content-type'], 'application/json');
      // The mock only stores updates that carry its token.
      const stored = (await mockRecords(env.mock, env.token)).find((r) => r.uuid === uuid(1));
      assert.ok(stored, 'the mock holds the update');
      assert.deepEqual(stored.profile.userDetails.attributes, [{ key: 'plan', value: 'pro' }, { key: 'seats', value: '3' }]);
      assert.equal(stored.status, 'INPROGRESS');
      record('valid update', target, answer);
    });

    test('an identity update with a valid visitor token is forwarded', async () => {
      const answer = await call(env.main, '/lead', {
        headers: { 'content-type': 'application/json', 'x-reekolect-visitor': visitorToken(VISITOR_SECRET, uuid(2)) },
        body: lead(2, { name: '  Ada Lovelace ', email: 'Ada@Example.com' }),
      });
      assert.equal(answer.status, 200, answer.text);
      const stored = (await mockRecords(env.mock, env.token)).find((r) => r.uuid === uuid(2));
      assert.equal(stored?.profile.userDetails.name, 'Ada Lovelace');
      assert.equal(stored?.profile.userDetails.contact.email, 'Ada@example.com'); // the domain lower-cased
      record('identity with token', target, answer);
    });

    for (const [name, token, reason] of [
      ['without a visitor token', undefined, /^visitorToken: missing \(is missing/],
      ['with a token for another visitor', visitorToken(VISITOR_SECRET, uuid(99)), /^visitorToken: wrong uuid/],
      ['with a badly signed token', visitorToken('another-secret', uuid(3)), /^visitorToken: bad signature/],
      ['with an expired token', visitorToken(VISITOR_SECRET, uuid(3), 1000), /^visitorToken: expired/],
    ]) {
      test(`an identity update ${name} is refused with 401`, async () => {
        const headers = { 'content-type': 'application/json' };
        if (token) headers['x-reekolect-visitor'] = token;
        const answer = await call(env.main, '/lead', { headers, body: lead(3, { email: 'x@example.com' }) });
        assert.equal(answer.status, 401, answer.text);
        assert.match(answer.json.message, reason);
        assert.equal(answer.json.errors[0].field, 'visitorToken');
        record(`401 ${name}`, target, answer);
      });
    }

    test('400 names the field and the rule', async () => {
      const answer = await call(env.main, '/lead', {
        headers: { 'content-type': 'application/json' },
        body: lead(4, { email: 'not an email', tags: ['ok', ''] }),
      });
      assert.equal(answer.status, 400, answer.text);
      assert.equal(answer.json.success, false);
      assert.equal(answer.json.code, 400);
      const fields = answer.json.errors.map((e) => e.field);
      assert.ok(fields.includes('email'), JSON.stringify(answer.json));
      const email = answer.json.errors.find((e) => e.field === 'email');
      assert.match(email.rule, /must be an email address/);
      assert.equal(answer.json.message, answer.json.errors.map((e) => `${e.field}: ${e.rule}`).join('; '));
      record('400 fields', target, answer);
    });

    for (const [name, body, rule] of [
      ['a body that is not JSON', '{"uuid":', /^is not valid JSON/],
      ['an empty body', '', /^must be a JSON object \(the body is empty\)$/],
      ['a JSON array', '[1]', /^must be a JSON object$/],
      ['an unknown field', JSON.stringify({ ...lead(5), colour: 'red' }), /^is not a known field/],
      ['a missing uuid', JSON.stringify({ botId: 'b1', customerId: 'c1' }), /is required/],
    ]) {
      test(`400 for ${name}`, async () => {
        const answer = await call(env.main, '/lead', { headers: { 'content-type': 'application/json' }, body });
        assert.equal(answer.status, 400, answer.text);
        assert.match(answer.json.errors[0].rule, rule);
        record(`400 ${name}`, target, answer);
      });
    }

    test('an update id sent twice is delivered once: the repeat gets the same answer', async () => {
      const id = '00112233445566778899aabbccddeeff';
      const send = (method, type) => call(env.main, `/lead?updateId=${id}`, {
        method, headers: { 'content-type': type }, body: lead(40, { notes: [{ title: 'once', description: 'd' }] }),
      });
      // The closing page's keepalive POST, then the next page's PUT of the same update.
      const first = await send('POST', 'text/plain;charset=UTF-8');
      const again = await send('PUT', 'application/json');
      assert.equal(first.status, 200, first.text);
      assert.equal(again.status, 200, again.text);
      assert.deepEqual(again.json, first.json);
      const stored = (await mockRecords(env.mock, env.token)).find((r) => r.uuid === uuid(40));
      assert.deepEqual(stored.profile.notes.map((n) => n.title), ['once'], 'the note is in the lead once');
      record('update id twice', target, again);
    });

    test('400 for a malformed update id, naming it', async () => {
      const answer = await call(env.main, '/lead?updateId=not-an-id', {
        headers: { 'content-type': 'application/json' }, body: lead(41),
      });
      assert.equal(answer.status, 400, answer.text);
      assert.deepEqual(answer.json.errors.map((e) => e.field), ['updateId']);
      assert.match(answer.json.message, /^updateId: must be 32 hexadecimal digits/);
      record('400 update id', target, answer);
    });

    test('403 for a bot this deployment does not write for', async () => {
      const answer = await call(env.main, '/lead', {
        headers: { 'content-type': 'application/json' },
        body: { uuid: uuid(6), botId: 'b2', customerId: 'c1' },
      });
      assert.equal(answer.status, 403, answer.text);
      assert.deepEqual(answer.json.errors.map((e) => e.field), ['botId', 'customerId']);
      assert.match(answer.json.message, /^botId\/customerId: this proxy does not write leads for botId "b2"/);
      record('403 bot', target, answer);
    });

    test('413 over the body limit, by Content-Length', async () => {
      const body = JSON.stringify({ ...lead(7), name: 'x'.repeat(70_000) });
      const answer = await call(env.main, '/lead', { headers: { 'content-type': 'application/json' }, body });
      assert.equal(answer.status, 413, answer.text);
      assert.equal(answer.json.message, 'body: must be at most 65536 bytes');
      record('413', target, answer);
    });

    test('413 over the body limit, streamed without Content-Length', async () => {
      const chunk = new TextEncoder().encode('x'.repeat(16_384));
      let sent = 0;
      const stream = new ReadableStream({
        pull(controller) {
          if (sent++ < 5) controller.enqueue(chunk); else controller.close();
        },
      });
      const response = await fetch(`${env.main}/lead`, {
        method: 'PUT', headers: { 'content-type': 'application/json' }, body: stream, duplex: 'half',
      });
      const text = await response.text();
      seen.push(text);
      assert.equal(response.status, 413, text);
      record('413 streamed', target, { status: response.status, json: JSON.parse(text) });
    });

    test('POST text/plain (navigator.sendBeacon) is accepted, the visitor token in the query', async () => {
      const token = encodeURIComponent(visitorToken(VISITOR_SECRET, uuid(8)));
      const answer = await call(env.main, `/lead?visitor=${token}`, {
        method: 'POST', headers: { 'content-type': 'text/plain;charset=UTF-8' },
        body: lead(8, { name: 'Grace Hopper' }),
      });
      assert.equal(answer.status, 200, answer.text);
      const stored = (await mockRecords(env.mock, env.token)).find((r) => r.uuid === uuid(8));
      assert.equal(stored?.profile.userDetails.name, 'Grace Hopper');
      record('POST text/plain', target, answer);
    });

    test('POST of another content type is refused with 415', async () => {
      const answer = await call(env.main, '/lead', {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'uuid=1',
      });
      assert.equal(answer.status, 415, answer.text);
      assert.equal(answer.json.message, 'content-type: must be text/plain or application/json');
      record('415', target, answer);
    });

    test('the CORS preflight allows the allowed origin', async () => {
      const answer = await call(env.main, '/lead', {
        method: 'OPTIONS',
        headers: {
          origin: ALLOWED_ORIGIN, 'access-control-request-method': 'PUT',
          'access-control-request-headers': 'content-type,x-reekolect-visitor',
        },
      });
      assert.ok(answer.status >= 200 && answer.status < 300, String(answer.status));
      const h = answer.headers;
      assert.equal(h['access-control-allow-origin'], ALLOWED_ORIGIN);
      assert.deepEqual(list(h['access-control-allow-methods']), ['options', 'post', 'put']);
      assert.deepEqual(list(h['access-control-allow-headers']), ['content-type', 'x-reekolect-visitor']);
      assert.equal(h['access-control-max-age'], '600');
      assert.deepEqual(list(h.vary), ['origin']);
      assert.equal(h['access-control-allow-credentials'], undefined);
      record('preflight allowed', target, { status: answer.status, cors: corsOf(h) });
    });

    test('CORS refuses another origin: no Access-Control-Allow-Origin, preflight or not', async () => {
      const preflight = await call(env.main, '/lead', {
        method: 'OPTIONS',
        headers: { origin: OTHER_ORIGIN, 'access-control-request-method': 'PUT', 'access-control-request-headers': 'content-type' },
      });
      assert.equal(preflight.headers['access-control-allow-origin'], undefined);
      const actual = await call(env.main, '/lead', {
        headers: { origin: OTHER_ORIGIN, 'content-type': 'application/json' }, body: lead(9),
      });
      assert.equal(actual.headers['access-control-allow-origin'], undefined);
      const allowed = await call(env.main, '/lead', {
        headers: { origin: ALLOWED_ORIGIN, 'content-type': 'application/json' }, body: lead(9),
      });
      assert.equal(allowed.headers['access-control-allow-origin'], ALLOWED_ORIGIN);
      assert.deepEqual(list(allowed.headers['access-control-expose-headers']), ['retry-after', 'x-request-id']);
      record('origin refused', target, {
        preflight: { status: preflight.status, cors: corsOf(preflight.headers) },
        actual: { status: actual.status, cors: corsOf(actual.headers) },
        allowed: { status: allowed.status, cors: corsOf(allowed.headers) },
      });
    });

    test('without an origin allowlist, any origin is allowed, with * and no Vary', async () => {
      const preflight = await call(env.echoing, '/lead', {
        method: 'OPTIONS',
        headers: { origin: OTHER_ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
      });
      assert.ok(preflight.status >= 200 && preflight.status < 300, String(preflight.status));
      assert.equal(preflight.headers['access-control-allow-origin'], '*');
      assert.equal(preflight.headers.vary, undefined);
      const health = await call(env.echoing, '/healthz', { method: 'GET', headers: { origin: OTHER_ORIGIN } });
      assert.equal(health.headers['access-control-allow-origin'], '*');
      record('any origin', target, {
        preflight: { status: preflight.status, cors: corsOf(preflight.headers) },
        health: { status: health.status, cors: corsOf(health.headers) },
      });
    });

    test('upstream down: 502 with the reason', async () => {
      const answer = await call(env.down, '/lead', { headers: { 'content-type': 'application/json' }, body: lead(10) });
      assert.equal(answer.status, 502, answer.text);
      assert.match(answer.json.message, /^upstream unreachable: ./);
      record('502 down', target, answer);
    });

    test('upstream too slow: 504 with the reason', { timeout: 15_000 }, async () => {
      const answer = await call(env.slow, '/lead', { headers: { 'content-type': 'application/json' }, body: lead(11) });
      assert.equal(answer.status, 504, answer.text);
      assert.equal(answer.json.message, 'upstream timeout: no answer within 1s');
      record('504 slow', target, answer);
    });

    test('an upstream answer carrying the token is relayed scrubbed', async () => {
      const answer = await call(env.echoing, '/lead', { headers: { 'content-type': 'application/json' }, body: lead(12) });
      assert.equal(answer.status, 400, answer.text);
      assert.equal(answer.json.message, 'token [redacted] refused');
      record('scrubbed', target, answer);
    });

    test('other paths answer 404, other methods on /lead 405', async () => {
      const missing = await call(env.main, '/nothing-here', { method: 'GET' });
      assert.equal(missing.status, 404);
      assert.equal(missing.json.message, 'not found');
      const get = await call(env.main, '/lead', { method: 'GET' });
      assert.equal(get.status, 405);
      assert.equal(get.json.message, 'method not allowed');
      record('404 and 405', target, { missing: missing.json, get: get.json });
    });

    test('the API token is in no answer', () => {
      assert.ok(seen.length >= 20, `saw ${seen.length} answers`);
      const leaks = seen.filter((text) => text.includes(env.token));
      assert.deepEqual(leaks, []);
    });
  });
}

function corsOf(headers) {
  const out = {};
  for (const name of ['access-control-allow-origin', 'access-control-allow-methods', 'access-control-allow-headers',
    'access-control-max-age', 'access-control-expose-headers', 'access-control-allow-credentials', 'vary']) {
    if (headers[name] !== undefined) out[name] = name === 'access-control-allow-origin' || name === 'access-control-max-age' ? headers[name] : list(headers[name]);
  }
  return out;
}

/** What may differ between the two: the OS's wording of a connection error. */
function comparable(answer) {
  const copy = structuredClone({ status: answer.status, json: answer.json, ...answer });
  delete copy.headers;
  delete copy.text;
  if (typeof copy.json?.message === 'string' && copy.json.message.startsWith('upstream unreachable: ')) {
    copy.json.message = 'upstream unreachable: <cause>';
  }
  return copy;
}

if (targets.length === 2) {
  describe('/lead contract: the proxy and the Worker answer alike', () => {
    test('every case, status and body', () => {
      const names = Object.keys(answers);
      assert.ok(names.length >= 20, `compared ${names.length} cases`);
      for (const name of names) {
        const { proxy, edge } = answers[name];
        assert.ok(proxy && edge, `${name}: answered by ${Object.keys(answers[name])}`);
        assert.deepEqual(comparable(edge), comparable(proxy), name);
      }
    });
  });
}
