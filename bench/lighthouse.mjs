// Lighthouse 12.2.3 (its default: the mobile preset, simulated slow 4G and a 4x slower CPU)
// on the demo page with and without the companion, runs interleaved, medians compared.
// Lighthouse is installed on demand into bench/lighthouse/ (its own package-lock.json):
// 146 packages, 111 MB that `npm test` never needs, so they stay out of the root install.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const HERE = fileURLToPath(new URL('./lighthouse/', import.meta.url));
const VERSION = JSON.parse(readFileSync(`${HERE}package.json`, 'utf8')).dependencies.lighthouse;

/** The metrics compared, with how each is shown. */
export const METRICS = [
  ['first-contentful-paint', 'FCP'], ['largest-contentful-paint', 'LCP'], ['total-blocking-time', 'TBT'],
  ['speed-index', 'SI'], ['interactive', 'TTI'], ['cumulative-layout-shift', 'CLS'], ['total-byte-weight', 'bytes'],
];
const CATEGORIES = ['performance', 'accessibility', 'best-practices', 'seo'];

/** Installs Lighthouse into bench/lighthouse/ unless the pinned version is there. */
export function ensureLighthouse(note) {
  const installed = `${HERE}node_modules/lighthouse/package.json`;
  if (existsSync(installed) && JSON.parse(readFileSync(installed, 'utf8')).version === VERSION) return VERSION;
  note(`installing lighthouse ${VERSION} into bench/lighthouse/ (npm ci; once)`);
  const result = spawnSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: HERE, stdio: 'inherit', timeout: 300_000 });
  if (result.status !== 0) throw new Error(`npm ci in bench/lighthouse failed (${result.error?.message ?? `exit ${result.status}`})`);
  return VERSION;
}

/** What one report says: category scores (0-100), metrics, and every scored audit. */
function extract(lhr) {
  const audits = {};
  for (const [id, audit] of Object.entries(lhr.audits)) {
    if (audit.score !== null && ['binary', 'numeric', 'metricSavings'].includes(audit.scoreDisplayMode)) audits[id] = { score: audit.score, title: audit.title };
  }
  return {
    scores: Object.fromEntries(CATEGORIES.map((c) => [c, lhr.categories[c] ? Math.round(lhr.categories[c].score * 100) : null])),
    metrics: Object.fromEntries(METRICS.map(([id]) => [id, lhr.audits[id]?.numericValue ?? null])),
    audits,
    warnings: lhr.runWarnings ?? [],
  };
}

/**
 * Runs Lighthouse `runs` times on each of `pages` ({ label: url }), interleaved, in one
 * Chromium started (and stopped, by its PID) here. Resolves to { label: [report, …] }.
 */
export async function lighthouseRuns(pages, { runs = 3, chromeFlags = [], onRun = () => {} } = {}) {
  const { default: lighthouse } = await import(`${HERE}node_modules/lighthouse/core/index.js`);
  const { launch } = await import(`${HERE}node_modules/chrome-launcher/dist/index.js`);
  const chrome = await launch({ chromePath: '/usr/bin/chromium', chromeFlags: ['--headless=new', ...chromeFlags] });
  const reports = Object.fromEntries(Object.keys(pages).map((label) => [label, []]));
  try {
    for (let i = 0; i < runs; i++) {
      for (const [label, url] of Object.entries(pages)) {
        const result = await lighthouse(url, { port: chrome.port, output: 'json', logLevel: 'error', onlyCategories: CATEGORIES });
        if (!result?.lhr) throw new Error(`lighthouse gave no report for ${url}`);
        if (result.lhr.runtimeError) throw new Error(`lighthouse on ${url}: ${result.lhr.runtimeError.message}`);
        reports[label].push(extract(result.lhr));
        onRun(label, i);
      }
    }
  } finally {
    await chrome.kill();
  }
  return reports;
}

/** The median of the runs' values (the middle one of three). */
export function medianOf(values) {
  const sorted = values.filter((v) => v !== null && v !== undefined).sort((a, b) => a - b);
  return sorted.length ? sorted[Math.floor((sorted.length - 1) / 2)] : null;
}

/**
 * Audits that pass without the companion (median score >= 0.9, Lighthouse's green) but fail
 * with it: the regressions the companion must not cause.
 */
export function regressions(without, withIt) {
  const out = [];
  for (const id of Object.keys(without[0].audits)) {
    const before = medianOf(without.map((r) => r.audits[id]?.score));
    const after = medianOf(withIt.map((r) => r.audits[id]?.score));
    if (before !== null && before >= 0.9 && after !== null && after < 0.9) out.push({ id, title: without[0].audits[id].title, before, after });
  }
  return out;
}
