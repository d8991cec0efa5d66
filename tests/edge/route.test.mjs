// The deployed layout of edge/wrangler.toml in a real browser: a shop page on the site's origin
// includes /reekolect/reekolect-companion.js (the build's static assets, served under the
// Worker's route) with data-proxy-url="/reekolect", and its updates reach the mock through the
// Worker on the same route. The front in edge-site.mjs plays Cloudflare's routing (assets first,
// then the Worker).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, demoLeads } from '../e2e/harness.mjs';
import { startEdgeSite } from '../e2e/edge-site.mjs';

const SHOP = `<!doctype html>
<html><head><meta charset="utf-8"><title>A shop on a hosted builder</title>
<script id="Reekolect-messenger-widget" src="/widget/Reekolect.js" defer>demoBot01,demoCustomer01</script>
<script>
!function(w,r){r=w.reekolect=w.reekolect||[];["identify","setAttributes","addTags","addNote","setStatus","assignAgent","updateLead","flush","reset","on","off","captureForms","captureForm","setConsent"].forEach(function(m){r[m]=r[m]||function(){r.push([m].concat([].slice.call(arguments)))}})}(window);
</script>
<script async src="/reekolect/reekolect-companion.js" data-proxy-url="/reekolect"></script>
</head><body><h1>Plants</h1></body></html>`;

const env = {};
before(async () => {
  env.site = await startEdgeSite({ basePath: '/reekolect', pages: { '/shop.html': SHOP } });
  env.browser = await launchBrowser();
});
after(async () => {
  await env.browser?.close();
  await env.site?.stop();
});

test('the companion from the Worker route updates the lead through the Worker', { timeout: 60_000 }, async () => {
  const uuid = '3f2a9c1e-7b4d-4e8a-9c6f-1a2b3c4d5e6f';
  const context = await env.browser.newContext();
  await context.addInitScript((id) => sessionStorage.setItem('Reekolect_uuid', id), uuid);
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  const leads = [];
  page.on('request', (request) => { if (new URL(request.url()).pathname.endsWith('/reekolect/lead')) leads.push(request.method()); });

  await page.goto(`${env.site.url}/shop.html`);
  await page.evaluate(() => window.reekolect.push(['setAttributes', { plan: 'pro' }], ['addTags', ['edge']]));
  await page.waitForFunction(() => window.reekolect.loaded === true, null, { timeout: 10_000 });
  await page.evaluate(() => window.reekolect.flush());

  const lead = (await demoLeads(env.site.url)).find((l) => l.uuid === uuid);
  assert.ok(lead, 'the mock holds no lead for the visitor');
  assert.deepEqual(lead.profile.userDetails.attributes, [{ key: 'plan', value: 'pro' }]);
  assert.deepEqual(leads, ['PUT']);
  assert.deepEqual(pageErrors, []);
  await context.close();
});
