// The npm package as a user gets it: `npm pack`, installed into a fresh Vite app, built,
// and run in Chromium against the proxy; plus a strict TypeScript check of its types.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, mkdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startProxy, launchBrowser, demoLeads } from './harness.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
let app;
let proxy;
let browser;

before(() => {
  app = mkdtempSync(join(tmpdir(), 'reekolect-vite-'));
});

after(async () => {
  await browser?.close();
  await proxy?.stop();
  rmSync(app, { recursive: true, force: true });
});

test('npm pack → a fresh Vite app imports it, builds, and updates the lead in Chromium', { timeout: 120_000 }, async () => {
  const tarball = execFileSync('npm', ['pack', '--silent', '--ignore-scripts', '--pack-destination', app], { cwd: root, encoding: 'utf8' })
    .trim().split('\n').pop();
  const listing = execFileSync('tar', ['-tzf', join(app, tarball)], { encoding: 'utf8' });
  for (const file of ['package/dist/index.js', 'package/dist/index.d.ts', 'package/dist/reekolect_companion_bg.wasm']) {
    assert.ok(listing.includes(file), `${file} missing from the package:\n${listing}`);
  }
  assert.ok(!listing.includes('package/src/'), 'the package ships only its runtime files');

  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'shop', private: true, type: 'module' }));
  execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--loglevel=error', `./${tarball}`], { cwd: app });
  // Vite from this repository's dev dependencies, not downloaded again.
  mkdirSync(join(app, 'node_modules', '.bin'), { recursive: true });
  symlinkSync(join(root, 'node_modules', 'vite'), join(app, 'node_modules', 'vite'));
  writeFileSync(join(app, 'index.html'), `<!doctype html><html><head>
    <script id="Reekolect-messenger-widget" src="/widget/Reekolect.js" defer>viteBot,viteCustomer</script>
    </head><body><p id="out">loading</p><script type="module" src="/main.ts"></script></body></html>`);
  writeFileSync(join(app, 'main.ts'), `import { init } from 'reekolect-companion';
    const out = document.getElementById('out')!;
    const rk = await init({ proxyUrl: '/' });
    try {
      await rk.identify({ name: 'Vite User', email: 'vite@example.com' });
      out.textContent = 'sent ' + rk.context().uuid;
    } catch (error) {
      out.textContent = 'error ' + (error as Error).message;
    }`);
  execFileSync(process.execPath, [join(root, 'node_modules/vite/bin/vite.js'), 'build', '--logLevel', 'error'], { cwd: app });
  // The built app has the widget stand-in beside it, as a real site has the real widget.
  mkdirSync(join(app, 'dist', 'widget'), { recursive: true });
  execFileSync('cp', [join(root, 'www/widget/Reekolect.js'), join(app, 'dist/widget/')]);

  proxy = await startProxy({ www: join(app, 'dist') });
  browser = await launchBrowser();
  const page = await browser.newPage();
  const pageErrors = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await page.goto(proxy.url + '/');
  await page.click('.rk-bubble');
  await page.waitForFunction(() => document.getElementById('out').textContent !== 'loading', null, { timeout: 15_000 });
  const out = await page.innerText('#out');
  assert.match(out, /^sent [0-9a-f-]{36}$/);
  const leads = await demoLeads(proxy.url, 'viteBot', 'viteCustomer');
  assert.equal(leads.length, 1);
  assert.equal(leads[0].uuid, out.slice(5));
  assert.equal(leads[0].profile.userDetails.name, 'Vite User');
  assert.deepEqual(pageErrors, []);
});

test('the shipped types accept right calls and refuse wrong ones (tsc --strict)', { timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'reekolect-types-'));
  try {
    writeFileSync(join(dir, 'ok.ts'), `import { init, type ReekolectError } from '${root}dist/index.js';
      const rk = await init({ proxyUrl: '/reekolect', batchWindowMs: 100 });
      await rk.identify({ name: 'Ann', email: 'ann@example.com', phone: '+44 20 7946 0958' });
      await rk.setAttributes({ plan: 'pro', seats: 3, trial: false });
      await rk.addTags(['vip']);
      await rk.addNote({ title: 'Call back', description: 'after 5pm' });
      await rk.setStatus('inprogress');
      await rk.updateLead({ status: 'OPEN', attributes: [{ key: 'a', value: 'b' }] });
      rk.on('sent', ({ update, answer }) => console.log(update.uuid, answer.success));
      rk.on('invalid', ({ error }) => console.log((error as ReekolectError).field));
      const { uuid }: { uuid: string } = rk.context();
      window.reekolect?.push(['addTags', ['x']], ['setStatus', 'CLOSED'], ['track', 'signup', { plan: 'pro' }]);
      const tracked = await init({ proxyUrl: '/reekolect', trackPages: true });
      await tracked.track('pricing viewed', { plan: 'pro', seats: 3, annual: true });
      await tracked.track('signup');
      console.log(uuid);`);
    writeFileSync(join(dir, 'wrong.ts'), `import { init } from '${root}dist/index.js';
      const rk = await init({ proxyUrl: '/p' });
      rk.setStatus('DONE');
      rk.identify({ status: 'OPEN' });
      rk.on('sended', () => {});
      window.reekolect?.push(['addTags', 'not-a-list']);
      rk.track('nested', { plan: { name: 'pro' } });`);
    const tsc = join(root, 'node_modules/typescript/bin/tsc');
    const flags = ['--noEmit', '--strict', '--target', 'es2022', '--module', 'esnext', '--moduleResolution', 'bundler', '--lib', 'es2022,dom'];
    execFileSync(process.execPath, [tsc, ...flags, join(dir, 'ok.ts')], { encoding: 'utf8' });
    let output = '';
    try {
      execFileSync(process.execPath, [tsc, ...flags, join(dir, 'wrong.ts')], { encoding: 'utf8' });
    } catch (error) {
      output = error.stdout;
    }
    const errorLines = output.split('\n').filter((line) => line.includes('error TS'));
    assert.equal(errorLines.length, 5, `expected 5 type errors, got:\n${output}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
