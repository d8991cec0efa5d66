// Form capture in a real browser, against a page full of traps: exactly what reaches the
// mock, field by field, and no sensitive value in any request the page sends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withProxyAndBrowser, demoLeads } from './harness.mjs';

const env = withProxyAndBrowser();

const SECRETS = ['hunter2-secret', '4111111111111111', '4111 1111 1111 1111', '5500 0055 5555 5559', '378282246310005',
  'GB82WEST12345698765432', 'GB82 WEST 1234 5698 7654 32', '078-05-1120', '737', 'utm-hidden-value', 'ignored-value',
  'ignored-form-value'];

const PAGE = `<!doctype html><html><head>
  <script id="Reekolect-messenger-widget" src="/widget/none.js" defer>formsBot,formsCustomer</script>
  <script type="module">
    import { init } from '/pkg/index.js';
    window.rk = await init({ proxyUrl: '/', batchWindowMs: 50, captureForms: true });
  </script></head><body>
  <form id="traps">
    <label>E-mail address <span><input name="field_1" value=" Ada@Example.COM "></span></label>
    <label for="who">Your name</label><input id="who" name="field_2" value="Ada Lovelace">
    <input type="tel" name="contact" value="+44 20 7946 0958">
    <label>Nickname <input type="password" name="nickname" value="hunter2-secret"></label>
    <label>Promo code <input name="promo" autocomplete="cc-number" value="4111111111111111"></label>
    <label>Order reference <input name="reference" value="4111 1111 1111 1111"></label>
    <label>Account <input name="account" value="GB82 WEST 1234 5698 7654 32"></label>
    <label>Social <input name="ssn" value="078-05-1120"></label>
    <label>Code on the back <input name="cvc" value="737"></label>
    <input type="hidden" name="utm_source" value="utm-hidden-value">
    <input type="file" name="cv">
    <label>Ignored <input name="internal" data-reekolect-ignore value="ignored-value"></label>
    <label>Notes <textarea name="notes">Please call. My card is 5500 0055 5555 5559, exp 12/29.</textarea></label>
    <label>Budget <select name="budget"><option>small</option><option selected>large</option></select></label>
    <label>Channels <select name="channels" multiple><option selected>email</option><option>sms</option><option selected>phone</option></select></label>
    <input type="radio" name="size" value="s"><input type="radio" name="size" value="m" checked>
    <input type="checkbox" name="extras[]" value="pots" checked><input type="checkbox" name="extras[]" value="soil"><input type="checkbox" name="extras[]" value="care" checked>
    <label>Amex on file? <input name="backup_payment" value="pay with 378282246310005 thanks"></label>
    <button>Send</button>
  </form>
  <form id="ignored" data-reekolect-ignore><input name="email" value="ignored-form-value"><button>Send</button></form>
  <form id="leaves" action="/thanks.html" method="get">
    <input name="company" value="Analytical Engines Ltd"><input name="password" type="password" value="hunter2-secret">
    <button>Go</button>
  </form>
  </body></html>`;

test('a form full of traps: the right fields arrive, no secret leaves the page', { timeout: 60_000 }, async () => {
  const uuid = '6f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0';
  const context = await env.browser.newContext();
  await context.addInitScript((id) => sessionStorage.setItem('Reekolect_uuid', id), uuid);
  await context.route('**/forms.html', (route) => route.fulfill({ contentType: 'text/html', body: PAGE }));
  await context.route('**/thanks.html*', (route) => route.fulfill({ contentType: 'text/html', body: PAGE.replace('<form id="traps">', '<p id="thanks">Thanks!</p><form id="traps">') }));
  const bodies = [];
  context.on('request', (request) => { if (['PUT', 'POST'].includes(request.method())) bodies.push(request.postData() ?? ''); });
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await page.goto(`${env.proxy.url}/forms.html`);
  await page.waitForFunction(() => window.rk !== undefined);

  // The site's own handler keeps working and sees the submit (capture never blocks it).
  await page.evaluate(() => {
    document.getElementById('traps').addEventListener('submit', (e) => { e.preventDefault(); window.siteHandled = true; });
    document.getElementById('ignored').addEventListener('submit', (e) => e.preventDefault());
  });
  await page.click('#traps button');
  await page.click('#ignored button');
  // A form added later by the page's own script, with an explicit mapping.
  await page.evaluate(() => {
    const late = document.createElement('form');
    late.innerHTML = '<input name="x1" data-reekolect-field="tag" value="late-form"><input name="plan" data-reekolect-field="attribute:Plan Tier" value="gold"><button>Go</button>';
    late.addEventListener('submit', (e) => e.preventDefault());
    document.body.append(late);
    late.querySelector('button').click();
  });
  await page.evaluate(() => window.rk.flush());
  assert.equal(await page.evaluate(() => window.siteHandled), true);

  // A form that navigates away at once: its capture must survive the unload.
  await Promise.all([page.waitForURL('**/thanks.html*'), page.click('#leaves button')]);
  await page.waitForFunction(() => window.rk !== undefined);

  let user;
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    user = (await demoLeads(env.proxy.url, 'formsBot', 'formsCustomer')).find((l) => l.uuid === uuid)?.profile.userDetails;
    if (user?.attributes.some((a) => a.key === 'company')) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const lead = (await demoLeads(env.proxy.url, 'formsBot', 'formsCustomer')).find((l) => l.uuid === uuid);
  assert.equal(user.name, 'Ada Lovelace');
  assert.equal(user.contact.email, 'Ada@example.com');
  assert.deepEqual(user.contact.phone, { number: '2079460958', prefix: '44' });
  assert.deepEqual(user.tags, ['late-form']);
  // Cards and IBANs typed into ordinary fields are cut out, or the field dropped when that is
  // all it held (reference, account); the rest arrives as attributes, keys normalised.
  assert.deepEqual(Object.fromEntries(user.attributes.map((a) => [a.key, a.value])), {
    notes: 'Please call. My card is [removed], exp 12/29.',
    budget: 'large',
    channels: 'email, phone',
    size: 'm',
    extras: 'pots, care',
    backup_payment: 'pay with [removed] thanks',
    plan_tier: 'gold',
    company: 'Analytical Engines Ltd',
  });
  assert.deepEqual(lead.profile.notes, []);
  for (const secret of SECRETS) {
    const leaks = bodies.filter((body) => body.includes(secret) || body.includes(secret.replace(/ /g, '')));
    assert.deepEqual(leaks, [], `"${secret}" was sent`);
  }
  assert.deepEqual(pageErrors, []);
  await context.close();
});
