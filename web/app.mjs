// The pretrained RealNVP bundle in the browser: sample, score, flag and interpolate with onnxruntime-web (WASM).
//
// Follows the bundle's contract (docs/bundle.md, docs/ood.md): forward.onnx takes `x` f32 [N, C, H, W] in pixel
// units (a u8 pixel p scored at its bin centre p + 0.5) and gives `z`, `log_prob`, `bits_per_dim`; inverse.onnx
// takes `z` [N, L] and gives `x`, projected onto the domain [0, 256] and written as u8 by floor(clamp(x, 0, 255)).
// The out-of-distribution score is the calibration's statistic (complexity_corrected: bits/dim − L(x), L from
// complexity.mjs), flagged when it is above the threshold (or NaN), as `runtime score --ood` does.
//
// window.realnvp: {ready, bitsPerDim(pixels), ood(pixels), sample({n, temperature, seed}), latent(...), decode(z, n),
// info}. pixels: Uint8Array of C·H·W values in the bundle's planar (C, H, W) layout.
import * as ort from './node_modules/onnxruntime-web/dist/ort.wasm.min.mjs';
import { deflate, inflate } from './node_modules/pako/dist/pako.esm.mjs';
import { pngComplexity } from './complexity.mjs';
import { isPng, readGreyPng } from './png.mjs';

const BUNDLE = 'pretrained/fmnist/';
const EXAMPLES = 'pretrained/examples/';
const MAX_FILE_BYTES = 20 << 20;
const MAX_SAMPLES = 256;
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

// ---------------------------------------------------------------------------------------------------------------
// Seeded normal draws. The page cannot use the runtime's generator (rand's StdRng), so its seeds are its own: a
// seed (an integer 0 ≤ s < 2^32) starts sfc32 (Chris Doty-Humphrey's small fast counter generator, 32-bit) with
// the state splitmix32(seed) ×3 and a counter of 1, discarding 15 outputs; each N(0, 1) value is Box–Muller's
// cosine branch on two uniforms u1 ∈ (0, 1], u2 ∈ [0, 1) of 32 bits each. The same seed always gives the same
// latent, but not the latent `runtime sample --seed` gives for it.
function splitmix32(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}
function sfc32(seed) {
  const init = splitmix32(seed);
  let a = init(), b = init(), c = init(), d = 1;
  const next = () => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    return t;
  };
  for (let i = 0; i < 15; i++) next();
  return next;
}
export function normalLatent(count, temperature, seed) {
  const next = sfc32(seed);
  const z = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const u1 = (next() + 1) / 4294967296; // (0, 1]
    const u2 = next() / 4294967296; // [0, 1)
    z[i] = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2) * temperature;
  }
  return z;
}

// ---------------------------------------------------------------------------------------------------------------
// The model.
const state = { card: null, calibration: null, calibrationError: null, forward: null, inverse: null, shape: null,
  numel: 0, threads: 1, loadMs: 0 };
let queue = Promise.resolve();
/** ONNX Runtime sessions run one call at a time: every run goes through this queue. */
function serial(task) {
  const run = queue.then(task, task);
  queue = run.catch(() => {});
  return run;
}

function status(text, kind = 'info') {
  const el = $('status');
  if (el) { el.textContent = text; el.dataset.kind = kind; }
}

async function fetchOk(url, what) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${what}: HTTP ${res.status} for ${url}`);
  return res;
}

async function load() {
  const t0 = performance.now();
  const isolated = globalThis.crossOriginIsolated === true;
  const asked = Number(params.get('threads'));
  const cores = navigator.hardwareConcurrency || 1;
  state.threads = !isolated ? 1 : asked >= 1 ? Math.floor(asked) : Math.min(cores, 8);
  ort.env.wasm.numThreads = state.threads;
  ort.env.wasm.wasmPaths = new URL('node_modules/onnxruntime-web/dist/', location.href).href;
  status(`Loading the model (two 3.5 MB graphs) with ${state.threads} WASM thread${state.threads > 1 ? 's' : ''}…`);
  const card = await (await fetchOk(BUNDLE + 'model.json', 'model.json')).json();
  if (card.format_version !== 1) throw new Error(`bundle format ${card.format_version}: this page reads version 1`);
  if (card.data_kind !== 'image') throw new Error('this page shows image models only');
  const [c, h, w] = card.data_shape;
  if (c !== 1 && c !== 3) throw new Error(`${c} channels: this page shows 1 or 3`);
  state.card = card;
  state.shape = [c, h, w];
  state.numel = c * h * w;
  const options = { executionProviders: ['wasm'], graphOptimizationLevel: 'all' };
  const [forward, inverse] = await Promise.all(['forward', 'inverse'].map(async (name) => {
    const bytes = new Uint8Array(await (await fetchOk(BUNDLE + card.files[name], name)).arrayBuffer());
    return ort.InferenceSession.create(bytes, options);
  }));
  for (const [session, inputs, outputs, name] of [[forward, ['x'], ['z', 'log_prob', 'bits_per_dim'], 'forward'],
    [inverse, ['z'], ['x'], 'inverse']]) {
    const missing = [...inputs.filter((n) => !session.inputNames.includes(n)),
      ...outputs.filter((n) => !session.outputNames.includes(n))];
    if (missing.length) throw new Error(`${name}.onnx lacks ${missing.join(', ')}`);
  }
  state.forward = forward;
  state.inverse = inverse;
  // The calibration is optional; one fitted for another export is refused, as the runtime refuses it.
  try {
    const res = await fetch(BUNDLE + 'calibration.json');
    if (res.ok) {
      const cal = await res.json();
      if (cal.pair_id !== card.pair_id) throw new Error(`calibration.json belongs to export ${cal.pair_id}, not ${card.pair_id}`);
      if (!['complexity_corrected', 'typicality', 'bits_per_dim'].includes(cal.statistic)) throw new Error(`unknown statistic ${cal.statistic}`);
      if (cal.statistic === 'typicality' && !card.training?.test_scores) throw new Error('typicality needs test_scores in model.json');
      state.calibration = cal;
    } else state.calibrationError = 'the bundle has no calibration.json';
  } catch (e) {
    state.calibrationError = e.message;
  }
  state.loadMs = performance.now() - t0;
  return info();
}

function info() {
  return { shape: state.shape, latentDim: state.numel, threads: state.threads,
    crossOriginIsolated: globalThis.crossOriginIsolated === true, loadMs: state.loadMs,
    calibration: state.calibration, calibrationError: state.calibrationError, pairId: state.card?.pair_id };
}

function checkPixels(pixels, n = 1) {
  if (!(pixels instanceof Uint8Array || pixels instanceof Uint8ClampedArray || Array.isArray(pixels))) {
    throw new TypeError('pixels must be a Uint8Array of C·H·W values');
  }
  if (pixels.length !== n * state.numel) {
    throw new RangeError(`${pixels.length} pixel values, expected ${n * state.numel} (${n} × [${state.shape}])`);
  }
  for (const v of pixels) if (!(Number.isInteger(v) && v >= 0 && v <= 255)) throw new RangeError(`pixel value ${v} is not 0..255`);
}

/** The forward graph on n u8 images at their bin centres: {z, logProb, bitsPerDim} (f32 arrays). */
async function encode(pixels, n = 1) {
  checkPixels(pixels, n);
  const x = new Float32Array(pixels.length);
  for (let i = 0; i < x.length; i++) x[i] = pixels[i] + 0.5;
  const out = await serial(() => state.forward.run({ x: new ort.Tensor('float32', x, [n, ...state.shape]) }));
  const result = { z: out.z.data, logProb: out.log_prob.data, bitsPerDim: out.bits_per_dim.data };
  for (const [name, values] of Object.entries(result)) {
    if (values.some((v) => !Number.isFinite(v))) throw new Error(`forward.onnx gave a non-finite ${name}`);
  }
  return result;
}

/** The inverse graph on n latents, projected onto [0, 256] and quantized: u8 pixels. */
async function decodeFloat(z, n) {
  if (!(z instanceof Float32Array) || z.length !== n * state.numel) {
    throw new RangeError(`expected a Float32Array of ${n} × ${state.numel} latent values`);
  }
  const out = await serial(() => state.inverse.run({ z: new ort.Tensor('float32', z, [n, state.numel]) }));
  return out.x.data;
}
async function decode(z, n = z.length / state.numel) {
  const x = await decodeFloat(z, n);
  const pixels = new Uint8Array(x.length);
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i])) throw new Error(`inverse.onnx gave a non-finite value for item ${Math.floor(i / state.numel)}`);
    const domain = Math.min(Math.max(x[i], 0), 256); // pixels::to_domain
    pixels[i] = Math.floor(Math.min(Math.max(domain, 0), 255)); // pixels::quantize
  }
  return pixels;
}

function checkSampling({ n = 1, temperature = 0.7, seed = 1 } = {}) {
  if (!(Number.isInteger(n) && n >= 1 && n <= MAX_SAMPLES)) throw new RangeError(`n = ${n}: 1 to ${MAX_SAMPLES}`);
  if (!(Number.isFinite(temperature) && temperature > 0)) throw new RangeError(`temperature ${temperature} must be > 0`);
  if (!(Number.isInteger(seed) && seed >= 0 && seed < 2 ** 32)) throw new RangeError(`seed ${seed}: an integer 0 to 2^32 − 1`);
  return { n, temperature, seed };
}
function latent(options) {
  const { n, temperature, seed } = checkSampling(options);
  return normalLatent(n * state.numel, temperature, seed);
}
async function sample(options) {
  const { n } = checkSampling(options);
  return decode(latent(options), n);
}

function f32(v) { return Math.fround(v); }

/** The scores of one image, as `runtime score --ood` computes them. */
async function ood(pixels) {
  const enc = await encode(pixels, 1);
  const bitsPerDim = enc.bitsPerDim[0];
  const complexity = pngComplexity(deflate, pixels, state.shape);
  const complexityCorrected = f32(bitsPerDim - complexity.bitsPerDim);
  const mean = state.card.training?.test_scores?.mean;
  const typicality = mean === undefined ? null : f32(Math.abs(f32(bitsPerDim - f32(mean))));
  const cal = state.calibration;
  let oodScore = null, ood = null;
  if (cal) {
    oodScore = { complexity_corrected: complexityCorrected, typicality, bits_per_dim: bitsPerDim }[cal.statistic];
    ood = Number.isNaN(oodScore) || oodScore > cal.threshold; // Calibration::flags
  }
  return { logProb: enc.logProb[0], bitsPerDim, complexityBitsPerDim: complexity.bitsPerDim,
    zlibLength: complexity.zlibLength, complexityCorrected, typicality, oodScore, ood,
    threshold: cal?.threshold ?? null, statistic: cal?.statistic ?? null };
}

async function bitsPerDim(pixels) {
  return (await encode(pixels, 1)).bitsPerDim[0];
}

/** `steps` images on the spherical path between the latents of images a and b (Flow::interpolate). */
async function interpolate(a, b, steps = 8) {
  const both = new Uint8Array(2 * state.numel);
  both.set(a);
  both.set(b, state.numel);
  const { z } = await encode(both, 2);
  const L = state.numel, za = z.subarray(0, L), zb = z.subarray(L);
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < L; i++) { dot += za[i] * zb[i]; na += za[i] * za[i]; nb += zb[i] * zb[i]; }
  const cos = Math.min(1, Math.max(-1, dot / Math.max(Math.sqrt(na) * Math.sqrt(nb), Number.MIN_VALUE)));
  const omega = Math.acos(cos);
  const path = new Float32Array(steps * L);
  for (let s = 0; s < steps; s++) {
    const t = s / (steps - 1);
    const [wa, wb] = Math.abs(Math.sin(omega)) < 1e-6 ? [1 - t, t]
      : [Math.sin((1 - t) * omega) / Math.sin(omega), Math.sin(t * omega) / Math.sin(omega)];
    for (let i = 0; i < L; i++) path[s * L + i] = wa * za[i] + wb * zb[i];
  }
  return decode(path, steps);
}

// ---------------------------------------------------------------------------------------------------------------
// Drawing.
function drawGrid(canvas, pixels, n, columns, scale) {
  const [c, h, w] = state.shape;
  const rows = Math.ceil(n / columns);
  canvas.width = columns * w * scale;
  canvas.height = rows * h * scale;
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(columns * w, rows * h);
  for (let k = 0; k < n; k++) {
    const ox = (k % columns) * w, oy = Math.floor(k / columns) * h;
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      const o = 4 * ((oy + y) * columns * w + ox + x), p = k * c * h * w + y * w + x;
      img.data[o] = pixels[p];
      img.data[o + 1] = pixels[p + (c === 3 ? h * w : 0)];
      img.data[o + 2] = pixels[p + (c === 3 ? 2 * h * w : 0)];
      img.data[o + 3] = 255;
    }
  }
  const tmp = new OffscreenCanvas(columns * w, rows * h);
  tmp.getContext('2d').putImageData(img, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(tmp, 0, 0, canvas.width, canvas.height);
}

// ---------------------------------------------------------------------------------------------------------------
// Reading a user's file.
/** Decodes with the browser's decoder and converts to the model's size and channels; never waits more than 10 s. */
async function browserPixels(blob) {
  let bitmap;
  try {
    bitmap = await Promise.race([
      createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' }),
      new Promise((_, reject) => setTimeout(() => reject(new Error('timed out')), 10000)),
    ]);
  } catch {
    return null;
  }
  const [c, h, w] = state.shape;
  const canvas = new OffscreenCanvas(w, h);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.fillStyle = 'black'; // transparent parts become the black of Fashion-MNIST's background
  ctx.fillRect(0, 0, w, h);
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(bitmap, 0, 0, w, h);
  const size = [bitmap.width, bitmap.height];
  bitmap.close();
  const rgba = ctx.getImageData(0, 0, w, h).data;
  const pixels = new Uint8Array(c * h * w);
  for (let p = 0; p < h * w; p++) {
    const [r, g, b] = [rgba[4 * p], rgba[4 * p + 1], rgba[4 * p + 2]];
    if (c === 1) pixels[p] = Math.round(0.2126 * r + 0.7152 * g + 0.0722 * b); // Rec. 709 luma weights
    else { pixels[p] = r; pixels[h * w + p] = g; pixels[2 * h * w + p] = b; }
  }
  return { pixels, size };
}

/**
 * A file as the model's pixels: {pixels, note} where note (null when the file is read exactly as `runtime score`
 * reads it) says what was converted; or {error}.
 */
export async function readImageFile(file) {
  const [c, h, w] = state.shape;
  if (file.size === 0) return { error: `${file.name} is empty: not an image.` };
  if (file.size > MAX_FILE_BYTES) return { error: `${file.name} is ${(file.size / 2 ** 20).toFixed(1)} MB: pick an image under 20 MB.` };
  const bytes = new Uint8Array(await file.arrayBuffer());
  let why = null;
  if (isPng(bytes)) {
    let png;
    try {
      png = readGreyPng(bytes, inflate);
    } catch (e) {
      return { error: `${file.name} is not a readable PNG file (${e.message}).` };
    }
    if (png.pixels && c === 1 && png.width === w && png.height === h) return { pixels: png.pixels, note: null };
    why = png.reason ? `a ${png.width}×${png.height} ${png.reason}` : `a ${png.width}×${png.height} grey PNG`;
  }
  const decoded = await browserPixels(file);
  if (!decoded) {
    return { error: `${file.name} is not an image this browser can decode${file.type ? ` (${file.type})` : ''}: pick a PNG or JPEG file.` };
  }
  why ??= `a ${decoded.size[0]}×${decoded.size[1]} ${file.type || 'image'}`;
  const target = c === 1 ? `${w}×${h} grayscale` : `${w}×${h} RGB`;
  return { pixels: decoded.pixels,
    note: `Converted ${why} to ${target} (the model's input) before scoring; \`runtime score\` would refuse this file.` };
}

// ---------------------------------------------------------------------------------------------------------------
// The page.
let sampleRequest = 0;
async function regenerate() {
  const request = ++sampleRequest;
  const temperature = Number($('temperature').value);
  const seed = Number($('seed').value);
  $('temperature-value').textContent = temperature.toFixed(2);
  const msg = $('sample-info');
  try {
    const options = checkSampling({ n: 64, temperature, seed });
    msg.textContent = 'Sampling…';
    const t0 = performance.now();
    const pixels = await sample(options);
    const ms = performance.now() - t0;
    if (request !== sampleRequest) return; // a newer request is on its way
    drawGrid($('samples'), pixels, 64, 8, 3);
    const canvas = $('samples');
    canvas.dataset.seed = String(seed);
    canvas.dataset.temperature = String(temperature);
    canvas.dataset.generation = String(Number(canvas.dataset.generation ?? 0) + 1);
    msg.textContent = `64 samples at temperature ${temperature.toFixed(2)}, seed ${seed}: ${ms.toFixed(0)} ms ` +
      `(${(64000 / ms).toFixed(0)} images/s, ${state.threads} thread${state.threads > 1 ? 's' : ''}).`;
    msg.dataset.ms = ms.toFixed(1);
  } catch (e) {
    if (request === sampleRequest) msg.textContent = `Cannot sample: ${e.message}`;
  }
}

function showScore(name, result, note) {
  const out = $('score-result');
  const rows = [['bits/dim (bin centre)', result.bitsPerDim.toFixed(4)],
    ['PNG complexity L(x), bits/dim', result.complexityBitsPerDim.toFixed(4)],
    ['complexity-corrected S = bits/dim − L', result.complexityCorrected.toFixed(4)]];
  if (result.statistic) rows.push([`threshold on ${result.statistic} (calibrated)`, result.threshold.toFixed(4)]);
  $('score-table').replaceChildren(...rows.map(([k, v]) => {
    const tr = document.createElement('tr');
    tr.append(Object.assign(document.createElement('th'), { textContent: k }), Object.assign(document.createElement('td'), { textContent: v }));
    return tr;
  }));
  const verdict = $('verdict');
  if (result.ood === null) {
    verdict.textContent = `No verdict: ${state.calibrationError}.`;
    verdict.dataset.kind = 'info';
  } else {
    verdict.textContent = result.ood
      ? `Out of distribution: unlike the Fashion-MNIST images this model was trained on (${result.statistic} ${result.oodScore.toFixed(4)} > ${result.threshold.toFixed(4)}).`
      : `In distribution: looks like Fashion-MNIST (${result.statistic} ${result.oodScore.toFixed(4)} ≤ ${result.threshold.toFixed(4)}).`;
    verdict.dataset.kind = result.ood ? 'ood' : 'ok';
  }
  $('score-note').textContent = note ?? '';
  $('score-note').hidden = !note;
  Object.assign(out.dataset, { file: name, bitsPerDim: String(result.bitsPerDim),
    complexityBitsPerDim: String(result.complexityBitsPerDim), complexityCorrected: String(result.complexityCorrected),
    oodScore: String(result.oodScore), ood: String(result.ood), converted: String(Boolean(note)) });
  out.hidden = false;
}

let scoreRequest = 0;
async function scoreFile(file) {
  const request = ++scoreRequest;
  const msg = $('score-message');
  msg.dataset.kind = 'info';
  msg.textContent = `Reading ${file.name}…`;
  $('score-result').hidden = true;
  delete $('score-result').dataset.file;
  try {
    const read = await readImageFile(file);
    if (request !== scoreRequest) return;
    if (read.error) {
      msg.textContent = read.error;
      msg.dataset.kind = 'error';
      return;
    }
    msg.textContent = `Scoring ${file.name}…`;
    const t0 = performance.now();
    const result = await ood(read.pixels);
    if (request !== scoreRequest) return;
    drawGrid($('scored'), read.pixels, 1, 1, 4);
    showScore(file.name, result, read.note);
    msg.textContent = `Scored ${file.name} in ${(performance.now() - t0).toFixed(0)} ms.`;
  } catch (e) {
    if (request !== scoreRequest) return;
    msg.textContent = `Cannot score ${file.name}: ${e.message}`;
    msg.dataset.kind = 'error';
  }
}

async function examplePixels(name) {
  const bytes = new Uint8Array(await (await fetchOk(EXAMPLES + name, name)).arrayBuffer());
  const read = await readImageFile(new File([bytes], name, { type: 'image/png' }));
  if (read.error) throw new Error(read.error);
  return read.pixels;
}

async function runInterpolation() {
  const msg = $('interp-info');
  try {
    const [a, b] = [$('interp-a').value, $('interp-b').value];
    msg.textContent = `Interpolating ${a} → ${b}…`;
    const t0 = performance.now();
    const steps = 10;
    const path = await interpolate(await examplePixels(a), await examplePixels(b), steps);
    drawGrid($('interp'), path, steps, steps, 3);
    msg.textContent = `${steps} points on the spherical path between the two latents, decoded: ${(performance.now() - t0).toFixed(0)} ms.`;
  } catch (e) {
    msg.textContent = `Cannot interpolate: ${e.message}`;
  }
}

async function setupInterpolation() {
  let names = [];
  try {
    names = (await (await fetchOk(EXAMPLES, 'the examples folder')).json()).filter((n) => n.startsWith('test'));
  } catch {
    // A static host without folder listings: the two examples the README uses.
    names = ['test0000-boot.png', 'test0001-pullover.png'];
  }
  for (const [id, pick] of [['interp-a', 0], ['interp-b', 1]]) {
    const sel = $(id);
    sel.replaceChildren(...names.map((n) => Object.assign(document.createElement('option'), { value: n, textContent: n.replace('.png', '') })));
    sel.value = names[Math.min(pick, names.length - 1)];
    sel.addEventListener('change', runInterpolation);
  }
  await runInterpolation();
}

function setupPage() {
  let timer = null;
  const later = () => { clearTimeout(timer); timer = setTimeout(regenerate, 60); };
  $('temperature').addEventListener('input', later);
  $('seed').addEventListener('input', later);
  $('new-seed').addEventListener('click', () => { $('seed').value = String(Math.floor(Math.random() * 1e6)); regenerate(); });
  $('file').addEventListener('change', (e) => { if (e.target.files[0]) scoreFile(e.target.files[0]); });
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const file = e.dataTransfer.files[0];
    if (file) scoreFile(file);
    else { $('score-message').textContent = 'Nothing to score: drop an image file.'; $('score-message').dataset.kind = 'error'; }
  });
}

const api = { bitsPerDim, ood, sample, latent, decode, encode, interpolate, info, normalLatent };
window.realnvp = api;
api.ready = (async () => {
  if (document.readyState === 'loading') await new Promise((r) => document.addEventListener('DOMContentLoaded', r));
  setupPage();
  try {
    await load();
  } catch (e) {
    status(`Cannot load the model: ${e.message}`, 'error');
    throw e;
  }
  await regenerate();
  api.firstGridMs = performance.now(); // since navigation start (performance.timeOrigin)
  const cal = state.calibration
    ? `out-of-distribution threshold ${state.calibration.threshold.toFixed(4)} on ${state.calibration.statistic}`
    : `no out-of-distribution verdicts (${state.calibrationError})`;
  status(`Ready: pretrained/fmnist (${state.card.training?.dataset ?? '?'}, ${state.numel} dims), ${state.threads} WASM ` +
    `thread${state.threads > 1 ? 's' : ''}${globalThis.crossOriginIsolated ? '' : ' (not cross-origin isolated)'}, ${cal}. ` +
    `First grid ${api.firstGridMs.toFixed(0)} ms after the page started loading.`, 'ok');
  setupInterpolation();
  return info();
})();
