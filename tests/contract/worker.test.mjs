// What only the Worker has: the platform's rate-limit bindings (a stand-in of their API in
// workerd, see targets.mjs), the route's base path, and a configuration error answered
// without the token.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  newToken, startMock, startWorker, selectedTargets, testCertificates, startHttpsStandIn,
} from './targets.mjs';

/** The `[vars]` of edge/wrangler.toml (`NAME = "value"` lines), as deployed. */
function wranglerVars() {
  const toml = readFileSync(new URL('../../edge/wrangler.toml', import.meta.url), 'utf8');
  const section = toml.split(/^\[vars\]$/m)[1].split(/^\[/m)[0];
  return Object.fromEntries([...section.matchAll(/^(\w+) = "([^"]*)"$/gm)].map((m) => [m[1], m[2]]));
}

const uuid = (n) => `7e88d192-9b20-4035-9b68-${String(n).padStart(12, '0')}`;
const lead = (n) => JSON.stringify({ uuid: uuid(n), botId: 'b1', customerId: 'c1' });

async function put(url, body, headers = {}) {
  const response = await fetch(url, { method: 'PUT', headers: { 'content-type': 'application/json', ...headers }, body });
  return { status: response.status, headers: response.headers, json: await response.json() };
}

describe('the Worker alone', { skip: !selectedTargets().includes('edge') && 'edge not selected' }, () => {
  const env = {};
  const stops = [];
  before(async () => {
    env.token = newToken();
    const mock = await startMock(env.token);
    stops.push(mock.stop);
    const worker = await startWorker({
      token: env.token, upstream: mock.url, allowBots: ['b1:c1'], basePath: '/reekolect',
      rateLimits: { REEKOLECT_IP_LIMITER: 3, REEKOLECT_VISITOR_LIMITER: 2 },
    });
    stops.push(worker.stop);
    env.worker = worker.url;
    // edge/wrangler.toml's own vars, the upstream aside (the mock here).
    const vars = wranglerVars();
    env.shippedVars = vars;
    const shipped = await startWorker({ token: env.token, vars: { ...vars, REEKOLECT_UPSTREAM: mock.url } });
    stops.push(shipped.stop);
    env.shipped = shipped.url;
    const misconfigured = await startWorker({ token: env.token, upstream: mock.url, allowBots: [] });
    stops.push(misconfigured.stop);
    // An https upstream, as the real API is: one Worker trusts the test CA, one does not.
    const tls = testCertificates();
    const secure = await startHttpsStandIn(tls, (request, body, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{"success":true,"message":"ok","code":200}');
    });
    stops.push(secure.stop);
    env.secureRequests = secure.requests;
    const trusting = await startWorker({ token: env.token, upstream: secure.url, allowBots: ['b1:c1'], trustedCa: tls.ca });
    stops.push(trusting.stop);
    env.trusting = trusting.url;
    const distrusting = await startWorker({ token: env.token, upstream: secure.url, allowBots: ['b1:c1'] });
    stops.push(distrusting.stop);
    env.distrusting = distrusting.url;
    env.misconfigured = misconfigured.url;
  });
  after(async () => {
    for (const stop of stops.reverse()) await stop();
  });

  test('routes live under the base path of the Worker route', async () => {
    assert.equal((await fetch(`${env.worker}/reekolect/healthz`)).status, 200);
    assert.equal((await put(`${env.worker}/lead`, lead(1))).status, 404);
  });

  test('the per-visitor binding limits updates of one visitor, counted once they are valid', async () => {
    const url = `${env.worker}/reekolect/lead`;
    const ip = { 'cf-connecting-ip': '198.51.100.1' };
    assert.equal((await put(url, '{"uuid":', ip)).status, 400); // not counted: refused before the limit
    assert.equal((await put(url, lead(2), { 'cf-connecting-ip': '198.51.100.2' })).status, 200);
    assert.equal((await put(url, lead(2), { 'cf-connecting-ip': '198.51.100.3' })).status, 200);
    const third = await put(url, lead(2), { 'cf-connecting-ip': '198.51.100.4' });
    assert.equal(third.status, 429);
    assert.equal(third.json.message, 'too many requests for this visitor: retry in 60 s');
    assert.equal(third.headers.get('retry-after'), '60');
    assert.equal((await put(url, lead(3), { 'cf-connecting-ip': '198.51.100.5' })).status, 200);
  });

  test('the per-IP binding limits requests of one client IP (cf-connecting-ip), checked first', async () => {
    const url = `${env.worker}/reekolect/lead`;
    const ip = { 'cf-connecting-ip': '203.0.113.7' };
    for (const n of [10, 11, 12]) assert.equal((await put(url, lead(n), ip)).status, 200);
    const over = await put(url, 'not even JSON', ip);
    assert.equal(over.status, 429);
    assert.deepEqual(over.json, { success: false, code: 429, message: 'too many requests for this client IP: retry in 60 s' });
    assert.equal(over.headers.get('retry-after'), '60');
    assert.equal((await put(url, lead(13), { 'cf-connecting-ip': '203.0.113.8' })).status, 200);
  });

  test('edge/wrangler.toml is a configuration the Worker runs with', async () => {
    assert.equal(env.shippedVars.REEKOLECT_BASE_PATH, '/reekolect');
    const [botId, customerId] = env.shippedVars.REEKOLECT_ALLOW_BOTS.split(':');
    const body = JSON.stringify({ uuid: uuid(30), botId, customerId });
    const answer = await put(`${env.shipped}/reekolect/lead`, body, { origin: env.shippedVars.REEKOLECT_ALLOW_ORIGINS });
    assert.equal(answer.status, 200, JSON.stringify(answer.json));
    assert.equal(answer.headers.get('access-control-allow-origin'), env.shippedVars.REEKOLECT_ALLOW_ORIGINS);
  });

  test('over https the lead reaches the upstream with the token; an untrusted certificate is refused', async () => {
    const answer = await put(`${env.trusting}/lead`, lead(40));
    assert.equal(answer.status, 200, JSON.stringify(answer.json));
    assert.equal(env.secureRequests.length, 1);
    const [request] = env.secureRequests;
    assert.equal(request.method, 'PUT');
    assert.equal(request.url, '/inbox/direct/lead');
    assert.equal(request.headers['x-bp-token'], env.token);
    assert.deepEqual(JSON.parse(request.body), JSON.parse(lead(40)));
    const refused = await put(`${env.distrusting}/lead`, lead(41));
    assert.equal(refused.status, 502);
    assert.match(refused.json.message, /^upstream unreachable: ./);
    assert.equal(env.secureRequests.length, 1, 'a request went through an untrusted certificate');
  });

  test('a configuration error is answered 500 naming the setting, never the token', async () => {
    const answer = await put(`${env.misconfigured}/lead`, lead(20));
    assert.equal(answer.status, 500);
    assert.match(answer.json.message, /^worker configuration: REEKOLECT_ALLOW_BOTS: say which bots/);
    assert.ok(!JSON.stringify(answer.json).includes(env.token));
    assert.equal((await fetch(`${env.misconfigured}/healthz`)).status, 200);
  });
});
