// Payload sizes of the companion, shared by bench/companion.mjs and bench/check-size.mjs so
// that both measure exactly the same figure. Each file is compressed on its own (that is
// what goes over the wire: one HTTP response per file) and the sizes are summed.
import { readFileSync } from 'node:fs';
import { gzipSync, brotliCompressSync, constants } from 'node:zlib';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('..', import.meta.url));
export const dist = `${root}dist`;

/** What a `<script async>` user downloads: the include (loader, API and glue in one), the wasm. */
export const SCRIPT_FILES = ['reekolect-companion.js', 'reekolect_companion_bg.wasm'];
/** The npm package's runtime files (what a bundler pulls in; types are not shipped to browsers). */
export const NPM_FILES = ['index.js', 'reekolect_companion_bg.wasm'];

export function gzip9(buffer) {
  return gzipSync(buffer, { level: 9 }).length;
}

export function brotli11(buffer) {
  return brotliCompressSync(buffer, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: 11,
      [constants.BROTLI_PARAM_SIZE_HINT]: buffer.length,
    },
  }).length;
}

/** { raw, gzip, brotli } of one buffer. */
export function sizesOf(buffer) {
  return { raw: buffer.length, gzip: gzip9(buffer), brotli: brotli11(buffer) };
}

/** Per-file sizes and their sum, for files under `dir`. Throws naming a missing file. */
export function measureFiles(dir, files) {
  const perFile = files.map((name) => ({ name, ...sizesOf(readFileSync(`${dir}/${name}`)) }));
  const total = perFile.reduce((sum, f) => ({
    raw: sum.raw + f.raw, gzip: sum.gzip + f.gzip, brotli: sum.brotli + f.brotli,
  }), { raw: 0, gzip: 0, brotli: 0 });
  return { perFile, total };
}

/** The budgeted figure: gzip -9 of the `<script>` payload, each file compressed separately. */
export function scriptPayloadGzip(dir = dist) {
  return measureFiles(dir, SCRIPT_FILES).total.gzip;
}

/**
 * Sections of a wasm module with their raw sizes (code, data, names, custom sections…),
 * to say what dominates the payload.
 */
export function wasmSections(buffer) {
  const names = ['custom', 'type', 'import', 'function', 'table', 'memory', 'global', 'export',
    'start', 'element', 'code', 'data', 'datacount', 'tag'];
  const sections = [];
  let offset = 8; // magic + version
  const leb = () => {
    let result = 0; let shift = 0; let byte;
    do { byte = buffer[offset++]; result += (byte & 0x7f) * 2 ** shift; shift += 7; } while (byte & 0x80);
    return result;
  };
  while (offset < buffer.length) {
    const id = buffer[offset++];
    const size = leb();
    const start = offset;
    let name = names[id] ?? `id ${id}`;
    if (id === 0) {
      const length = leb();
      name = `custom "${buffer.subarray(offset, offset + length).toString('utf8')}"`;
    }
    sections.push({ name, bytes: size, gzip: gzip9(buffer.subarray(start, start + size)) });
    offset = start + size;
  }
  return sections;
}
