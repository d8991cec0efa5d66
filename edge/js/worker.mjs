// The Worker's entry: the I/O the platform offers (the request, fetch, the rate-limit
// bindings); every rule and every answer's body comes from the wasm (edge/src/lib.rs), the
// shared lead rules compiled for the edge. See edge/README.md.
import wasmModule from './reekolect_edge_bg.wasm';
import {
  initSync, Edge, configErrorAnswer, healthAnswer, notFoundAnswer, methodNotAllowedAnswer,
} from './reekolect_edge.js';

initSync({ module: wasmModule });

/** The vars and secrets the wasm reads (edge/src/config.rs, `Vars`). */
const VAR_NAMES = [
  'REEKOLECT_API_TOKEN', 'REEKOLECT_UPSTREAM', 'REEKOLECT_ALLOW_BOTS', 'REEKOLECT_ALLOW_ANY_BOT',
  'REEKOLECT_ALLOW_ORIGINS', 'REEKOLECT_MAX_BODY_BYTES', 'REEKOLECT_UPSTREAM_TIMEOUT',
  'REEKOLECT_VISITOR_SECRET', 'REEKOLECT_BASE_PATH', 'REEKOLECT_LIMIT_PERIOD',
];

const USER_AGENT = 'reekolect-edge/0.1.0';

// One Edge per isolate and env (the same env object comes back with every request).
let cached = { env: null, edge: null, error: null };

function edgeFor(env) {
  if (cached.env !== env) {
    const vars = {};
    for (const name of VAR_NAMES) {
      // Strings from secrets and [vars]; numbers and booleans written unquoted in wrangler.toml too.
      if (['string', 'number', 'boolean'].includes(typeof env[name])) vars[name] = String(env[name]);
    }
    try {
      cached = { env, edge: new Edge(JSON.stringify(vars)), error: null };
    } catch (error) {
      cached = { env, edge: null, error: String(error) };
    }
  }
  return cached;
}

/** A Response from an Answer, with CORS headers and the request id. */
function respond(answer, extraHeaders) {
  const headers = new Headers(extraHeaders);
  headers.set('content-type', 'application/json');
  if (answer.retryAfter) headers.set('retry-after', answer.retryAfter);
  const response = new Response(answer.body, { status: answer.status, headers });
  answer.free();
  return response;
}

/** Reads at most `max` bytes of a body; null when it is longer. */
async function readCapped(stream, max) {
  if (!stream) return new Uint8Array(0);
  const reader = stream.getReader();
  const chunks = [];
  let length = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    length += value.byteLength;
    if (length > max) {
      await reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  const body = new Uint8Array(length);
  let at = 0;
  for (const chunk of chunks) { body.set(chunk, at); at += chunk.byteLength; }
  return body;
}

function isTextOrJson(contentType) {
  const essence = (contentType ?? '').split(';')[0].trim().toLowerCase();
  return essence === 'text/plain' || essence === 'application/json';
}

/** True when the binding (if the owner set one) says the key is over its limit. */
async function overLimit(binding, key) {
  if (!binding || typeof binding.limit !== 'function') return false;
  const { success } = await binding.limit({ key });
  return !success;
}

/** `PUT`/`POST /lead`: the per-IP limit, the body limit, the checks, the forward. */
async function lead(request, env, edge, url) {
  const ip = request.headers.get('cf-connecting-ip') ?? '';
  if (await overLimit(env.REEKOLECT_IP_LIMITER, ip)) return edge.tooMany('client IP');

  const max = edge.maxBodyBytes;
  const declared = Number(request.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > max) return edge.tooLarge();
  const body = await readCapped(request.body, max);
  if (body === null) return edge.tooLarge();
  // After the body, as the proxy's router checks it.
  if (request.method === 'POST' && !isTextOrJson(request.headers.get('content-type'))) return edge.unsupportedType();

  const token = edge.checksVisitors
    ? request.headers.get('x-reekolect-visitor') ?? url.searchParams.get('visitor') ?? undefined
    : undefined;
  const admitted = edge.admit(body, token, Date.now() / 1000, url.searchParams.get('updateId') ?? undefined);
  if (!admitted.forward) return admitted;
  const { body: leadJson, uuid, key } = admitted;
  admitted.free();
  if (await overLimit(env.REEKOLECT_VISITOR_LIMITER, uuid)) return edge.tooMany('visitor');
  if (key === undefined) return forward(edge, leadJson);
  // Each update once, as far as this isolate knows (edge/src/once.rs).
  const known = edge.claimUpdate(key, Date.now());
  if (known !== undefined) return known;
  let answer;
  try {
    answer = await forward(edge, leadJson);
  } catch (error) { // never expected; a failure all the same, so the id is freed
    answer = edge.unreachable(error?.message ?? String(error));
  }
  edge.settleUpdate(key, answer, Date.now());
  return answer;
}

/** PUT the lead upstream with the token; never following a redirect. */
async function forward(edge, leadJson) {
  const timeoutMs = edge.upstreamTimeoutMs;
  const deadline = AbortSignal.timeout(timeoutMs);
  let upstream;
  try {
    upstream = await fetch(edge.leadUrl, {
      method: 'PUT',
      headers: { 'x-bp-token': edge.token, 'content-type': 'application/json', 'user-agent': USER_AGENT },
      body: leadJson,
      redirect: 'manual',
      signal: deadline,
    });
  } catch (error) {
    if (deadline.aborted) return edge.timedOut();
    return edge.unreachable(error?.message ?? String(error));
  }
  let body;
  try {
    body = await readCapped(upstream.body, edge.maxUpstreamBytes);
  } catch {
    return deadline.aborted ? edge.readTimedOut() : edge.closedWhileAnswering();
  }
  if (body === null) return edge.upstreamTooLarge();
  // A redirect is named by the origin it points to (resolved against the API's URL), never
  // the whole URL; without a valid location, by none (the proxy's rule).
  let locationOrigin;
  const location = upstream.headers.get('location');
  if (location !== null) {
    try {
      const target = new URL(location.trim(), edge.leadUrl);
      if (target.host) locationOrigin = target.origin;
    } catch { /* not a URL: no origin to name */ }
  }
  return edge.relay(upstream.status, upstream.headers.get('content-type') ?? undefined, locationOrigin,
    upstream.headers.get('retry-after') ?? undefined, body);
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const { edge, error } = edgeFor(env);
    const origin = request.headers.get('origin') ?? undefined;
    const preflight = request.method === 'OPTIONS' && request.headers.has('access-control-request-method');
    const headers = [['x-request-id', request.headers.get('x-request-id') || crypto.randomUUID()]];
    const cors = edge ? edge.cors(origin, preflight) : [];
    for (let i = 0; i < cors.length; i += 2) headers.push([cors[i], cors[i + 1]]);

    const base = edge ? edge.basePath : '';
    const path = url.pathname.startsWith(base) ? url.pathname.slice(base.length) : null;
    if (preflight && edge) return new Response(null, { status: 200, headers });
    if (path === '/healthz' && request.method === 'GET') return respond(healthAnswer(), headers);
    if (!edge) return respond(configErrorAnswer(error), headers);
    if (path !== '/lead') return respond(notFoundAnswer(), headers);
    if (request.method !== 'PUT' && request.method !== 'POST') {
      headers.push(['allow', 'POST,PUT']);
      return respond(methodNotAllowedAnswer(), headers);
    }
    return respond(await lead(request, env, edge, url), headers);
  },
};
