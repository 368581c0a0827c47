// The PNG complexity L(x) of docs/ood.md, the JavaScript twin of realnvp_runtime::ood::png_complexity.
//
// For each of six encodings (the five PNG row filters on every row, and the adaptive heuristic: per row the filter
// with the smallest sum of |filtered byte as i8|, ties to the lowest filter type), the scanlines (filter-type byte +
// filtered row, bpp = channels) are deflated into a zlib stream at level 9, windowBits 15, memLevel 8, default
// strategy (pako, a port of C zlib, gives C zlib's bytes); with the shortest stream,
// L = 8 · (zlib length + 57) / D, in f32. 57 is the PNG file around the stream: signature 8, IHDR 25, the IDAT
// chunk's framing 12, IEND 12. The web test checks every figure against `runtime score --ood`.
//
// Works in the browser and in Node: the caller passes pako's `deflate`.

import { predictor } from './png.mjs';

export const PNG_FRAMING_BYTES = 57;
export const ZLIB_OPTIONS = Object.freeze({ level: 9, windowBits: 15, memLevel: 8, strategy: 0 });

const NONE = 0, SUB = 1, UP = 2, AVERAGE = 3, PAETH = 4;
const FILTERS = [NONE, SUB, UP, AVERAGE, PAETH];
const ADAPTIVE = -1;
/** The six encodings, in the runtime's order (COMPLEXITY_ROW_FILTERS). */
export const ROW_FILTERS = [NONE, SUB, UP, AVERAGE, PAETH, ADAPTIVE];

function filterRow(filter, row, prior, bpp, out) {
  for (let i = 0; i < row.length; i++) {
    const a = i >= bpp ? row[i - bpp] : 0;
    const c = i >= bpp ? prior[i - bpp] : 0;
    out[i] = (row[i] - predictor(filter, a, prior[i], c)) & 0xff;
  }
}

function rowCost(filtered) {
  let sum = 0;
  for (const v of filtered) sum += v < 128 ? v : 256 - v; // |v as i8|
  return sum;
}

/** The PNG scanlines of `bytes` (interleaved H, W, C rows of `stride` bytes) under one of ROW_FILTERS. */
export function pngScanlines(bytes, stride, bpp, rowFilters) {
  const rows = stride ? Math.floor(bytes.length / stride) : 0;
  const zeros = new Uint8Array(stride);
  const out = new Uint8Array(rows * (stride + 1));
  const filtered = new Uint8Array(stride);
  const best = new Uint8Array(stride);
  for (let r = 0; r < rows; r++) {
    const row = bytes.subarray(r * stride, (r + 1) * stride);
    const prior = r === 0 ? zeros : bytes.subarray((r - 1) * stride, r * stride);
    let chosen = rowFilters;
    if (rowFilters === ADAPTIVE) {
      let cheapest = Infinity;
      for (const f of FILTERS) {
        filterRow(f, row, prior, bpp, filtered);
        const cost = rowCost(filtered);
        if (cost < cheapest) { // strictly: a tie keeps the lower filter type
          cheapest = cost;
          chosen = f;
          best.set(filtered);
        }
      }
    } else {
      filterRow(rowFilters, row, prior, bpp, best);
    }
    out[r * (stride + 1)] = chosen;
    out.set(best, r * (stride + 1) + 1);
  }
  return out;
}

/**
 * L(x) in bits per dimension of one image: `pixels` planar (C, H, W) u8, `shape` = [C, H, W], C = 1 or 3.
 * Returns {bitsPerDim, zlibLength} (the shortest stream's length).
 */
export function pngComplexity(deflate, pixels, shape) {
  const [channels, height, width] = shape;
  if (channels !== 1 && channels !== 3) throw new Error(`PNG complexity needs 1 or 3 channels, got ${channels}`);
  const numel = channels * height * width;
  if (pixels.length !== numel) throw new Error(`${pixels.length} pixels, expected ${numel} for shape [${shape}]`);
  const hw = height * width;
  const interleaved = new Uint8Array(numel);
  for (let p = 0; p < hw; p++) for (let c = 0; c < channels; c++) interleaved[p * channels + c] = pixels[c * hw + p];
  let shortest = Infinity;
  for (const f of ROW_FILTERS) {
    const n = deflate(pngScanlines(interleaved, width * channels, channels, f), ZLIB_OPTIONS).length;
    shortest = Math.min(shortest, n);
  }
  // Rust: ((shortest + 57) * 8) as f32 / numel as f32. Both operands are exact in f32, and one rounding of the
  // double quotient to f32 equals the f32 division (53 >= 2·24 + 2).
  return { bitsPerDim: Math.fround(((shortest + PNG_FRAMING_BYTES) * 8) / numel), zlibLength: shortest };
}
