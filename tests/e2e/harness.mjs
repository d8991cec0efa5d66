// Shared set-up of the end-to-end tests: the proxy (with its embedded mock API) serving
// the demo on 127.0.0.1, and Debian's Chromium driven by playwright-core.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { before, after } from 'node:test';
import { chromium } from 'playwright-core';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Chromium flags that keep it quiet and quick on a closed network, as root. */
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--no-first-run', '--disable-quic',
];

/**
 * Starts the release proxy on an ephemeral loopback port, serving www/, in mock mode with
 * a fresh random token. Resolves to { url, token, stop }.
 */
export async function startProxy({ www = `${root}/www`, args = [] } = {}) {
  const token = 'e2e-secret-' + randomBytes(12).toString('hex');
  const child = spawn(`${root}/target/release/reekolect-proxy`,
    ['serve', '--listen', '127.0.0.1:0', '--upstream', 'mock', '--www', www, ...args],
    { env: { ...process.env, REEKOLECT_API_TOKEN: token }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => { stderr += chunk; });
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`proxy did not start in 10 s:\n${stderr}`)), 10_000);
    let stdout = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      const match = stdout.match(/listening on (http:\/\/[\d.:]+)/);
      if (match) { clearTimeout(timer); resolve(match[1]); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`proxy exited (${code}):\n${stderr}`)); });
  });
  const stop = () => new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', resolve);
    child.kill('SIGTERM');
  });
  return { url, token, stop, logs: () => stderr };
}

/** Launches headless Chromium from /usr/bin/chromium. */
export function launchBrowser() {
  return chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS, timeout: 30_000 });
}

/** Every lead the mock holds for a bot (the demo's by default), read through the demo route. */
export async function demoLeads(proxyUrl, botId = 'demoBot01', customerId = 'demoCustomer01') {
  const response = await fetch(`${proxyUrl}/demo/leads?botId=${botId}&customerId=${customerId}`);
  if (!response.ok) throw new Error(`/demo/leads answered ${response.status}`);
  return (await response.json()).leads;
}

/**
 * Registers before/after hooks that start the proxy (with `options`, as startProxy takes)
 * and Chromium for the test file, and stop both. Returns the object they appear on.
 */
export function withProxyAndBrowser(options) {
  const env = {};
  before(async () => {
    // REEKOLECT_E2E_TARGET=edge: the Cloudflare Worker in front of the mock (edge-site.mjs;
    // `options` are the proxy's and do not apply: scripts/test-edge.sh runs demo.test.mjs so).
    env.proxy = process.env.REEKOLECT_E2E_TARGET === 'edge'
      ? await (await import('./edge-site.mjs')).startEdgeSite()
      : await startProxy(options);
    env.browser = await launchBrowser();
  });
  after(async () => {
    await env.browser?.close();
    await env.proxy?.stop();
  });
  return env;
}
