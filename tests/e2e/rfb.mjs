// A minimal RFB 3.8 client for tests: enough of the protocol to see what a VNC server sends
// (security None only; Raw and CopyRect rectangles; the Cursor pseudo-encoding).
// Works over a WebSocket (the server's /sessions/ID/vnc bridge) or a TCP socket.
import net from 'node:net';

const ENC_RAW = 0;
const ENC_COPYRECT = 1;
export const ENC_CURSOR = -239;		// RichCursor pseudo-encoding

/** Bytes in, awaited by count. */
class Stream {
  constructor() { this.buf = Buffer.alloc(0); this.wait = null; this.closed = false; }
  push(b) { this.buf = Buffer.concat([this.buf, b]); this.kick(); }
  end() { this.closed = true; this.kick(); }
  kick() { if (this.wait && (this.buf.length >= this.wait.n || this.closed)) { const w = this.wait; this.wait = null; w.resolve(); } }
  async read(n, timeout = 5000) {
    while (this.buf.length < n) {
      if (this.closed) throw new Error(`connection closed (wanted ${n} bytes, have ${this.buf.length})`);
      await new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`timed out waiting for ${n} bytes`)), timeout);
        this.wait = { n, resolve: () => { clearTimeout(t); resolve(); } };
      });
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }
}

export class RfbClient {
  static ws(url) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.binaryType = 'arraybuffer';
      const c = new RfbClient((b) => ws.send(b), () => ws.close());
      ws.onopen = () => resolve(c);
      ws.onmessage = (ev) => c.in.push(Buffer.from(ev.data));
      ws.onclose = () => c.in.end();
      ws.onerror = () => reject(new Error(`WebSocket ${url} failed`));
    });
  }

  static tcp(port, host = '127.0.0.1') {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, host);
      const c = new RfbClient((b) => s.write(b), () => s.destroy());
      s.on('connect', () => resolve(c));
      s.on('data', (b) => c.in.push(b));
      s.on('close', () => c.in.end());
      s.on('error', reject);
    });
  }

  constructor(send, close) {
    this.in = new Stream();
    this.send = send;
    this.close = close;
    this.cursors = [];	// every cursor shape received: {w, h, xhot, yhot, pixels, mask}
  }

  /** Version, security None, ClientInit; returns {width, height, name}. */
  async handshake() {
    const ver = (await this.in.read(12)).toString('latin1');
    if (!ver.startsWith('RFB ')) throw new Error(`not RFB: ${JSON.stringify(ver)}`);
    this.send(Buffer.from('RFB 003.008\n', 'latin1'));
    const n = (await this.in.read(1))[0];
    if (n === 0) {
      const len = (await this.in.read(4)).readUInt32BE(0);
      throw new Error(`refused: ${(await this.in.read(len)).toString()}`);
    }
    const types = [...await this.in.read(n)];
    if (!types.includes(1)) throw new Error(`security None not offered (${types})`);
    this.send(Buffer.from([1]));
    const result = (await this.in.read(4)).readUInt32BE(0);
    if (result !== 0) throw new Error('security handshake failed');
    this.send(Buffer.from([1]));	// shared
    const init = await this.in.read(24);
    this.width = init.readUInt16BE(0);
    this.height = init.readUInt16BE(2);
    this.bpp = init[4] / 8;
    const name = (await this.in.read(init.readUInt32BE(20))).toString();
    return { width: this.width, height: this.height, name };
  }

  setEncodings(list) {
    const b = Buffer.alloc(4 + 4 * list.length);
    b[0] = 2;
    b.writeUInt16BE(list.length, 2);
    list.forEach((e, i) => b.writeInt32BE(e, 4 + 4 * i));
    this.send(b);
  }

  requestUpdate(incremental) {
    const b = Buffer.alloc(10);
    b[0] = 3;
    b[1] = incremental ? 1 : 0;
    b.writeUInt16BE(this.width, 6);
    b.writeUInt16BE(this.height, 8);
    this.send(b);
  }

  pointer(mask, x, y) {
    const b = Buffer.alloc(6);
    b[0] = 5;
    b[1] = mask;
    b.writeUInt16BE(x, 2);
    b.writeUInt16BE(y, 4);
    this.send(b);
  }

  /** Read one server message; framebuffer updates return {rects: [...]}. */
  async message(timeout = 5000) {
    const type = (await this.in.read(1, timeout))[0];
    if (type === 0) {
      const h = await this.in.read(3, timeout);
      const n = h.readUInt16BE(1);
      const rects = [];
      for (let i = 0; i < n; i++) {
        const r = await this.in.read(12, timeout);
        const rect = { x: r.readUInt16BE(0), y: r.readUInt16BE(2), w: r.readUInt16BE(4), h: r.readUInt16BE(6), enc: r.readInt32BE(8) };
        if (rect.enc === ENC_RAW) await this.in.read(rect.w * rect.h * this.bpp, timeout);
        else if (rect.enc === ENC_COPYRECT) await this.in.read(4, timeout);
        else if (rect.enc === ENC_CURSOR) {
          const pixels = rect.w * rect.h ? await this.in.read(rect.w * rect.h * this.bpp, timeout) : Buffer.alloc(0);
          const mask = rect.w * rect.h ? await this.in.read(Math.ceil(rect.w / 8) * rect.h, timeout) : Buffer.alloc(0);
          this.cursors.push({ w: rect.w, h: rect.h, xhot: rect.x, yhot: rect.y, pixels, mask });
        } else throw new Error(`unexpected encoding ${rect.enc}`);
        rects.push(rect);
      }
      return { type, rects };
    }
    if (type === 2) return { type };	// bell
    if (type === 3) {
      const h = await this.in.read(7, timeout);
      await this.in.read(h.readUInt32BE(3), timeout);
      return { type };
    }
    throw new Error(`unexpected server message ${type}`);
  }

  /** Keep asking for updates until pred(this) holds; false after timeout ms. */
  async until(pred, timeout = 5000) {
    const end = Date.now() + timeout;
    while (Date.now() < end) {
      if (pred(this)) return true;
      this.requestUpdate(true);
      try { await this.message(Math.max(50, end - Date.now())); } catch (e) { if (!/timed out/.test(e.message)) throw e; }
    }
    return pred(this);
  }
}

/** How many mask bits are set (opaque pixels of a cursor shape). */
export function maskBits(c) {
  let n = 0;
  for (const b of c.mask) for (let i = 0; i < 8; i++) if (b & (0x80 >> i)) n++;
  return n;
}
