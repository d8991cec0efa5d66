// The demo with the Cloudflare Worker in front of the mock, as a site on a hosted builder runs
// it: the site's pages from one origin, and its `/lead` path routed to the Worker (what a
// Worker route such as `www.example.com/reekolect/*` does). A small front on 127.0.0.1 plays
// the site and the route: www/ as static files, `/lead` relayed to the Worker in workerd
// (byte for byte), and `/demo/leads` for the inbox page, read from the mock with the token
// (server side, as the proxy's demo route does). Used by harness.mjs when
// REEKOLECT_E2E_TARGET=edge.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { newToken, startMock, startWorker } from '../contract/targets.mjs';

const www = fileURLToPath(new URL('../../www', import.meta.url));
const assets = fileURLToPath(new URL('../../edge/dist/assets', import.meta.url));
const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css',
  '.wasm': 'application/wasm', '.json': 'application/json', '.svg': 'image/svg+xml', '.png': 'image/png',
};
const HOP_BY_HOP = new Set(['host', 'connection', 'keep-alive', 'transfer-encoding', 'content-length']);

/** Relays a request to the Worker and its answer back. */
async function toWorker(workerUrl, request, response) {
  const chunks = [];
  for await (const chunk of request) chunks.push(chunk);
  const headers = Object.entries(request.headers).filter(([name]) => !HOP_BY_HOP.has(name));
  const method = request.method;
  const answer = await fetch(`${workerUrl}${request.url}`, {
    method, headers, body: ['GET', 'HEAD'].includes(method) ? undefined : Buffer.concat(chunks), redirect: 'manual',
  });
  const body = Buffer.from(await answer.arrayBuffer());
  const out = [...answer.headers].filter(([name]) => !HOP_BY_HOP.has(name) && name !== 'content-encoding');
  response.writeHead(answer.status, Object.fromEntries(out));
  response.end(body);
}

/** Every chat of the demo bot in the mock, as the proxy's `/demo/leads` lists them. */
async function demoLeads(mockUrl, token, query) {
  const botId = query.get('botId');
  const customerId = query.get('customerId');
  const leads = [];
  for (const type of ['lead', 'non-lead']) {
    for (let page = 1; page <= 500; page++) {
      const params = new URLSearchParams({ botId, customerId, page: String(page), type });
      const answer = await fetch(`${mockUrl}/inbox/direct/chats?${params}`, { headers: { 'x-bot-token': token } });
      if (!answer.ok) throw new Error(`mock chats answered ${answer.status}`);
      const { data } = await answer.json();
      leads.push(...data);
      if (data.length < 20) break;
    }
  }
  const key = (record) => `${record.createdAt ?? ''}\u0000${record._id ?? ''}`;
  return leads.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

async function staticFile(path, response) {
  const file = normalize(join(www, decodeURIComponent(path.endsWith('/') ? `${path}index.html` : path)));
  if (!file.startsWith(www)) {
    response.writeHead(404).end();
    return;
  }
  try {
    const body = await readFile(file);
    response.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
    response.end(body);
  } catch {
    response.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
  }
}

/** Serves `path` from edge/dist/assets when the build put a file there; false otherwise. */
async function asset(path, response) {
  const file = normalize(join(assets, decodeURIComponent(path)));
  if (!file.startsWith(assets + sep)) return false;
  let body;
  try { body = await readFile(file); } catch { return false; }
  response.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
  response.end(body);
  return true;
}

/**
 * Starts the mock, the Worker and the front. Resolves to { url, token, stop, logs }.
 * `basePath` ('/reekolect'): the deployed layout of edge/wrangler.toml instead of the demo's
 * `/lead`: under that path, the build's static assets (edge/dist/assets) first, as Cloudflare
 * serves them before asking the Worker, then the Worker. `pages`: extra HTML by path.
 */
export async function startEdgeSite({ basePath = '', pages = {} } = {}) {
  const token = newToken();
  const mock = await startMock(token);
  const worker = await startWorker({ token, upstream: mock.url, allowBots: ['demoBot01:demoCustomer01'], basePath });
  const routed = (path) => (basePath ? path.startsWith(`${basePath}/`) : path === '/lead');
  async function answer(request, response) {
    const url = new URL(request.url, 'http://front');
    if (pages[url.pathname] !== undefined) {
      response.writeHead(200, { 'content-type': TYPES['.html'] }).end(pages[url.pathname]);
    } else if (routed(url.pathname)) {
      if (!(await asset(url.pathname, response))) await toWorker(worker.url, request, response);
    } else if (url.pathname === '/demo/leads') {
      const leads = await demoLeads(mock.url, token, url.searchParams);
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ leads }));
    } else {
      await staticFile(url.pathname, response);
    }
  }
  const front = createServer((request, response) => {
    answer(request, response).catch((error) => {
      if (!response.headersSent) response.writeHead(502, { 'content-type': 'text/plain' });
      response.end(String(error));
    });
  });
  await new Promise((resolve) => front.listen(0, '127.0.0.1', resolve));
  const stop = async () => {
    front.closeAllConnections();
    await new Promise((resolve) => front.close(() => resolve()));
    await worker.stop();
    await mock.stop();
  };
  return { url: `http://127.0.0.1:${front.address().port}`, token, stop, logs: () => worker.logs() + mock.logs() };
}
