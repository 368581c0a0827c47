// The page in a real browser (Debian's chromium, headless, driven by playwright-core) against the page served on
// 127.0.0.1, compared with the `runtime` CLI run in this same test on the same images and latents.
//
//   make web-test        (builds target/release/runtime and the decode_latent example, then `node --test`)
//
// Needs: target/release/runtime, target/release/examples/decode_latent, ORT_DYLIB_PATH (the Makefile exports it),
// /usr/bin/chromium (CHROMIUM= to change), Fashion-MNIST at /usr/share/datasets/fashion-mnist.
// Writes out/web/: the inputs, the CLI's JSON and a screenshot of the page (page.png).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync, gunzipSync, inflateSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { readGreyPng } from '../png.mjs';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const out = join(repo, 'out/web');
const runtime = process.env.RUNTIME_BIN ?? join(repo, 'target/release/runtime');
const decodeLatent = process.env.DECODE_LATENT_BIN ?? join(repo, 'target/release/examples/decode_latent');
const bundle = join(repo, 'pretrained/fmnist');
const fmnist = '/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz';
const REL = 1e-4;

// --- PNG files, written here with node's zlib (any lossless writer will do: L(x) is re-encoded from pixels) ---
const CRC = new Uint32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function png(width, height, colourType, channels, bytes) {
  const chunk = (tag, data) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(tag, 4, 'latin1');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])));
    return Buffer.concat([head, data, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, colourType, 0, 0, 0], 8);
  const stride = width * channels;
  const raw = Buffer.alloc(height * (stride + 1));
  for (let r = 0; r < height; r++) raw.set(bytes.subarray(r * stride, (r + 1) * stride), r * (stride + 1) + 1);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

let server, isolatedUrl, plainServer, plainUrl, browser, page;
const images = []; // {name, file, pixels}
let cli; // path -> CLI item

function serve(env) {
  const child = spawn(process.execPath, [join(repo, 'web/serve.mjs')], { env: { ...process.env, PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolveUrl, reject) => {
    child.stdout.on('data', (d) => {
      const m = /serving (http:\/\/127\.0\.0\.1:\d+\/)/.exec(String(d));
      if (m) resolveUrl([child, m[1]]);
    });
    child.on('exit', (code) => reject(new Error(`web/serve.mjs exited with ${code}`)));
  });
}

async function openPage(url) {
  const p = await browser.newPage({ viewport: { width: 1200, height: 1000 } });
  const errors = [];
  p.on('pageerror', (e) => errors.push(e.message));
  p.errors = errors;
  await p.goto(url);
  await p.waitForFunction(() => window.realnvp?.ready, null, { timeout: 30000 });
  const info = await p.evaluate(() => window.realnvp.ready);
  return [p, info];
}

before(async () => {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(join(out, 'test-images'), { recursive: true });
  // 100 Fashion-MNIST test images (every 100th), the bundle's example images and its MNIST digits.
  const blob = gunzipSync(readFileSync(fmnist)).subarray(16);
  for (let i = 0; i < 10000; i += 100) {
    const pixels = new Uint8Array(blob.subarray(i * 784, (i + 1) * 784));
    const file = join(out, 'test-images', `t${String(i).padStart(5, '0')}.png`);
    writeFileSync(file, png(28, 28, 0, 1, pixels));
    images.push({ name: `test image ${i}`, file, pixels });
  }
  for (const dir of ['pretrained/examples', 'pretrained/examples/ood']) {
    for (const name of readdirSync(join(repo, dir)).filter((n) => n.endsWith('.png')).sort()) {
      const file = join(repo, dir, name);
      const { pixels } = readGreyPng(new Uint8Array(readFileSync(file)), (b) => new Uint8Array(inflateSync(b)));
      assert.ok(pixels, `${file} is an 8-bit grey PNG`);
      images.push({ name, file, pixels });
    }
  }
  // The CLI's scores, now.
  const json = execFileSync(runtime, ['score', '--model', bundle, '--ood', '--format', 'json',
    ...images.map((im) => im.file)], { maxBuffer: 64 << 20 });
  writeFileSync(join(out, 'cli-scores.json'), json);
  cli = new Map(JSON.parse(json).map((item) => [item.path, item]));
  assert.equal(cli.size, images.length);

  [server, isolatedUrl] = await serve({});
  [plainServer, plainUrl] = await serve({ NO_ISOLATION: '1' });
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox'], headless: true });
  let info;
  [page, info] = await openPage(isolatedUrl);
  assert.equal(info.crossOriginIsolated, true);
  assert.ok(info.threads > 1 || (await page.evaluate(() => navigator.hardwareConcurrency)) === 1, 'WASM threads');
  assert.equal(info.calibration.pair_id, JSON.parse(readFileSync(join(bundle, 'model.json'))).pair_id);
});

after(async () => {
  await browser?.close();
  server?.kill();
  plainServer?.kill();
});

const f32 = Math.fround;
function relative(a, b) { return Math.abs(a - b) / Math.max(Math.abs(b), 1e-12); }
function compareWithCli(name, got, want) {
  assert.ok(relative(got.bitsPerDim, want.bits_per_dim) <= REL,
    `${name}: bits/dim ${got.bitsPerDim} in the page, ${want.bits_per_dim} from the CLI`);
  // The PNG complexity is the same number, exactly: the same zlib stream lengths (pako 2.1.0 vs C zlib).
  assert.equal(got.complexityBitsPerDim, f32(want.complexity_bits_per_dim),
    `${name}: L(x) ${got.complexityBitsPerDim} in the page (zlib length ${got.zlibLength}), ${want.complexity_bits_per_dim} from the CLI`);
  assert.ok(Math.abs(got.complexityCorrected - want.complexity_corrected) <= REL * Math.abs(want.bits_per_dim),
    `${name}: S ${got.complexityCorrected} vs ${want.complexity_corrected}`);
  assert.equal(got.ood, want.ood, `${name}: OOD flag ${got.ood} in the page, ${want.ood} from the CLI (score ${got.oodScore} vs ${want.ood_score})`);
}

test('scores through the API equal the CLI: bits/dim within 1e-4, L(x) exactly, the same OOD flags', async () => {
  const results = await page.evaluate(async (all) => {
    const res = [];
    for (const p of all) res.push(await window.realnvp.ood(new Uint8Array(p)));
    return res;
  }, images.map((im) => Array.from(im.pixels)));
  let flagged = 0;
  images.forEach((im, i) => {
    compareWithCli(im.name, results[i], cli.get(im.file));
    flagged += results[i].ood;
  });
  // Both verdicts occur: the digits are flagged, most clothes are not.
  const digits = images.filter((im) => im.name.startsWith('mnist'));
  assert.ok(digits.length >= 4 && digits.every((im) => cli.get(im.file).ood), 'the MNIST digits are flagged');
  assert.ok(flagged < images.length / 2, `${flagged} of ${images.length} flagged`);
  const bpd = await page.evaluate((p) => window.realnvp.bitsPerDim(new Uint8Array(p)), Array.from(images[0].pixels));
  assert.equal(bpd, results[0].bitsPerDim);
});

test('scores through the file input equal the CLI, and the page shows the verdict', async () => {
  for (const im of [...images.slice(0, 6), ...images.slice(-12)]) {
    await page.setInputFiles('#file', im.file);
    const name = im.file.split('/').pop();
    await page.waitForSelector(`#score-result[data-file="${name}"]`, { timeout: 20000 });
    const data = await page.evaluate(() => ({ ...document.getElementById('score-result').dataset,
      verdict: document.getElementById('verdict').textContent }));
    assert.equal(data.converted, 'false', `${name} is read exactly, not converted`);
    compareWithCli(name, { bitsPerDim: Number(data.bitsPerDim), complexityBitsPerDim: Number(data.complexityBitsPerDim),
      complexityCorrected: Number(data.complexityCorrected), ood: data.ood === 'true' }, cli.get(im.file));
    assert.match(data.verdict, cli.get(im.file).ood ? /^Out of distribution/ : /^In distribution/);
  }
  await page.screenshot({ path: join(out, 'page.png'), fullPage: true });
});

test('a non-image, a broken PNG and a colour image get clear messages; bad API input is refused', async () => {
  const notes = join(out, 'notes.txt');
  writeFileSync(notes, 'these are not pixels\n');
  await page.setInputFiles('#file', notes);
  await page.waitForFunction(() => document.getElementById('score-message').dataset.kind === 'error');
  assert.match(await page.textContent('#score-message'), /notes\.txt is not an image/);
  assert.equal(await page.isHidden('#score-result'), true);

  const broken = join(out, 'broken.png');
  writeFileSync(broken, Buffer.concat([readFileSync(images[0].file).subarray(0, 40)]));
  await page.setInputFiles('#file', broken);
  await page.waitForFunction(() => /broken\.png/.test(document.getElementById('score-message').textContent)
    && document.getElementById('score-message').dataset.kind === 'error');
  assert.match(await page.textContent('#score-message'), /not a readable PNG/);

  // A 40×30 RGB image: converted to 28×28 grayscale, said so, and still scored.
  const rgb = new Uint8Array(40 * 30 * 3).map((_, i) => (i % 3 === 0 ? 200 : i % 3 === 1 ? 40 : 90) * ((i / 120 | 0) % 2));
  const colour = join(out, 'colour.png');
  writeFileSync(colour, png(40, 30, 2, 3, rgb));
  await page.setInputFiles('#file', colour);
  await page.waitForSelector('#score-result[data-file="colour.png"]', { timeout: 20000 });
  assert.equal(await page.getAttribute('#score-result', 'data-converted'), 'true');
  const note = await page.textContent('#score-note');
  assert.match(note, /40×30 RGB PNG/);
  assert.match(note, /28×28 grayscale/);
  assert.ok(Number.isFinite(Number(await page.getAttribute('#score-result', 'data-bits-per-dim'))));

  const refusals = await page.evaluate(async () => {
    const r = window.realnvp;
    const tries = [() => r.bitsPerDim(new Uint8Array(5)), () => r.ood([1, 2, 3]), () => r.bitsPerDim('pixels'),
      () => r.sample({ n: 0 }), () => r.sample({ n: 4, temperature: -1 }), () => r.sample({ n: 4, seed: 1.5 })];
    const out = [];
    for (const t of tries) out.push(await t().then(() => 'resolved', (e) => e.message));
    return out;
  });
  for (const message of refusals) assert.notEqual(message, 'resolved');
  assert.match(refusals[0], /5 pixel values, expected 784/);
});

test('the sample grid is drawn, changes with the seed and comes back with it', async () => {
  const grid = () => page.evaluate(() => {
    const c = document.getElementById('samples');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const grey = [];
    for (let i = 0; i < d.length; i += 4) grey.push(d[i]);
    return { seed: c.dataset.seed, generation: Number(c.dataset.generation), grey, info: document.getElementById('sample-info').textContent };
  });
  const waitSeed = (seed) => page.waitForFunction((s) => document.getElementById('samples').dataset.seed === s, String(seed));
  await waitSeed(1);
  const first = await grid();
  const distinct = new Set(first.grey).size;
  const lit = first.grey.filter((v) => v > 30).length / first.grey.length;
  assert.ok(distinct > 100 && lit > 0.2 && lit < 0.95, `a blank-looking grid: ${distinct} grey levels, ${lit} lit`);
  assert.match(first.info, /64 samples at temperature 0\.70, seed 1: \d+ ms/);
  await page.fill('#seed', '2');
  await waitSeed(2);
  const second = await grid();
  const changed = second.grey.filter((v, i) => v !== first.grey[i]).length / first.grey.length;
  assert.ok(changed > 0.3, `seed 2 changed only ${changed} of the grid`);
  await page.fill('#seed', '1');
  await waitSeed(1);
  await page.waitForFunction((g) => Number(document.getElementById('samples').dataset.generation) > g, second.generation);
  assert.deepEqual((await grid()).grey, first.grey, 'seed 1 again gives the same grid');
  const again = await page.evaluate(async () => {
    const r = window.realnvp;
    const [a, b, c] = [await r.sample({ n: 3, temperature: 0.7, seed: 5 }), await r.sample({ n: 3, temperature: 0.7, seed: 5 }),
      await r.sample({ n: 3, temperature: 0.7, seed: 6 })];
    return { same: a.every((v, i) => v === b[i]), other: c.some((v, i) => v !== a[i]), length: a.length };
  });
  assert.deepEqual(again, { same: true, other: true, length: 3 * 784 });
});

test('decoding a latent from a file gives the runtime\'s pixels within one grey level; sampling is that decode', async () => {
  const n = 16;
  const { z, viaDecode, viaSample } = await page.evaluate(async (n) => {
    const r = window.realnvp;
    const z = r.latent({ n, temperature: 0.9, seed: 11 });
    return { z: Array.from(z), viaDecode: Array.from(await r.decode(z, n)),
      viaSample: Array.from(await r.sample({ n, temperature: 0.9, seed: 11 })) };
  }, n);
  assert.deepEqual(viaSample, viaDecode);
  const zFile = join(out, 'latent.f32'), xFile = join(out, 'decoded.u8');
  writeFileSync(zFile, Buffer.from(new Float32Array(z).buffer));
  execFileSync(decodeLatent, [bundle, zFile, xFile]);
  const native = readFileSync(xFile);
  assert.equal(native.length, viaDecode.length);
  let worst = 0, off = 0;
  native.forEach((v, i) => { const d = Math.abs(v - viaDecode[i]); worst = Math.max(worst, d); off += d > 0; });
  assert.ok(worst <= 1, `a decoded pixel differs by ${worst} grey levels from the runtime's`);
  console.log(`# decode: ${off} of ${native.length} pixels one grey level off the runtime's, none more`);
});

test('the page works without cross-origin isolation, on one thread', async () => {
  const [plain, info] = await openPage(plainUrl);
  assert.equal(info.crossOriginIsolated, false);
  assert.equal(info.threads, 1);
  const im = images[1];
  const got = await plain.evaluate((p) => window.realnvp.ood(new Uint8Array(p)), Array.from(im.pixels));
  compareWithCli(im.name, got, cli.get(im.file));
  assert.match(await plain.textContent('#status'), /^Ready: .* 1 WASM thread \(not cross-origin isolated\)/);
  assert.deepEqual(plain.errors, []);
  await plain.close();
  assert.deepEqual(page.errors, []);
});
