// The npm package as it would be published: `npm publish --dry-run` is clean, and the files it
// ships are exactly the runtime (ESM entry with its glue, types, wasm, the <script> include),
// the site owners' README and the license: no sources, tests or build scripts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));

test('npm pack ships exactly the runtime, the README and the license', { timeout: 60_000 }, () => {
  const [pack] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' }));
  const files = pack.files.map((file) => file.path).sort();
  assert.deepEqual(files, [
    'LICENSE',
    'README.md',
    'dist/index.d.ts',
    'dist/index.js',
    'dist/reekolect-companion.js',
    'dist/reekolect_companion_bg.wasm',
    'package.json',
  ]);
  // Every path package.json points at is shipped.
  const pointed = [manifest.types, ...Object.values(manifest.exports).flatMap((e) => (typeof e === 'string' ? [e] : Object.values(e)))];
  for (const path of pointed) assert.ok(files.includes(path.replace(/^\.\//, '')), `${path} is not in the package`);
});

test('the package says where it comes from, under which license, and its README is the site owners\' one', () => {
  assert.equal(manifest.license, 'MIT');
  assert.match(manifest.repository.url, /^git\+https:\/\/.+\.git$/);
  assert.match(manifest.homepage, /^https:\/\//);
  assert.match(readFileSync(new URL('../../LICENSE', import.meta.url), 'utf8'), /^MIT License/);
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const lines = readme.split('\n').length;
  assert.ok(lines <= 250, `README.md has ${lines} lines (at most 250)`);
  const order = ['## The two commands', '## Use it on your site', '## Run the proxy in production', '## The API', '## Form capture and privacy', '## Reliability', '## Read more'];
  const at = order.map((heading) => readme.indexOf(`\n${heading}\n`));
  assert.ok(at.every((i) => i > 0), `README sections missing: ${order.filter((_, i) => at[i] < 0)}`);
  assert.deepEqual([...at].sort((a, b) => a - b), at, 'README sections out of order');
});

test('npm publish --dry-run succeeds without warnings about the package', { timeout: 60_000 }, () => {
  const run = spawnSync('npm', ['publish', '--dry-run', '--ignore-scripts'], { cwd: root, encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  // The only warning expected here is that no one is logged in to the registry.
  const warnings = run.stderr.split('\n').filter((line) => /npm warn/i.test(line) && !/logged in/.test(line));
  assert.deepEqual(warnings, []);
});
