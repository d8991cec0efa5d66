// Benchmark of the edge Worker's wasm (edge/dist, built by scripts/build-edge.sh): what a cold
// isolate pays to compile and instantiate it, and the CPU of its work per request (config,
// admission of a typical update, relay of the API's answer), in Node's V8 as a stand-in for
// the Workers runtime's. Prints figures; asserts nothing.
// Run: node bench/edge.mjs   Env: BENCH_EDGE_ROUNDS (default 20000).
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const dist = new URL('../edge/dist/', import.meta.url);
const ROUNDS = Number(process.env.BENCH_EDGE_ROUNDS ?? 20_000);
const bytes = readFileSync(new URL('reekolect_edge_bg.wasm', dist));
const glue = await import(new URL('reekolect_edge.js', dist));

const compiles = [];
let module;
for (let i = 0; i < 10; i++) {
  const started = performance.now();
  module = new WebAssembly.Module(bytes);
  compiles.push(performance.now() - started);
}
let started = performance.now();
glue.initSync({ module });
const instantiateMs = performance.now() - started;

const vars = JSON.stringify({
  REEKOLECT_API_TOKEN: 'bench-token-0123456789abcdef', REEKOLECT_UPSTREAM: 'https://api.example',
  REEKOLECT_ALLOW_BOTS: 'benchBot01:benchCustomer01', REEKOLECT_ALLOW_ORIGINS: 'https://shop.example',
});
started = performance.now();
const edge = new glue.Edge(vars);
const configMs = performance.now() - started;

const body = new TextEncoder().encode(JSON.stringify({
  uuid: '7e88d192-9b20-4035-9b68-d4ac3d58a34f', botId: 'benchBot01', customerId: 'benchCustomer01',
  name: '  Ada Lovelace ', email: 'ada@Example.com', phone: '+44 20 7946 0958',
  tags: ['newsletter', 'calathea'], attributes: { plan: 'pro', seats: 3 },
  notes: [{ title: 'Your question', description: 'Brown leaf edges on my calathea.' }],
}));
const answer = new TextEncoder().encode('{"success":true,"message":"ok","code":200}');

function perCall(fn) {
  for (let i = 0; i < 1000; i++) fn(); // warm up
  const samples = [];
  for (let round = 0; round < 5; round++) {
    const begun = performance.now();
    for (let i = 0; i < ROUNDS / 5; i++) fn();
    samples.push(((performance.now() - begun) * 1000) / (ROUNDS / 5));
  }
  return samples.sort((a, b) => a - b)[2];
}

// The first request of an isolate: V8 compiles wasm functions lazily, on their first call.
started = performance.now();
edge.admit(body, undefined, 1e9).free();
edge.relay(200, 'application/json', undefined, undefined, answer).free();
const firstMs = performance.now() - started;

const admitUs = perCall(() => { const a = edge.admit(body, undefined, 1e9); a.body; a.free(); });
const relayUs = perCall(() => { const a = edge.relay(200, 'application/json', undefined, undefined, answer); a.body; a.free(); });
const corsUs = perCall(() => edge.cors('https://shop.example', false));
const median = compiles.sort((a, b) => a - b)[5];

console.log(`edge wasm: ${bytes.length} B`);
console.log(`cold start: compile ${median.toFixed(2)} ms (median of 10; V8 compiles lazily), instantiate ${instantiateMs.toFixed(2)} ms, `
  + `config ${configMs.toFixed(2)} ms, first admit + relay ${firstMs.toFixed(2)} ms`);
console.log(`per request (median of 5 x ${ROUNDS / 5}): admit ${admitUs.toFixed(2)} µs (a ${body.length}-byte update), relay ${relayUs.toFixed(2)} µs, cors ${corsUs.toFixed(2)} µs`);
