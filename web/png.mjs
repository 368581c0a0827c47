// Reads the PNG files that `runtime score` accepts for a grey model exactly: 8-bit greyscale (colour type 0),
// not interlaced, no transparency. Their pixels are taken byte for byte, as the image crate gives them to the
// runtime; any other file goes through the browser's decoder and is converted (see app.mjs).
//
// readGreyPng(bytes, inflate) returns {width, height, pixels} for such a file, {width, height, reason} for a
// valid PNG of another kind, and throws for a file that is not a readable PNG.

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

// The PNG row filters' prediction of a byte from its left (a), upper (b) and upper-left (c) neighbours: None,
// Sub, Up, Average, Paeth (ties to a, then b), for filter types 0 to 4; undefined for any other type. The one
// copy, for reading PNG files here and for writing the scanlines of the complexity L(x) (complexity.mjs).
export function predictor(filter, a, b, c) {
  switch (filter) {
    case 0: return 0;
    case 1: return a;
    case 2: return b;
    case 3: return (a + b) >> 1;
    case 4: {
      const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
      return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }
    default: return undefined;
  }
}

export function isPng(bytes) {
  return bytes.length >= 8 && SIGNATURE.every((v, i) => bytes[i] === v);
}

export function readGreyPng(bytes, inflate) {
  if (!isPng(bytes)) throw new Error('not a PNG file');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 8, ihdr = null, transparent = false;
  const idat = [];
  while (pos + 12 <= bytes.length) {
    const length = view.getUint32(pos);
    const type = String.fromCharCode(...bytes.subarray(pos + 4, pos + 8));
    const data = bytes.subarray(pos + 8, pos + 8 + length);
    if (data.length !== length) throw new Error(`truncated ${type} chunk`);
    if (type === 'IHDR') {
      if (length !== 13) throw new Error('bad IHDR chunk');
      ihdr = { width: view.getUint32(pos + 8), height: view.getUint32(pos + 12), depth: data[8], colour: data[9],
        interlace: data[12] };
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'tRNS') transparent = true;
    else if (type === 'IEND') break;
    pos += 12 + length;
  }
  if (!ihdr) throw new Error('no IHDR chunk');
  if (!idat.length) throw new Error('no image data (IDAT)');
  const { width, height } = ihdr;
  const kind = ({ 0: 'grey', 2: 'RGB', 3: 'palette', 4: 'grey + alpha', 6: 'RGBA' })[ihdr.colour] ?? 'unknown colour type';
  let reason = null;
  if (ihdr.colour !== 0) reason = `${kind} PNG`;
  else if (ihdr.depth !== 8) reason = `${ihdr.depth}-bit grey PNG`;
  else if (ihdr.interlace) reason = 'interlaced PNG';
  else if (transparent) reason = 'grey PNG with transparency';
  if (reason) return { width, height, reason };
  if (width === 0 || height === 0 || width * height > 1 << 24) throw new Error(`bad size ${width}×${height}`);
  const joined = new Uint8Array(idat.reduce((n, d) => n + d.length, 0));
  idat.reduce((at, d) => (joined.set(d, at), at + d.length), 0);
  let raw;
  try {
    raw = inflate(joined);
  } catch (e) {
    throw new Error(`corrupt image data (${e.message ?? e})`);
  }
  if (!raw || raw.length < height * (width + 1)) throw new Error('truncated image data');
  const pixels = new Uint8Array(width * height);
  for (let r = 0; r < height; r++) {
    const filter = raw[r * (width + 1)];
    const line = raw.subarray(r * (width + 1) + 1, (r + 1) * (width + 1));
    const out = pixels.subarray(r * width, (r + 1) * width);
    const up = r ? pixels.subarray((r - 1) * width, r * width) : new Uint8Array(width);
    if (predictor(filter, 0, 0, 0) === undefined) throw new Error(`bad filter type ${filter} in row ${r}`);
    for (let i = 0; i < width; i++) {
      const a = i ? out[i - 1] : 0, b = up[i], c = i ? up[i - 1] : 0;
      out[i] = (line[i] + predictor(filter, a, b, c)) & 0xff;
    }
  }
  return { width, height, pixels };
}
