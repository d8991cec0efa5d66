// Benchmark of Reekolect Companion: payload size (vs @segment/analytics-next and
// mixpanel-browser), main-thread cost in headless Chromium, and requests on the wire.
// Run: npm run bench   (builds first when dist/ or the proxy binary is missing).
// Env: BENCH_LOADS (cold page loads, default 10), BENCH_CALLS (default 1000),
//      BENCH_SLOW_LOADS (cold loads per path on the slow network, default 5),
//      BENCH_LIGHTHOUSE_RUNS (per page, default 3; 0 skips Lighthouse and its install),
//      BENCH_SKIP_NPM=1 (no comparison install), BENCH_DEADLINE_S (whole run, default 900),
//      BENCH_SECTIONS (which of payload,main,requests,slow,lighthouse to run; default all).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, cpSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { root, dist, SCRIPT_FILES, NPM_FILES, measureFiles, sizesOf, wasmSections } from './payload.mjs';
import { SLOW_NETWORK, PATHS, writePages, slowLoad } from './slow-network.mjs';
import { ensureLighthouse, lighthouseRuns, medianOf, regressions, METRICS } from './lighthouse.mjs';

const LOADS = Number(process.env.BENCH_LOADS ?? 10);
const CALLS = Number(process.env.BENCH_CALLS ?? 1000);
const SLOW_LOADS = Number(process.env.BENCH_SLOW_LOADS ?? 5);
const LIGHTHOUSE_RUNS = Number(process.env.BENCH_LIGHTHOUSE_RUNS ?? 3);
const DEADLINE_S = Number(process.env.BENCH_DEADLINE_S ?? 900);
const SECTIONS = new Set((process.env.BENCH_SECTIONS ?? 'payload,main,requests,slow,lighthouse').split(','));
const IDS = 'benchBot01,benchCustomer01';
const PROXY_BIN = `${root}target/release/reekolect-proxy`;

// ---------------------------------------------------------------- clean-up, time bounds
const cleanups = []; // run in reverse order, each bounded in time
let cleaning;
function cleanup() {
  cleaning ??= (async () => {
    for (const fn of cleanups.reverse()) {
      try { await withTimeout(Promise.resolve().then(fn), 10_000, 'clean-up step'); } catch (error) { console.error(`clean-up: ${error.message}`); }
    }
  })();
  return cleaning;
}
function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} took more than ${ms / 1000} s`)), ms); }),
  ]);
}
const deadline = setTimeout(async () => {
  console.error(`\nbench: deadline of ${DEADLINE_S} s reached, stopping`);
  await cleanup();
  process.exit(2);
}, DEADLINE_S * 1000);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => { await cleanup(); process.exit(130); });
}

// ---------------------------------------------------------------- formatting
const say = (s = '') => process.stdout.write(s + '\n');
const note = (s) => process.stderr.write(`\x1b[2m[bench] ${s}\x1b[0m\n`);
function table(headers, rows, align) {
  const cells = rows.map((r) => r.map((c) => String(c ?? '')));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i].length)));
  const fmt = (r) => r.map((c, i) => ((align?.[i] ?? (i === 0 ? 'l' : 'r')) === 'l' ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  say('  ' + fmt(headers));
  say('  ' + widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of cells) say('  ' + fmt(r));
}
const heading = (s) => { say(); say(`== ${s} ${'='.repeat(Math.max(0, 74 - s.length))}`); };
const kb = (n) => (n == null ? 'n/a' : `${(n / 1024).toFixed(1)} KiB`);
const B = (n) => (n == null ? 'n/a' : `${n.toLocaleString('en-US')} B`);
const ms = (n, d = 1) => (n == null || Number.isNaN(n) ? 'n/a' : `${n.toFixed(d)} ms`);
const us = (n) => (n == null || Number.isNaN(n) ? 'n/a' : `${(n * 1000).toFixed(1)} µs`);
function quantile(values, q) {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}
const median = (v) => quantile(v, 0.5);
const mean = (v) => v.reduce((a, b) => a + b, 0) / v.length;

const summary = [];

// ---------------------------------------------------------------- 0. build when needed
function ensureBuilt() {
  const missing = [...SCRIPT_FILES.map((f) => `${dist}/${f}`), PROXY_BIN].filter((f) => !existsSync(f));
  if (!missing.length) return;
  note(`missing ${missing.map((f) => f.replace(root, '')).join(', ')}: running scripts/build.sh`);
  const result = spawnSync('bash', ['scripts/build.sh'], { cwd: root, stdio: 'inherit', timeout: 30 * 60_000 });
  if (result.status !== 0) throw new Error(`scripts/build.sh failed (${result.error?.message ?? `exit ${result.status}`})`);
}

// ---------------------------------------------------------------- 1. payload
function run(cmd, args, opts, timeoutMs) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c) => { out += c; });
    child.stderr.on('data', (c) => { out += c; });
    const timer = setTimeout(() => { child.kill('SIGTERM'); reject(new Error(`${cmd} timed out after ${timeoutMs / 1000} s`)); }, timeoutMs);
    cleanups.push(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM'); });
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('exit', (code) => { clearTimeout(timer); code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}:\n${out.slice(-2000)}`)); });
  });
}

// The comparison packages' install, kept until the end: section 4 serves Segment's files.
let competitorsDir;

async function competitors() {
  if (process.env.BENCH_SKIP_NPM) return { error: 'skipped (BENCH_SKIP_NPM)' };
  const dir = mkdtempSync(join(tmpdir(), 'reekolect-bench-npm-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  try {
    note(`npm install @segment/analytics-next mixpanel-browser into ${dir} …`);
    await run('npm', ['install', '--no-save', '--prefix', dir, '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error',
      '@segment/analytics-next', 'mixpanel-browser'], { cwd: dir }, 240_000);
    const out = [];
    for (const [pkg, file] of [['@segment/analytics-next', 'dist/umd/standalone.js'], ['mixpanel-browser', 'dist/mixpanel.min.js']]) {
      const base = join(dir, 'node_modules', pkg);
      const version = JSON.parse(readFileSync(join(base, 'package.json'), 'utf8')).version;
      out.push({ label: `${pkg}@${version} (${file})`, ...sizesOf(readFileSync(join(base, file))) });
    }
    competitorsDir = dir;
    return { rows: out };
  } catch (error) {
    return { error: error.message.split('\n')[0] };
  }
}

async function payloadSection() {
  heading('1. Payload (gzip -9, brotli q11; each file compressed on its own, then summed)');
  const script = measureFiles(dist, SCRIPT_FILES);
  const npm = measureFiles(dist, NPM_FILES);
  const comp = await competitors();
  say();
  say('  per file (dist/):');
  table(['file', 'raw', 'gzip -9', 'brotli 11'], script.perFile.map((f) => [f.name, B(f.raw), B(f.gzip), B(f.brotli)]));
  say();
  const rows = [
    [`(a) companion, <script> include (${SCRIPT_FILES.length} files)`, script.total],
    [`(b) companion, npm runtime (${NPM_FILES.length} files)`, npm.total],
  ];
  for (const r of comp.rows ?? []) rows.push([r.label, r]);
  table(['payload', 'raw', 'gzip -9', 'brotli 11', 'gzip KiB'],
    rows.map(([label, s]) => [label, B(s.raw), B(s.gzip), B(s.brotli), kb(s.gzip)]));
  if (comp.error) say(`  comparison packages: n/a — ${comp.error}`);
  else say('  (segment\'s standalone.js is only its first file: it lazy-loads more chunks and its destinations; section 4 loads it all)');

  const wasm = readFileSync(`${dist}/reekolect_companion_bg.wasm`);
  const sections = wasmSections(wasm).sort((a, b) => b.bytes - a.bytes);
  say();
  say('  what the .wasm is made of (sections ≥ 1 KiB):');
  table(['section', 'raw', 'raw share', 'gzip -9 alone'],
    sections.filter((s) => s.bytes >= 1024).map((s) => [s.name, B(s.bytes), `${(100 * s.bytes / wasm.length).toFixed(1)} %`, B(s.gzip)]));
  const wasmShare = script.perFile.find((f) => f.name.endsWith('.wasm')).gzip / script.total.gzip;
  summary.push(`payload (a) <script>: ${B(script.total.gzip)} gzip / ${B(script.total.brotli)} brotli; (b) npm: ${B(npm.total.gzip)} gzip — the .wasm is ${(100 * wasmShare).toFixed(0)} % of (a) gzipped`);
  for (const r of comp.rows ?? []) summary.push(`  vs ${r.label}: ${B(r.gzip)} gzip / ${B(r.brotli)} brotli`);
}

// ---------------------------------------------------------------- browser pages
const WIDGET_TAG = `<script id="Reekolect-messenger-widget" src="/widget/none.js" defer>${IDS}</script>`;
const ESM_PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>bench esm</title>
${WIDGET_TAG}
</head><body><p>companion bench (ESM)</p>
<script type="module">
window.__t = { start: performance.now() };
try {
  const m = await import('/pkg/index.js');
  window.__t.imported = performance.now();
  window.__rk = await m.init({ proxyUrl: '/' });
  window.__t.ready = performance.now();
} catch (error) { window.__t.error = String(error && error.message || error); }
</script></body></html>`;
const INCLUDE_PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>bench include</title>
${WIDGET_TAG}
<script>
!function(w,r){r=w.reekolect=w.reekolect||[];["identify","setAttributes","addTags","addNote","setStatus","assignAgent","updateLead","flush","reset","on","off"].forEach(function(m){r[m]=r[m]||function(){r.push([m].concat([].slice.call(arguments)))}})}(window);
(function (q) { var v; window.__t = {}; Object.defineProperty(q, 'loaded', { configurable: true,
  get: function () { return v; }, set: function (x) { v = x; window.__t.ready = performance.now(); } }); })(window.reekolect);
</script>
<script async src="/pkg/reekolect-companion.js" data-proxy-url="/"></script>
</head><body><p>companion bench (script include)</p></body></html>`;

// Runs before any page script: long-task observer, and who instantiates the wasm, how long.
function initScript({ uuid }) {
  sessionStorage.setItem('Reekolect_uuid', uuid);
  window.__longtasks = [];
  window.__longtaskSupported = (PerformanceObserver.supportedEntryTypes || []).includes('longtask');
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) window.__longtasks.push({ start: e.startTime, duration: e.duration });
    }).observe({ type: 'longtask', buffered: true });
  } catch (error) { window.__longtaskError = String(error); }
  window.__wasm = [];
  for (const name of ['instantiateStreaming', 'instantiate', 'compileStreaming', 'compile']) {
    const original = WebAssembly[name];
    if (typeof original !== 'function') continue;
    WebAssembly[name] = function (...args) {
      const record = { name, start: performance.now() };
      window.__wasm.push(record);
      const result = original.apply(this, args);
      Promise.resolve(result).then(() => { record.end = performance.now(); }, (e) => { record.end = performance.now(); record.error = String(e); });
      return result;
    };
  }
}

async function withPage(browser, { isolate = false } = {}, fn) {
  const context = await browser.newContext();
  try {
    await context.addInitScript(initScript, { uuid: randomUUID() }); // a fresh visitor per context
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    const consoleLines = [];
    page.on('console', (m) => { if (m.type() === 'warning' || m.type() === 'error') consoleLines.push(`${m.type()}: ${m.text()}`); });
    page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
    // For the per-call timings only: cross-origin isolation (COOP+COEP added to the HTML
    // response) gives performance.now() 5 µs resolution instead of 100 µs. Not for load
    // timings: a Playwright route intercepts every request and would slow the loads down.
    if (isolate) {
      await page.route((url) => url.pathname.endsWith('.html'), async (route) => {
        const response = await route.fetch();
        await route.fulfill({ response, headers: { ...response.headers(), 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' } });
      });
    }
    return await fn(page, consoleLines);
  } finally {
    await context.close().catch(() => {});
  }
}

// ---------------------------------------------------------------- 2. main-thread cost
async function loadOnce(page, url, kind) {
  let wasmType = null;
  page.on('response', (r) => { if (r.url().endsWith('.wasm')) wasmType = r.headers()['content-type']; });
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForFunction(() => window.__t && (window.__t.ready !== undefined || window.__t.error), null, { timeout: 20_000 });
  // Let any task right after ready finish and be observed.
  await page.evaluate(() => new Promise((r) => setTimeout(r, 100)));
  const m = await page.evaluate((kind) => {
    const res = performance.getEntriesByType('resource');
    const find = (s) => res.find((e) => e.name.endsWith(s));
    const include = find('/reekolect-companion.js');
    const wasm = find('.wasm');
    const nav = performance.getEntriesByType('navigation')[0];
    return {
      t: window.__t,
      // where "script start" is: the module script's first line (ESM), or the include's fetch start
      scriptStart: kind === 'esm' ? window.__t.start : include?.startTime,
      includeExecStart: include?.responseEnd,
      domContentLoaded: nav?.domContentLoadedEventEnd,
      wasmFetch: wasm ? { start: wasm.startTime, end: wasm.responseEnd, bytes: wasm.transferSize } : null,
      wasmCalls: window.__wasm,
      longtasks: window.__longtasks,
      longtaskSupported: window.__longtaskSupported,
      longtaskError: window.__longtaskError,
      isolated: self.crossOriginIsolated,
    };
  }, kind);
  m.wasmType = wasmType;
  return m;
}

async function timerResolution(page) {
  return page.evaluate(() => {
    let min = Infinity; let last = performance.now();
    for (let i = 0; i < 200000; i++) { const n = performance.now(); if (n !== last) { min = Math.min(min, n - last); last = n; } }
    return min;
  });
}

async function longtaskSanity(page) {
  return page.evaluate(async () => {
    const before = window.__longtasks.length;
    await new Promise((r) => setTimeout(() => { const end = performance.now() + 80; while (performance.now() < end); r(); }, 0));
    await new Promise((r) => setTimeout(r, 200));
    return window.__longtasks.length > before;
  });
}

async function callsPhase(page, n) {
  return page.evaluate(async (n) => {
    const rk = window.__rk;
    const channel = new MessageChannel();
    const nextTask = () => new Promise((r) => { channel.port1.onmessage = r; channel.port2.postMessage(0); });
    const settle = (promises) => Promise.race([
      Promise.allSettled(promises).then((all) => all.map((r) => (r.status === 'fulfilled' ? 'ok' : (r.reason && (r.reason.code || r.reason.message)) || 'rejected'))),
      new Promise((r) => setTimeout(() => r(null), 30_000)),
    ]);
    const counts = (results) => results && results.reduce((acc, r) => { acc[r] = (acc[r] || 0) + 1; return acc; }, {});

    // (i) each call in its own task, as page code would make them
    const ltStart = window.__longtasks.length;
    const spread = []; const spreadPromises = [];
    const s0 = performance.now();
    for (let i = 0; i < n; i++) {
      await nextTask();
      const a = performance.now();
      const p = rk.setAttributes({ ['k' + (i % 50)]: 'v' + i });
      spread.push(performance.now() - a);
      spreadPromises.push(p);
    }
    const s1 = performance.now();
    await rk.flush();
    const spreadResults = await settle(spreadPromises);
    const s2 = performance.now();
    await new Promise((r) => setTimeout(r, 300));
    const spreadLongtasks = window.__longtasks.slice(ltStart);

    // (ii) the same n calls back to back in one task (a burst; not how pages call it)
    const lt2 = window.__longtasks.length;
    const burst = []; const burstPromises = [];
    const b0 = performance.now();
    for (let i = 0; i < n; i++) {
      const a = performance.now();
      const p = rk.setAttributes({ ['k' + (i % 50)]: 'w' + i });
      burst.push(performance.now() - a);
      burstPromises.push(p);
    }
    const b1 = performance.now();
    await rk.flush();
    const burstResults = await settle(burstPromises);
    await new Promise((r) => setTimeout(r, 300));
    return {
      spread, spreadWall: s1 - s0, spreadSettle: s2 - s1, spreadResults: counts(spreadResults), spreadLongtasks,
      burst, burstWall: b1 - b0, burstResults: counts(burstResults), burstLongtasks: window.__longtasks.slice(lt2),
    };
  }, n);
}

async function mainThreadSection(browser, base) {
  heading(`2. Main-thread cost in headless Chromium (${LOADS} cold loads per path)`);
  const loads = { esm: [], include: [] };
  const consoleSeen = [];
  let resolution; let sanity;
  for (const kind of ['esm', 'include']) {
    for (let i = 0; i < LOADS; i++) {
      await withPage(browser, {}, async (page, consoleLines) => {
        const m = await loadOnce(page, `${base}/${kind === 'esm' ? 'bench.html' : 'include.html'}`, kind);
        if (m.t.error) throw new Error(`${kind} page failed to start the companion: ${m.t.error}`);
        if (i === 0 && kind === 'esm') { resolution = await timerResolution(page); sanity = await longtaskSanity(page); }
        consoleSeen.push(...consoleLines);
        loads[kind].push(m);
      });
    }
  }
  // warm: the same context reloads (HTTP cache and V8's wasm code cache may help)
  const warm = [];
  await withPage(browser, {}, async (page) => {
    await loadOnce(page, `${base}/bench.html`, 'esm');
    for (let i = 0; i < Math.max(3, Math.floor(LOADS / 2)); i++) warm.push(await loadOnce(page, `${base}/bench.html`, 'esm'));
  });

  const first = loads.esm[0];
  const wasmNames = [...new Set(loads.esm.flatMap((m) => m.wasmCalls.map((c) => c.name)))];
  say();
  say(`  wasm loader: wasm-bindgen's glue (--target web) calls ${wasmNames.join(' + ') || 'nothing?'} (observed),`);
  say(`               the server sent .wasm as Content-Type: ${first.wasmType ?? 'n/a'} -> ${first.wasmType === 'application/wasm' ? 'streaming compile works, no fallback' : 'FALLBACK to arrayBuffer + instantiate (slower)'}`);
  const fallback = consoleSeen.filter((l) => /instantiateStreaming/.test(l));
  if (fallback.length) say(`               console: ${fallback[0].slice(0, 160)}`);
  say(`  timer for load figures: crossOriginIsolated=${first.isolated}, performance.now() resolution ≈ ${us(resolution)} (no request interception during loads)`);
  say(`  long-task observer: supported=${first.longtaskSupported}${first.longtaskError ? ` (error ${first.longtaskError})` : ''}, sanity check (80 ms busy task seen)=${sanity ? 'yes' : 'NO'}`);
  say();

  const row = (label, list, f) => { const v = list.map(f).filter((x) => x != null && !Number.isNaN(x)); return [label, ms(median(v)), ms(quantile(v, 0.95)), ms(Math.min(...v)), ms(Math.max(...v))]; };
  const inst = (m) => { const c = m.wasmCalls.find((w) => w.name === 'instantiateStreaming') ?? m.wasmCalls.find((w) => w.name === 'instantiate'); return c?.end != null ? c.end - c.start : null; };
  table(['ESM path: init({proxyUrl}) from the module script\'s first line', 'median', 'p95', 'min', 'max'], [
    row('start -> ready (import + wasm + createCompanion), cold', loads.esm, (m) => m.t.ready - m.t.start),
    row('  of which import() of index.js + glue', loads.esm, (m) => m.t.imported - m.t.start),
    row('  of which WebAssembly.instantiate* (fetch+compile+inst.)', loads.esm, inst),
    row('  .wasm fetch (resource timing, loopback)', loads.esm, (m) => m.wasmFetch && m.wasmFetch.end - m.wasmFetch.start),
    row('start -> ready, warm reload (same context)', warm, (m) => m.t.ready - m.t.start),
    row('navigation start -> ready, cold', loads.esm, (m) => m.t.ready),
  ]);
  say();
  table(['<script async> include path', 'median', 'p95', 'min', 'max'], [
    row('include fetch start -> window.reekolect.loaded, cold', loads.include, (m) => m.t.ready - m.scriptStart),
    row('include downloaded (responseEnd) -> loaded', loads.include, (m) => m.t.ready - m.includeExecStart),
    row('  of which WebAssembly.instantiate*', loads.include, inst),
    row('navigation start -> loaded, cold', loads.include, (m) => m.t.ready),
  ]);
  const loadLong = [...loads.esm, ...loads.include].map((m) => m.longtasks.filter((t) => t.start <= (m.t.ready ?? Infinity) + 100));
  const nLong = loadLong.reduce((a, l) => a + l.length, 0);
  const worst = Math.max(0, ...loadLong.flat().map((t) => t.duration));
  say(`  long tasks during load (navigation -> ready+100 ms), over ${loadLong.length} loads: ${nLong}${nLong ? ` (longest ${ms(worst, 0)}; ${loadLong.filter((l) => l.length).length} loads had one)` : ''}`);

  // the calls
  let isolation;
  const c = await withPage(browser, { isolate: true }, async (page) => {
    const m = await loadOnce(page, `${base}/bench.html`, 'esm');
    if (m.t.error) throw new Error(m.t.error);
    isolation = { isolated: m.isolated, resolution: await timerResolution(page) };
    const puts = [];
    page.on('request', (r) => { if (r.method() === 'PUT') puts.push(r); });
    const result = await withTimeout(callsPhase(page, CALLS), 120_000, 'calls phase');
    result.puts = puts.length;
    return result;
  });
  say();
  const callRow = (label, v) => [label, us(median(v)), us(quantile(v, 0.95)), us(quantile(v, 0.99)), us(Math.max(...v)), us(mean(v))];
  table([`setAttributes(), synchronous part, ${CALLS} calls`, 'median', 'p95', 'p99', 'max', 'mean'], [
    callRow('one call per task (how pages call it)', c.spread),
    callRow('  first 100 of those', c.spread.slice(0, 100)),
    callRow('  last 100 of those', c.spread.slice(-100)),
    callRow(`back to back in one task (burst; total ${ms(c.burstWall)})`, c.burst),
  ]);
  say(`  timer for call figures: crossOriginIsolated=${isolation.isolated} (COOP/COEP added by a Playwright route), resolution ≈ ${us(isolation.resolution)}`);
  const fmtCounts = (o) => (o ? Object.entries(o).map(([k, v]) => `${v} ${k}`).join(', ') : 'did not settle in 30 s');
  say(`  promises: per-task series ${fmtCounts(c.spreadResults)}; burst ${fmtCounts(c.burstResults)}; PUTs for all ${2 * CALLS} calls: ${c.puts}`);
  const lt = (l) => (l.length ? `${l.length} (longest ${ms(Math.max(...l.map((t) => t.duration)), 0)})` : '0');
  say(`  long tasks: during the ${CALLS} per-task calls + their sends: ${lt(c.spreadLongtasks)}; during the one-task burst: ${lt(c.burstLongtasks)}`);
  if (c.burstWall > 50) say(`  (a ${CALLS}-call burst in one task takes ${ms(c.burstWall)} > 50 ms, so it is itself a long task: that is the page's loop, not a companion task)`);

  const readyMed = median(loads.esm.map((m) => m.t.ready - m.t.start));
  summary.push(`ready (ESM, cold, loopback): median ${ms(readyMed)}; <script> include fetch->loaded median ${ms(median(loads.include.map((m) => m.t.ready - m.scriptStart)))}; wasm via ${wasmNames.join('+')} (Content-Type ${first.wasmType})`);
  summary.push(`per call (setAttributes, sync part): median ${us(median(c.spread))}, p95 ${us(quantile(c.spread, 0.95))}; long tasks: load ${nLong}, per-task calls ${c.spreadLongtasks.length}`);
}

// ---------------------------------------------------------------- 3. requests
async function requestsSection(browser, base) {
  heading('3. Requests on the wire (Playwright request events)');
  const r = await withPage(browser, {}, async (page) => {
    const m = await loadOnce(page, `${base}/bench.html`, 'esm');
    if (m.t.error) throw new Error(m.t.error);
    const puts = [];
    page.on('requestfinished', async (req) => {
      if (req.method() !== 'PUT') return;
      const entry = { url: req.url(), body: req.postDataBuffer()?.length ?? 0 };
      puts.push(entry);
      entry.done = (async () => {
        const sizes = await req.sizes().catch(() => null);
        const response = await req.response().catch(() => null);
        entry.headers = sizes?.requestHeadersSize; entry.status = response?.status();
      })();
    });
    page.on('requestfailed', (req) => { if (req.method() === 'PUT') puts.push({ url: req.url(), failed: req.failure()?.errorText, body: 0 }); });
    const calls = `[
      () => rk.identify({ name: 'Ada Lovelace', email: 'ada@example.com' }),
      () => rk.setAttributes({ plan: 'pro' }),
      () => rk.addTags(['vip']),
      () => rk.setStatus('inprogress'),
      () => rk.addNote({ title: 'Asked about pricing' }),
      () => rk.setAttributes({ seats: 5 }),
      () => rk.identify({ phone: '+44 20 7946 0958' }),
      () => rk.addTags(['newsletter']),
      () => rk.setAttributes({ source: 'bench' }),
      () => rk.updateLead({ attributes: { landing: 'pricing' } }),
    ]`;
    // Ten calls spread over 180 ms (one every 20 ms), then wait for them and a quiet period.
    const batched = await page.evaluate(`(async () => {
      const rk = window.__rk; const calls = ${calls};
      const promises = []; const at = []; const t0 = performance.now();
      for (let i = 0; i < calls.length; i++) {
        const wait = t0 + 20 * i - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        at.push(performance.now()); promises.push(calls[i]());
      }
      const results = await Promise.race([Promise.allSettled(promises), new Promise((r) => setTimeout(() => r(null), 20000))]);
      await new Promise((r) => setTimeout(r, 600));
      return { span: at[at.length - 1] - at[0], ok: results && results.filter((x) => x.status === 'fulfilled').length, n: calls.length };
    })()`);
    await Promise.all(puts.map((p) => p.done));
    const batchedPuts = puts.splice(0);
    // The same ten calls, each awaited before the next: one request per update.
    const single = await page.evaluate(`(async () => {
      const rk = window.__rk; const calls = ${calls}; let ok = 0;
      for (const call of calls) { try { await call(); ok++; } catch (e) {} }
      await new Promise((r) => setTimeout(r, 300));
      return { ok, n: calls.length };
    })()`);
    await Promise.all(puts.map((p) => p.done));
    return { batched, batchedPuts, single, singlePuts: puts.splice(0) };
  });
  const sum = (l, k) => l.reduce((a, p) => a + (p[k] ?? 0), 0);
  const line = (label, run, puts) => {
    const body = sum(puts, 'body'); const headers = sum(puts, 'headers');
    return [label, `${run.ok}/${run.n}`, puts.length, B(body), B(Math.round(body / run.n)), B(Math.round((body + headers) / run.n)),
      [...new Set(puts.map((p) => p.status ?? p.failed))].join(',')];
  };
  say();
  table(['10 updates', 'resolved', 'PUTs', 'body total', 'body / update', 'body+headers / update', 'status'], [
    line(`within ${ms(r.batched.span, 0)} (batch window 250 ms)`, r.batched, r.batchedPuts),
    line('each awaited before the next', r.single, r.singlePuts),
  ]);
  say(`  goal: 1 PUT for 10 calls within 200 ms -> ${r.batchedPuts.length === 1 ? 'MET' : `NOT MET (${r.batchedPuts.length})`}; PUT url ${r.batchedPuts[0]?.url ?? 'n/a'}`);
  summary.push(`requests: 10 calls in ${ms(r.batched.span, 0)} -> ${r.batchedPuts.length} PUT(s) (goal 1: ${r.batchedPuts.length === 1 ? 'met' : 'NOT met'}), ${B(Math.round(sum(r.batchedPuts, 'body') / r.batched.n))} body per update merged vs ${B(Math.round(sum(r.singlePuts, 'body') / r.single.n))} unmerged`);
}

// ---------------------------------------------------------------- 4. slow network
async function slowNetworkSection(browser, base, www) {
  const net = `${SLOW_NETWORK.latency} ms RTT, ${(SLOW_NETWORK.downloadThroughput * 8 / 1e6).toFixed(1)} Mbit/s down`;
  heading(`4. Load on a slow network (${net}, cold cache, ${SLOW_LOADS} loads per path)`);
  writePages(www, base, competitorsDir && join(competitorsDir, 'node_modules', '@segment', 'analytics-next'));
  const paths = PATHS.filter((p) => !p.segment || competitorsDir);
  const runs = new Map(paths.map((p) => [p.key, []]));
  for (let i = 0; i < SLOW_LOADS; i++) {
    for (const path of paths) runs.get(path.key).push(await withTimeout(slowLoad(browser, `${base}/${path.file}`), 90_000, `slow load of ${path.file}`));
  }
  const medianRun = (list) => [...list].sort((a, b) => a.ready - b.ready)[Math.floor((list.length - 1) / 2)];
  say();
  table(['path (navigation -> ready)', 'median', 'min', 'max', 'FCP', 'load event', 'requests', 'chain', 'bytes'], paths.map((p) => {
    const list = runs.get(p.key); const ready = list.map((m) => m.ready); const mid = medianRun(list);
    return [p.label, ms(median(ready), 0), ms(Math.min(...ready), 0), ms(Math.max(...ready), 0), ms(median(list.map((m) => m.fcp)), 0),
      ms(median(list.map((m) => m.load)), 0), mid.requests.length, mid.chain.length, B(mid.requests.reduce((a, r) => a + r.transfer, 0))];
  }));
  say('  (requests, chain, bytes: of the median load, from the first request after the tag to ready; the widget stand-in left out)');
  say();
  say('  request chains of the median loads (start -> end ms after navigation, bytes on the wire, encoding, Chromium priority):');
  for (const p of paths) {
    const mid = medianRun(runs.get(p.key));
    say(`  ${p.key}:`);
    for (const r of mid.requests.sort((a, b) => a.start - b.start)) {
      say(`    ${mid.chain.includes(r) ? '*' : ' '} ${r.path.length > 58 ? '…' + r.path.slice(-57) : r.path.padEnd(58)} ${ms(r.start, 0).padStart(8)} -> ${ms(r.end, 0).padStart(8)} ${B(r.transfer).padStart(9)} ${r.encoding.padEnd(8)} ${r.priority}`);
    }
  }
  say('  (* = the longest chain: each request starts after the previous one ended)');
  const readyOf = (key) => runs.has(key) ? median(runs.get(key).map((m) => m.ready)) : NaN;
  const include = medianRun(runs.get('include'));
  const verdict = (ok) => (ok ? 'MET' : 'NOT MET');
  say();
  say(`  target: a chain of <= 2 requests after the tag -> include ${include.chain.length} (${verdict(include.chain.length <= 2)}), ESM ${medianRun(runs.get('esm')).chain.length} (${verdict(medianRun(runs.get('esm')).chain.length <= 2)})`);
  if (runs.has('segment')) {
    const segment = readyOf('segment');
    const compare = paths.filter((p) => !p.segment).map((p) => `${p.key} ${ms(readyOf(p.key), 0)} (${verdict(readyOf(p.key) <= segment)})`);
    say(`  target: ready no later than Segment's (${ms(segment, 0)}) -> ${compare.join(', ')}`);
  } else say('  Segment: n/a (BENCH_SKIP_NPM or its install failed)');
  summary.push(`slow network (${net}), ready medians: ${paths.map((p) => `${p.key} ${ms(readyOf(p.key), 0)}`).join(', ')}; include chain ${include.chain.length}`);
}

// ---------------------------------------------------------------- 5. lighthouse
// The demo as `reekolect-proxy --www` serves it, and the same page without the companion:
// what www/index.html marks `<!-- companion … -->` … `<!-- /companion -->` (the include, the
// preload of its .wasm, and app.js, the demo's script that reports the companion's events)
// taken out. What the companion costs the page.
// A third page, for information (not judged): the demo plus the documented preload of the
// .wasm, which makes the companion ready sooner by downloading it with the page.
const WITHOUT_FILE = 'without-companion.html';
const PRELOAD_FILE = 'with-preload.html';
function writeVariantPages(www) {
  const html = readFileSync(join(www, 'index.html'), 'utf8');
  const without = html.replace(/\n\s*<!-- companion[\s\S]*?<!-- \/companion -->/, '');
  if (without === html || /reekolect-companion|app\.js/.test(without)) throw new Error('www/index.html: cannot find the companion between <!-- companion … --> and <!-- /companion --> to take out');
  writeFileSync(join(www, WITHOUT_FILE), without);
  writeFileSync(join(www, PRELOAD_FILE), html.replace('<script async src="/pkg/reekolect-companion.js"',
    '<link rel="preload" as="fetch" crossorigin fetchpriority="low" href="/pkg/reekolect_companion_bg.wasm">\n  $&'));
}

async function lighthouseSection(base, www) {
  heading(`5. Lighthouse, the demo with and without the companion (${LIGHTHOUSE_RUNS} runs each, medians)`);
  if (!LIGHTHOUSE_RUNS) { say('  skipped (BENCH_LIGHTHOUSE_RUNS=0)'); return; }
  const version = ensureLighthouse(note);
  writeVariantPages(www);
  const { CHROMIUM_ARGS } = await import('../tests/e2e/harness.mjs');
  const pages = { without: `${base}/${WITHOUT_FILE}`, with: `${base}/`, 'with+preload': `${base}/${PRELOAD_FILE}` };
  const reports = await withTimeout(lighthouseRuns(pages, {
    runs: LIGHTHOUSE_RUNS, chromeFlags: CHROMIUM_ARGS.filter((f) => f !== '--headless'),
    onRun: (label, i) => note(`lighthouse run ${i + 1}/${LIGHTHOUSE_RUNS}: ${label} companion`),
  }), 20 * 60_000, 'lighthouse runs');
  const fmt = (id, v) => (v === null ? 'n/a' : id === 'cumulative-layout-shift' ? v.toFixed(3) : id === 'total-byte-weight' ? B(Math.round(v)) : ms(v, 0));
  const med = (label, pick) => medianOf(reports[label].map(pick));
  const rows = ['without', 'with', 'with+preload'].map((label) => [`${label} companion`,
    ...['performance', 'accessibility', 'best-practices', 'seo'].map((c) => med(label, (r) => r.scores[c])),
    ...METRICS.map(([id]) => fmt(id, med(label, (r) => r.metrics[id])))]);
  const delta = (id, variant = 'with') => med(variant, (r) => r.metrics[id]) - med('without', (r) => r.metrics[id]);
  rows.push(['difference (with - without)',
    ...['performance', 'accessibility', 'best-practices', 'seo'].map((c) => med('with', (r) => r.scores[c]) - med('without', (r) => r.scores[c])),
    ...METRICS.map(([id]) => (id === 'cumulative-layout-shift' ? delta(id).toFixed(3) : id === 'total-byte-weight' ? B(Math.round(delta(id))) : `${delta(id) >= 0 ? '+' : ''}${delta(id).toFixed(0)} ms`))]);
  say();
  table(['Lighthouse ' + version + ', mobile preset', 'perf', 'a11y', 'best', 'seo', ...METRICS.map(([, short]) => short)], rows);
  say('  every run (performance score / FCP / LCP / TBT):');
  for (const label of ['without', 'with', 'with+preload']) {
    say(`    ${label.padEnd(12)} ${reports[label].map((r) => `${r.scores.performance} / ${ms(r.metrics['first-contentful-paint'], 0)} / ${ms(r.metrics['largest-contentful-paint'], 0)} / ${ms(r.metrics['total-blocking-time'], 0)}`).join('   ')}`);
  }
  const warnings = [...new Set(Object.values(reports).flat().flatMap((r) => r.warnings))];
  if (warnings.length) say(`  lighthouse warnings: ${warnings.join(' | ')}`);
  const lost = regressions(reports.without, reports.with);
  const score = med('with', (r) => r.scores.performance) - med('without', (r) => r.scores.performance);
  const checks = [
    [`performance score equal (±2): ${score >= 0 ? '+' : ''}${score}`, Math.abs(score) <= 2],
    [`FCP +50 ms at most: ${delta('first-contentful-paint').toFixed(0)} ms`, delta('first-contentful-paint') <= 50],
    [`LCP +50 ms at most: ${delta('largest-contentful-paint').toFixed(0)} ms`, delta('largest-contentful-paint') <= 50],
    [`TBT +10 ms at most: ${delta('total-blocking-time').toFixed(0)} ms`, delta('total-blocking-time') <= 10],
    [`no audit that passes without fails with: ${lost.length ? lost.map((a) => `${a.id} (${a.before} -> ${a.after})`).join(', ') : 'none'}`, !lost.length],
  ];
  say();
  for (const [text, ok] of checks) say(`  target: ${text} -> ${ok ? 'MET' : 'NOT MET'}`);
  const sign = (v) => `${v >= 0 ? '+' : ''}${v.toFixed(0)} ms`;
  say(`  (for information, the demo plus the preload link: FCP ${sign(delta('first-contentful-paint', 'with+preload'))}, LCP ${sign(delta('largest-contentful-paint', 'with+preload'))}, TBT ${sign(delta('total-blocking-time', 'with+preload'))}, audits lost ${regressions(reports.without, reports['with+preload']).length})`);
  summary.push(`lighthouse ${version} (median of ${LIGHTHOUSE_RUNS}): perf ${med('without', (r) => r.scores.performance)} -> ${med('with', (r) => r.scores.performance)}, FCP ${delta('first-contentful-paint') >= 0 ? '+' : ''}${delta('first-contentful-paint').toFixed(0)} ms, LCP ${delta('largest-contentful-paint') >= 0 ? '+' : ''}${delta('largest-contentful-paint').toFixed(0)} ms, TBT ${delta('total-blocking-time') >= 0 ? '+' : ''}${delta('total-blocking-time').toFixed(0)} ms, audits lost ${lost.length}: targets ${checks.every(([, ok]) => ok) ? 'all met' : 'NOT all met'}`);
}

// ---------------------------------------------------------------- main
async function main() {
  const started = Date.now();
  ensureBuilt();
  say(`Reekolect Companion benchmark — ${new Date().toISOString()}, node ${process.version}, ${spawnSync('nproc').stdout?.toString().trim()} cores`);
  if (SECTIONS.has('payload') || SECTIONS.has('slow')) await payloadSection(); // the slow section serves Segment's files from its install

  const { startProxy, launchBrowser } = await import('../tests/e2e/harness.mjs');
  const www = mkdtempSync(join(tmpdir(), 'reekolect-bench-www-'));
  cleanups.push(() => rmSync(www, { recursive: true, force: true }));
  // The demo site (section 5), the bundle as built, and the bench's own pages.
  cpSync(`${root}www`, www, { recursive: true, filter: (src) => !src.startsWith(`${root}www/pkg`) });
  cpSync(dist, join(www, 'pkg'), { recursive: true });
  mkdirSync(join(www, 'widget'), { recursive: true });
  writeFileSync(join(www, 'widget', 'none.js'), '// stand-in for the widget: the companion only reads the tag\n');
  writeFileSync(join(www, 'bench.html'), ESM_PAGE);
  writeFileSync(join(www, 'include.html'), INCLUDE_PAGE);

  // The proxy's per-IP / per-visitor rate limits are policy, not companion cost: off here
  // (every request comes from 127.0.0.1, and they would turn retries into extra PUTs).
  const proxy = await startProxy({ www, args: ['--ip-per-minute', '0', '--uuid-per-minute', '0'] });
  cleanups.push(() => proxy.stop());
  const browser = await launchBrowser();
  cleanups.push(() => browser.close());
  const version = browser.version();
  note(`proxy ${proxy.url} (rate limits off), Chromium ${version}`);

  if (SECTIONS.has('main')) await mainThreadSection(browser, proxy.url);
  if (SECTIONS.has('requests')) await requestsSection(browser, proxy.url);
  if (SECTIONS.has('slow')) await slowNetworkSection(browser, proxy.url, www);
  if (SECTIONS.has('lighthouse')) await lighthouseSection(proxy.url, www);

  heading('Summary');
  for (const line of summary) say('  ' + line);
  say(`  (Chromium ${version}, headless, loopback; ${((Date.now() - started) / 1000).toFixed(0)} s)`);
}

let exitCode = 0;
try {
  await main();
} catch (error) {
  console.error(`\nbench failed: ${error.stack ?? error}`);
  exitCode = 1;
} finally {
  await cleanup();
  clearTimeout(deadline);
}
process.exit(exitCode);
