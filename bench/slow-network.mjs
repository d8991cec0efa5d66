// Load path on a slow network: navigation -> ready for the `<script async>` include (with and
// without the documented preload link) and for the ESM import, next to Segment's analytics.js
// from its own snippet to its ready, in the same run. Chromium emulates the network through
// CDP (150 ms round trip, 1.6 Mbit/s down, 750 kbit/s up; a fresh context per load, so a cold
// cache), and every file goes through `reekolect-proxy --www`, compressed as a CDN serves it.
import { copyFileSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The emulated network (CDP Network.emulateNetworkConditions): bytes per second. */
export const SLOW_NETWORK = { offline: false, latency: 150, downloadThroughput: 1_600_000 / 8, uploadThroughput: 750_000 / 8 };
const SEGMENT_KEY = 'benchWriteKey01';
const IDS = 'benchBot01,benchCustomer01';

const page = (title, head) => `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>${title}</title>
<script id="Reekolect-messenger-widget" src="/widget/none.js" defer>${IDS}</script>
${head}
</head><body><h1>${title}</h1><p>An ordinary page: the tag below is all a site owner adds.</p></body></html>`;

// The README's include: the queue snippet, then the tag. `loaded` is observed, not polled.
const QUEUE_SNIPPET = `<script>
!function(w,r){r=w.reekolect=w.reekolect||[];["identify","setAttributes","addTags","addNote","setStatus","assignAgent","updateLead","flush","reset","on","off","captureForms","captureForm","setConsent"].forEach(function(m){r[m]=r[m]||function(){r.push([m].concat([].slice.call(arguments)))}})}(window);
(function (q) { var v; Object.defineProperty(q, 'loaded', { configurable: true,
  get: function () { return v; }, set: function (x) { v = x; window.__ready = performance.now(); } }); })(window.reekolect);
</script>`;
const INCLUDE_TAG = '<script async src="/pkg/reekolect-companion.js" data-proxy-url="/"></script>';
const PRELOAD = '<link rel="preload" as="fetch" crossorigin href="/pkg/reekolect_companion_bg.wasm">';
const PRELOAD_LOW = PRELOAD.replace('crossorigin', 'crossorigin fetchpriority="low"');
const ESM = `<script type="module">
import { init } from '/pkg/index.js';
init({ proxyUrl: '/' }).then(() => { window.__ready = performance.now(); }, (e) => { window.__error = String(e && e.message || e); });
</script>`;

// Segment's analytics.js 2.0 snippet (5.2.1) as its docs give it, with the CDN origin made
// the bench server's (`_cdn`, what Segment offers for proxying its CDN) and a ready callback.
const segmentSnippet = (cdn) => `<script>
!function(){var i="analytics",analytics=window[i]=window[i]||[];if(!analytics.initialize)if(analytics.invoked)window.console&&console.error&&console.error("Segment snippet included twice.");else{analytics.invoked=!0;analytics.methods=["trackSubmit","trackClick","trackLink","trackForm","pageview","identify","reset","group","track","ready","alias","debug","page","screen","once","off","on","addSourceMiddleware","addIntegrationMiddleware","setAnonymousId","addDestinationMiddleware","register"];analytics.factory=function(e){return function(){if(window[i].initialized)return window[i][e].apply(window[i],arguments);var n=Array.prototype.slice.call(arguments);if(["track","screen","alias","group","page","identify"].indexOf(e)>-1){var c=document.querySelector("link[rel='canonical']");n.push({__t:"bpc",c:c&&c.getAttribute("href")||void 0,p:location.pathname,u:location.href,s:location.search,t:document.title,r:document.referrer})}n.unshift(e);analytics.push(n);return analytics}};for(var n=0;n<analytics.methods.length;n++){var key=analytics.methods[n];analytics[key]=analytics.factory(key)}analytics.load=function(key,n){var t=document.createElement("script");t.type="text/javascript";t.async=!0;t.setAttribute("data-global-segment-analytics-key",i);t.src="${cdn}/analytics.js/v1/" + key + "/analytics.min.js";var r=document.getElementsByTagName("script")[0];r.parentNode.insertBefore(t,r);analytics._loadOptions=n};analytics._writeKey="${SEGMENT_KEY}";analytics._cdn="${cdn}";analytics.SNIPPET_VERSION="5.2.1";
analytics.load("${SEGMENT_KEY}");
analytics.page();
analytics.ready(function () { window.__ready = performance.now(); });
}}();
</script>`;

/** The paths measured: label, page file, what the site owner adds. */
export const PATHS = [
  { key: 'include', label: 'companion, <script async> include (README)', file: 'slow-include.html', head: QUEUE_SNIPPET + '\n' + INCLUDE_TAG },
  { key: 'preload', label: '  + <link rel=preload> of the .wasm', file: 'slow-preload.html', head: PRELOAD + '\n' + QUEUE_SNIPPET + '\n' + INCLUDE_TAG },
  { key: 'preload-low', label: '  + the same preload, fetchpriority=low', file: 'slow-preload-low.html', head: PRELOAD_LOW + '\n' + QUEUE_SNIPPET + '\n' + INCLUDE_TAG },
  { key: 'esm', label: 'companion, ESM import (module script)', file: 'slow-esm.html', head: ESM },
  { key: 'esm-preload', label: '  + <link rel=preload> of the .wasm', file: 'slow-esm-preload.html', head: PRELOAD + '\n' + ESM },
  { key: 'segment', label: 'Segment analytics.js, its snippet', file: 'slow-segment.html', segment: true },
];

/**
 * Writes the pages into `www`, and Segment's files where its snippet and its loader look for
 * them (`/analytics.js/v1/<key>/analytics.min.js`, `/v1/projects/<key>/settings`,
 * `/analytics-next/bundles/`), when `segmentDir` (the installed package) is given.
 */
export function writePages(www, origin, segmentDir) {
  for (const path of PATHS) {
    if (path.segment && !segmentDir) continue;
    writeFileSync(join(www, path.file), page(`slow network: ${path.key}`, path.segment ? segmentSnippet(origin) : path.head));
  }
  if (!segmentDir) return;
  const umd = join(segmentDir, 'dist', 'umd');
  mkdirSync(join(www, 'analytics.js', 'v1', SEGMENT_KEY), { recursive: true });
  copyFileSync(join(umd, 'standalone.js'), join(www, 'analytics.js', 'v1', SEGMENT_KEY, 'analytics.min.js'));
  mkdirSync(join(www, 'analytics-next', 'bundles'), { recursive: true });
  for (const file of readdirSync(umd).filter((f) => /\.bundle\.[0-9a-f]+\.js$/.test(f))) {
    copyFileSync(join(umd, file), join(www, 'analytics-next', 'bundles', file));
  }
  // What cdn.segment.com answers for a source with no device-mode destination: the fewest
  // requests Segment can make. Its own events go to this server (they are not timed).
  const host = new URL(origin).host;
  mkdirSync(join(www, 'v1', 'projects', SEGMENT_KEY), { recursive: true });
  writeFileSync(join(www, 'v1', 'projects', SEGMENT_KEY, 'settings'), JSON.stringify({
    integrations: { 'Segment.io': { apiKey: SEGMENT_KEY, unbundledIntegrations: [], addBundledMetadata: true, maybeBundledConfigIds: {},
      versionSettings: { version: '4.4.7', componentTypes: ['browser'] }, apiHost: `${host}/segment-api/v1`, protocol: 'http' } },
    plan: { track: { __default: { enabled: true, integrations: {} } }, identify: { __default: { enabled: true } }, group: { __default: { enabled: true } } },
    edgeFunction: {}, analyticsNextEnabled: true, middlewareSettings: {}, enabledMiddleware: {}, metrics: { sampleRate: 0 },
    legacyVideoPluginsEnabled: false, remotePlugins: [],
  }));
}

/**
 * The longest run of requests each starting after the previous one ended (a dependency
 * chain, as the waterfall shows it): its length and its requests.
 */
export function longestChain(requests) {
  const sorted = [...requests].sort((a, b) => a.start - b.start);
  const best = sorted.map(() => ({ length: 1, previous: -1 }));
  for (let i = 0; i < sorted.length; i++) {
    for (let j = 0; j < i; j++) {
      if (sorted[j].end <= sorted[i].start + 1 && best[j].length + 1 > best[i].length) best[i] = { length: best[j].length + 1, previous: j };
    }
  }
  let at = best.reduce((top, b, i) => (b.length > best[top].length ? i : top), 0);
  const chain = [];
  while (at >= 0 && sorted.length) { chain.unshift(sorted[at]); at = best[at].previous; }
  return chain;
}

/** One cold load of `url` on the slow network: navigation -> ready, the requests before ready. */
export async function slowLoad(browser, url) {
  const context = await browser.newContext();
  try {
    await context.addInitScript(() => sessionStorage.setItem('Reekolect_uuid', crypto.randomUUID()));
    const tab = await context.newPage();
    const cdp = await context.newCDPSession(tab);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', SLOW_NETWORK);
    const priorities = new Map();
    cdp.on('Network.requestWillBeSent', (e) => priorities.set(e.request.url, e.request.initialPriority));
    const encodings = new Map();
    tab.on('response', (r) => encodings.set(r.url(), r.headers()['content-encoding'] ?? 'identity'));
    await tab.goto(url, { waitUntil: 'load', timeout: 60_000 });
    await tab.waitForFunction(() => window.__ready !== undefined || window.__error, null, { timeout: 60_000 });
    const m = await tab.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      const fcp = performance.getEntriesByName('first-contentful-paint')[0];
      const requests = performance.getEntriesByType('resource').map((e) => ({
        name: e.name, start: e.startTime, end: e.responseEnd, transfer: e.transferSize, body: e.decodedBodySize,
      }));
      return { ready: window.__ready, error: window.__error, load: nav.loadEventStart, dcl: nav.domContentLoadedEventStart, fcp: fcp?.startTime, requests };
    });
    if (m.error) throw new Error(`${url}: ${m.error}`);
    // What the product requests until ready (the widget stand-in and the favicon are the page's).
    m.requests = m.requests.filter((r) => r.start <= m.ready && !/\/widget\/|\/favicon\.ico$/.test(r.name))
      .map((r) => ({ ...r, path: new URL(r.name).pathname, encoding: encodings.get(r.name) ?? '?', priority: priorities.get(r.name) ?? '?' }));
    m.chain = longestChain(m.requests);
    return m;
  } finally {
    await context.close().catch(() => {});
  }
}
