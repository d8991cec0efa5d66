// How each class of upstream answer is relayed (issue 19's table), against both targets, with
// stand-in upstreams on 127.0.0.1: a redirect is never followed, an HTML error page is never
// pasted into JSON, a 2xx without JSON is a success, Retry-After reaches the browser.
// The messages are the ones in proxy/README.md's relay table.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { TARGETS, selectedTargets, newToken, startStandIn } from './targets.mjs';

const lead = { uuid: '7e88d192-9b20-4035-9b68-000000000001', botId: 'b1', customerId: 'c1' };
const HTML = '<html><body>503 Service Temporarily Unavailable</body></html>';

/** What each stand-in path answers: the Worker and the proxy call `<upstream>/inbox/direct/lead`. */
const STAND_INS = {
  redirect: (response, elsewhere) => { response.writeHead(307, { location: `${elsewhere}/steal` }); response.end(); },
  relativeRedirect: (response) => { response.writeHead(302, { location: '/elsewhere/lead' }); response.end(); },
  redirectNowhere: (response) => { response.writeHead(308); response.end(); },
  html503: (response) => { response.writeHead(503, { 'content-type': 'text/html' }); response.end(HTML); },
  empty200: (response) => { response.writeHead(200); response.end(); },
  text200: (response) => { response.writeHead(200, { 'content-type': 'text/plain' }); response.end('OK'); },
  json429: (response) => {
    response.writeHead(429, { 'content-type': 'application/json', 'retry-after': '37' });
    response.end('{"success":false,"code":429,"message":"rate limited"}');
  },
  html503retry: (response) => { response.writeHead(503, { 'content-type': 'text/html', 'retry-after': '12' }); response.end(HTML); },
  oversized: (response) => {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ padding: 'x'.repeat(1_100_000) }));
  },
  stalledBody: (response) => {
    response.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
    response.write('{"success":'); // and nothing more: the upstream timeout (1 s here) runs out
  },
  closedMidAnswer: (response) => {
    response.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
    response.write('{"success":');
    setTimeout(() => response.socket.destroy(), 20);
  },
};

for (const target of selectedTargets()) {
  describe(`upstream answers relayed: ${target}`, () => {
    const env = { token: newToken(), targets: {} };
    const stops = [];
    before(async () => {
      // A second listener on another loopback address: a followed redirect would land here.
      env.elsewhereRequests = [];
      const elsewhere = createServer((request, response) => { env.elsewhereRequests.push(request.url); response.end('{"stolen":true}'); });
      await new Promise((resolve) => elsewhere.listen(0, '127.0.0.2', resolve));
      env.elsewhere = `http://127.0.0.2:${elsewhere.address().port}`;
      stops.push(() => new Promise((resolve) => { elsewhere.closeAllConnections(); elsewhere.close(() => resolve()); }));
      for (const [name, answer] of Object.entries(STAND_INS)) {
        const standIn = await startStandIn((request, body, response) => answer(response, env.elsewhere));
        stops.push(standIn.stop);
        (env.standIns ??= {})[name] = standIn.url;
        const upstreamTimeout = name === 'stalledBody' ? '1s' : undefined;
        const started = await TARGETS[target]({ token: env.token, upstream: standIn.url, allowBots: ['b1:c1'], upstreamTimeout });
        stops.push(started.stop);
        env.targets[name] = started.url;
      }
    });
    after(async () => {
      for (const stop of stops.reverse()) await stop();
    });

    async function put(name) {
      const response = await fetch(`${env.targets[name]}/lead`, {
        method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(lead),
      });
      const text = await response.text();
      assert.ok(!text.includes(env.token), 'the token came back');
      return { status: response.status, headers: response.headers, text, json: JSON.parse(text) };
    }

    test('a redirect is not followed: 502 naming the origin only', async () => {
      const answer = await put('redirect');
      assert.equal(answer.status, 502);
      assert.deepEqual(answer.json, { success: false, code: 502, message: `upstream redirected to ${env.elsewhere}` });
      assert.deepEqual(env.elsewhereRequests, [], 'the lead (and token) went to the redirect target');
      const relative = await put('relativeRedirect');
      assert.equal(relative.status, 502);
      // A relative Location is resolved against the upstream's URL: its own origin.
      assert.equal(relative.json.message, `upstream redirected to ${env.standIns.relativeRedirect}`);
      const nowhere = await put('redirectNowhere');
      assert.deepEqual(nowhere.json, { success: false, code: 502, message: 'upstream redirected without a valid location' });
    });

    test('an HTML error page is described, never echoed', async () => {
      const answer = await put('html503');
      assert.equal(answer.status, 503);
      assert.deepEqual(answer.json, {
        success: false, code: 503, message: `upstream answered 503 (text/html, ${HTML.length} bytes)`,
      });
    });

    test('a 2xx without JSON is a success that says so', async () => {
      for (const name of ['empty200', 'text200']) {
        const answer = await put(name);
        assert.equal(answer.status, 200);
        assert.equal(answer.json.success, true, name);
        assert.equal(answer.json.code, 200);
        assert.match(answer.json.message, /^upstream sent no JSON: answered 200 \(/);
      }
    });

    test('an answer over 1 MiB: 502', async () => {
      const answer = await put('oversized');
      assert.equal(answer.status, 502);
      assert.deepEqual(answer.json, { success: false, code: 502, message: 'upstream answer is larger than 1048576 bytes' });
    });

    test('a connection closed mid-answer: 502', async () => {
      const answer = await put('closedMidAnswer');
      assert.equal(answer.status, 502);
      assert.deepEqual(answer.json, { success: false, code: 502, message: 'upstream closed the connection while answering' });
    });

    test('an answer whose body stalls past the upstream timeout: 504', async () => {
      const answer = await put('stalledBody');
      assert.equal(answer.status, 504);
      assert.deepEqual(answer.json, { success: false, code: 504, message: 'upstream timeout while reading its answer' });
    });

    test('Retry-After is relayed on 429 and 503', async () => {
      const limited = await put('json429');
      assert.equal(limited.status, 429);
      assert.equal(limited.headers.get('retry-after'), '37');
      assert.deepEqual(limited.json, { success: false, code: 429, message: 'rate limited' });
      const unavailable = await put('html503retry');
      assert.equal(unavailable.status, 503);
      assert.equal(unavailable.headers.get('retry-after'), '12');
    });
  });
}
