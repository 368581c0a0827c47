// The page's speed beside the native runtime's, on this machine (docs/benchmarks.md, "The web page").
//   make web-bench     (or: node web/bench.mjs, after `make web-test` built the binaries)
// For 1 and N WASM threads (N = the browser's hardwareConcurrency, capped at 8): the time from navigation start to
// the first drawn grid of 64 samples, then the median of RUNS timed calls after one warm-up of: decoding 64 latents
// (sampling), the forward graph on 64 images (batch scoring; uniform random pixels, as bench_runtime), and
// window.realnvp.ood() one image at a time (bits/dim + L(x) + verdict). Native: runtime/examples/bench_runtime at
// batch 64 with 1 and N intra-op threads, and `runtime sample --n 64` from process start (load + first grid).
import { spawn, execFileSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RUNS = Number(process.env.RUNS ?? 5);
const bundle = join(repo, 'pretrained/fmnist');

const server = spawn(process.execPath, [join(repo, 'web/serve.mjs')], { env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'inherit'] });
const url = await new Promise((ok) => server.stdout.on('data', (d) => { const m = /(http:\/\/\S+)/.exec(String(d)); if (m) ok(m[1]); }));
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox'] });
const rows = [];
try {
  const probe = await browser.newPage();
  await probe.goto(url);
  const cores = await probe.evaluate(() => navigator.hardwareConcurrency);
  await probe.close();
  const counts = [...new Set([1, Math.min(cores, 8)])];
  for (const threads of counts) {
    const page = await browser.newPage();
    await page.goto(`${url}?threads=${threads}`);
    await page.waitForFunction(() => window.realnvp?.ready);
    const r = await page.evaluate(async (runs) => {
      const api = window.realnvp;
      const info = await api.ready;
      const median = async (f) => {
        await f();
        const t = [];
        for (let i = 0; i < runs; i++) { const t0 = performance.now(); await f(); t.push(performance.now() - t0); }
        return t.sort((a, b) => a - b)[t.length >> 1];
      };
      let s = 0x2545f491;
      const noise = new Uint8Array(64 * 784).map(() => { s ^= s << 13; s ^= s >>> 17; s ^= s << 5; return (s >>> 24) & 255; });
      const z = api.latent({ n: 64, temperature: 0.7, seed: 3 });
      const sampleMs = await median(() => api.decode(z, 64));
      const scoreMs = await median(() => api.encode(noise, 64));
      const one = noise.subarray(0, 784);
      const oodMs = await median(async () => { for (let i = 0; i < 16; i++) await api.ood(noise.subarray(i * 784, (i + 1) * 784)); });
      return { threads: info.threads, firstGridMs: api.firstGridMs, sample: 64000 / sampleMs, score: 64000 / scoreMs, ood: 16000 / oodMs };
    }, RUNS);
    rows.push({ host: 'page (onnxruntime-web 1.31.1, WASM, Chromium)', ...r });
    await page.close();
  }
  const runtime = join(repo, 'target/release/runtime'), bench = join(repo, 'target/release/examples/bench_runtime');
  for (const threads of counts) {
    const line = execFileSync(bench, [bundle, '64', String(RUNS), String(threads)]).toString().trim().split(/\s+/);
    const t0 = performance.now();
    execFileSync(runtime, ['--threads', String(threads), 'sample', '--model', bundle, '--n', '64', '--out', '/tmp/realnvp-bench-grid.png']);
    const firstGridMs = performance.now() - t0;
    rows.push({ host: 'native runtime (ort 1.31.1, CPU)', threads, firstGridMs, score: Number(line[2]), sample: Number(line[3]), ood: null });
  }
} finally {
  await browser.close();
  server.kill();
}
console.log('| host | threads | first grid of 64 (ms) | sampling (images/s, batch 64) | scoring (images/s, batch 64) | ood() one at a time (images/s) |');
console.log('|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(`| ${r.host} | ${r.threads} | ${r.firstGridMs.toFixed(0)} | ${r.sample.toFixed(0)} | ${r.score.toFixed(0)} | ${r.ood === null ? '—' : r.ood.toFixed(0)} |`);
}
