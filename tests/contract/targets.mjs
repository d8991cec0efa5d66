// The two implementations of the `/lead` contract, started the same way on 127.0.0.1:
// `reekolect-proxy serve` (the reference) and the Cloudflare Worker (edge/) in workerd, with
// a config this module writes. Also the embedded mock API and small stand-in upstreams.
import { execFileSync, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { createHmac, randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
const proxyBinary = `${root}/target/release/reekolect-proxy`;
const dist = `${root}/edge/dist`;

/** A fresh API token, as long as real ones (the proxy and the Worker refuse short ones). */
export function newToken() {
  return 'contract-' + randomBytes(16).toString('hex');
}

/** A visitor token for `uuid`, minted as a site's backend mints it (proxy/README.md). */
export function visitorToken(secret, uuid, expiry = Math.floor(Date.now() / 1000) + 600) {
  const payload = `v1.${uuid}.${expiry}`;
  return `${payload}.${createHmac('sha256', secret).update(payload).digest('base64url')}`;
}

/** Spawns `command` and resolves with { child, url } once stdout has a line matching `pattern`. */
function started(command, args, env, pattern, what) {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => { stderr += chunk; });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${what} did not start in 10 s:\n${stderr}`)); }, 10_000);
    let stdout = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      const match = stdout.match(pattern);
      if (match) { clearTimeout(timer); resolve({ child, url: match[1], logs: () => stderr }); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`${what} exited (${code}):\n${stderr}`)); });
  });
}

/** Stops a child by its PID (SIGTERM, SIGKILL after 3 s: a hanging request may hold a
 * graceful shutdown) and waits for it. */
function stopper(child) {
  return () => new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
    child.once('exit', () => { clearTimeout(timer); resolve(); });
    child.kill('SIGTERM');
  });
}

/** The embedded mock API alone (`reekolect-proxy mock-api`), expecting `token`. */
export async function startMock(token, args = []) {
  const { child, url, logs } = await started(proxyBinary, ['mock-api', '--listen', '127.0.0.1:0', ...args],
    { REEKOLECT_API_TOKEN: token }, /listening on (http:\/\/[\d.:]+)/, 'mock-api');
  return { url, stop: stopper(child), logs };
}

/**
 * The settings both targets take, under their proxy names:
 * { upstream, token, allowBots: ['b1:c1'], allowOrigins: [...], visitorSecret, upstreamTimeout: '1s' }.
 */
function proxyArgs(settings) {
  const args = ['serve', '--listen', '127.0.0.1:0', '--upstream', settings.upstream, '--workers', '1'];
  for (const pair of settings.allowBots ?? []) args.push('--allow-bot', pair);
  for (const origin of settings.allowOrigins ?? []) args.push('--allow-origin', origin);
  if (settings.upstreamTimeout) args.push('--upstream-timeout', settings.upstreamTimeout);
  if (settings.www) args.push('--www', settings.www);
  return args;
}

/** `reekolect-proxy serve` with `settings`. */
export async function startProxy(settings) {
  const env = { REEKOLECT_API_TOKEN: settings.token };
  if (settings.visitorSecret) env.REEKOLECT_VISITOR_SECRET = settings.visitorSecret;
  const { child, url, logs } = await started(proxyBinary, proxyArgs(settings), env,
    /listening on (http:\/\/[\d.:]+)/, 'reekolect-proxy serve');
  return { url, stop: stopper(child), logs };
}

/** The Worker's vars and secrets for `settings` (edge/src/config.rs). */
function workerBindings(settings) {
  const text = {
    REEKOLECT_API_TOKEN: settings.token,
    REEKOLECT_UPSTREAM: settings.upstream,
    REEKOLECT_ALLOW_BOTS: (settings.allowBots ?? []).join(','),
    REEKOLECT_ALLOW_ORIGINS: (settings.allowOrigins ?? []).join(','),
  };
  if (settings.visitorSecret) text.REEKOLECT_VISITOR_SECRET = settings.visitorSecret;
  if (settings.upstreamTimeout) text.REEKOLECT_UPSTREAM_TIMEOUT = settings.upstreamTimeout;
  if (settings.basePath) text.REEKOLECT_BASE_PATH = settings.basePath;
  Object.assign(text, settings.vars ?? {});
  const bindings = Object.entries(text).filter(([, value]) => value !== undefined).map(([name, value]) => `(name = ${JSON.stringify(name)}, text = ${JSON.stringify(value)})`);
  // The platform's rate-limit binding has no local implementation in workerd itself: a
  // stand-in of its API (`limit({key}) → {success}`) counts per key, so that the Worker's use
  // of it is tested. On Cloudflare the binding is theirs (edge/wrangler.toml).
  for (const [name, limit] of Object.entries(settings.rateLimits ?? {})) {
    bindings.push(`(name = ${JSON.stringify(name)}, wrapped = (moduleName = "reekolect-test:ratelimit", ` +
      `innerBindings = [(name = "limit", json = ${JSON.stringify(String(limit))})]))`);
  }
  return bindings;
}

const RATE_LIMIT_STAND_IN = `// A stand-in for Cloudflare's rate-limit binding in tests: a count per key, never reset.
export default function (env) {
  const counts = new Map();
  return {
    async limit({ key }) {
      const count = (counts.get(key) ?? 0) + 1;
      counts.set(key, count);
      return { success: count <= env.limit };
    },
  };
}
`;

/** The path to the workerd binary of the npm package `workerd`. */
async function workerdBinary() {
  return createRequire(import.meta.url)('workerd').default;
}

/** The Worker (edge/dist, built by scripts/build-edge.sh) in workerd, with `settings`. */
export async function startWorker(settings) {
  for (const file of ['worker.mjs', 'reekolect_edge.js', 'reekolect_edge_bg.wasm']) {
    if (!existsSync(`${dist}/${file}`)) throw new Error(`${dist}/${file} is missing: run scripts/build-edge.sh`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'reekolect-workerd-'));
  writeFileSync(`${dir}/ratelimit.mjs`, RATE_LIMIT_STAND_IN);
  // workerd embeds files relative to its config.
  for (const file of ['worker.mjs', 'reekolect_edge.js', 'reekolect_edge_bg.wasm']) copyFileSync(`${dist}/${file}`, `${dir}/${file}`);
  const config = `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    # Loopback only: the upstreams of these tests are on 127.0.0.1 (https ones with a test CA).
    (name = "internet", network = (allow = ["local"]${settings.trustedCa ? `, tlsOptions = (trustedCertificates = [${JSON.stringify(settings.trustedCa)}])` : ''})),
  ],
  sockets = [(name = "http", address = "127.0.0.1:0", http = (), service = "main")],
  extensions = [(modules = [(name = "reekolect-test:ratelimit", esModule = embed "ratelimit.mjs", internal = true)])],
);
const worker :Workerd.Worker = (
  modules = [
    (name = "worker.mjs", esModule = embed "worker.mjs"),
    (name = "reekolect_edge.js", esModule = embed "reekolect_edge.js"),
    (name = "reekolect_edge_bg.wasm", wasm = embed "reekolect_edge_bg.wasm"),
  ],
  compatibilityDate = "2025-09-01",
  bindings = [
    ${workerBindings(settings).join(',\n    ')}
  ],
);
`;
  writeFileSync(`${dir}/config.capnp`, config);
  const child = spawn(await workerdBinary(), ['serve', `${dir}/config.capnp`, '--control-fd=3'],
    { stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
  let logs = '';
  child.stdout.on('data', (chunk) => { logs += chunk; });
  child.stderr.on('data', (chunk) => { logs += chunk; });
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`workerd did not start in 15 s:\n${logs}`)); }, 15_000);
    let control = '';
    child.stdio[3].on('data', (chunk) => {
      control += chunk;
      for (const line of control.split('\n')) {
        const event = line.trim() ? JSON.parse(line) : null;
        if (event?.event === 'listen' && event.socket === 'http') {
          clearTimeout(timer);
          resolve(`http://127.0.0.1:${event.port}`);
        }
      }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`workerd exited (${code}):\n${logs}`)); });
  });
  const stop = stopper(child);
  return { url, logs: () => logs, stop: async () => { await stop(); rmSync(dir, { recursive: true, force: true }); } };
}

/** The targets, by name; `REEKOLECT_CONTRACT_TARGETS=proxy` (or `edge`) runs one. */
export const TARGETS = { proxy: startProxy, edge: startWorker };

export function selectedTargets() {
  const names = (process.env.REEKOLECT_CONTRACT_TARGETS ?? 'proxy,edge').split(',').map((n) => n.trim()).filter(Boolean);
  for (const name of names) if (!TARGETS[name]) throw new Error(`unknown target ${name}: expected proxy or edge`);
  return names;
}

/** A port nothing listens on (bound, then closed). */
export async function closedPort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * A stand-in upstream on 127.0.0.1: `answer(request, body, response)` writes each answer.
 * Records every request it gets. Resolves to { url, requests, stop }.
 */
export async function startStandIn(answer) {
  const requests = [];
  const server = createServer((request, response) => {
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      requests.push({ method: request.method, url: request.url, headers: request.headers, body });
      answer(request, body, response);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const stop = () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); });
  return { url: `http://127.0.0.1:${server.address().port}`, requests, stop };
}

/**
 * A test CA and a certificate it signed for 127.0.0.1 (openssl, P-256, valid one day), made in
 * a temporary folder that is removed. Resolves to { ca, cert, key } as PEM text.
 */
export function testCertificates() {
  const dir = mkdtempSync(join(tmpdir(), 'reekolect-ca-'));
  const openssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  try {
    openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=reekolect test CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign');
    openssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
    writeFileSync(`${dir}/ext.cnf`, 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
      '-out', 'server.pem', '-days', '1', '-extfile', 'ext.cnf');
    const read = (file) => readFileSync(`${dir}/${file}`, 'utf8');
    return { ca: read('ca.pem'), cert: read('server.pem'), key: read('server.key') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** [startStandIn] over https with `tls` ({ cert, key }). */
export async function startHttpsStandIn(tls, answer) {
  const requests = [];
  const server = createHttpsServer({ cert: tls.cert, key: tls.key }, (request, response) => {
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      requests.push({ method: request.method, url: request.url, headers: request.headers, body });
      answer(request, body, response);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const stop = () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); });
  return { url: `https://127.0.0.1:${server.address().port}`, requests, stop };
}
