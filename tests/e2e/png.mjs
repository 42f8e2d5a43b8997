// A minimal PNG decoder (8-bit RGB/RGBA, non-interlaced) for the display tests: enough to check
// what the server encodes without trusting the server's own code.
import zlib from 'node:zlib';

/** Decode a PNG Buffer: {width, height, channels, pixels (Buffer, width*height*channels)}. */
export function decodePng(buf) {
  if (buf.readUInt32BE(0) !== 0x89504e47) throw new Error('not a PNG');
  let off = 8, width = 0, height = 0, ctype = 0, depth = 0, interlace = 0;
  const idat = [];
  while (off < buf.length) {
    const len = buf.readUInt32BE(off), type = buf.toString('latin1', off + 4, off + 8);
    const data = buf.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0); height = data.readUInt32BE(4);
      depth = data[8]; ctype = data[9]; interlace = data[12];
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    off += 12 + len;
  }
  if (depth !== 8 || (ctype !== 2 && ctype !== 6) || interlace) throw new Error(`unsupported PNG (depth ${depth}, type ${ctype})`);
  const ch = ctype === 2 ? 3 : 4, stride = width * ch;
  const raw = zlib.inflateSync(Buffer.concat(idat));
  if (raw.length !== height * (stride + 1)) throw new Error(`bad PNG data length ${raw.length}`);
  const out = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)], line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= ch ? out[y * stride + x - ch] : 0;
      const b = y > 0 ? out[(y - 1) * stride + x] : 0;
      const c = x >= ch && y > 0 ? out[(y - 1) * stride + x - ch] : 0;
      let v = line[x];
      if (f === 1) v += a;
      else if (f === 2) v += b;
      else if (f === 3) v += (a + b) >> 1;
      else if (f === 4) { const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c); v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c; }
      out[y * stride + x] = v & 255;
    }
  }
  return { width, height, channels: ch, pixels: out };
}

/** RGB of pixel (x, y). */
export function pixel(img, x, y) {
  const i = (y * img.width + x) * img.channels;
  return [img.pixels[i], img.pixels[i + 1], img.pixels[i + 2]];
}

/** Parse a binary PPM (P6, maxval 255): {width, height, channels: 3, pixels}. */
export function decodePpm(buf) {
  const head = buf.toString('latin1', 0, 64).split(/\s+/);
  if (head[0] !== 'P6') throw new Error('not a P6 PPM');
  const width = Number(head[1]), height = Number(head[2]);
  const pixels = buf.subarray(buf.length - width * height * 3);
  return { width, height, channels: 3, pixels };
}

/** Mean absolute difference per channel between two images of the same size (0..255). */
export function meanDiff(a, b) {
  if (a.width !== b.width || a.height !== b.height) throw new Error(`sizes differ: ${a.width}x${a.height} vs ${b.width}x${b.height}`);
  let sum = 0;
  for (let y = 0; y < a.height; y++) for (let x = 0; x < a.width; x++) {
    const p = pixel(a, x, y), q = pixel(b, x, y);
    sum += Math.abs(p[0] - q[0]) + Math.abs(p[1] - q[1]) + Math.abs(p[2] - q[2]);
  }
  return sum / (a.width * a.height * 3);
}

/** How many pixels of rect differ (any channel by more than tol) between two same-size images. */
export function changedPixels(a, b, rect = { x: 0, y: 0, width: a.width, height: a.height }, tol = 0) {
  let n = 0;
  for (let y = rect.y; y < rect.y + rect.height; y++) for (let x = rect.x; x < rect.x + rect.width; x++) {
    const p = pixel(a, x, y), q = pixel(b, x, y);
    if (Math.abs(p[0] - q[0]) > tol || Math.abs(p[1] - q[1]) > tol || Math.abs(p[2] - q[2]) > tol) n++;
  }
  return n;
}
