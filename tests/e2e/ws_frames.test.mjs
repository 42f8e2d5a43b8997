// WebSocket frames as a hostile client writes them (RFC 6455), sent byte for byte over a plain TCP socket to
// /mcp and to a route's WebSocket (a terminal's): an unmasked frame, reserved bits and opcodes, broken control
// frames, fragments out of order, text that is not UTF-8, a message over the bound, bad close frames. Each must
// end the connection with the close status the RFC names (then the server hangs up); pings get their pong,
// a close its echo, and a good client keeps working throughout.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import crypto from 'node:crypto';
import { okResult, startServe, httpClient, poll } from './helpers.mjs';

const MAX = 256 << 10; // max_message of this server

/** A client frame: masked unless told otherwise. */
function frame(op, payload = Buffer.alloc(0), { fin = true, mask = true, rsv = 0 } = {}) {
  payload = Buffer.from(payload);
  const n = payload.length;
  const head = [(fin ? 0x80 : 0) | rsv << 4 | op];
  if (n < 126) head.push((mask ? 0x80 : 0) | n);
  else if (n < 65536) head.push((mask ? 0x80 : 0) | 126, n >> 8, n & 255);
  else { head.push((mask ? 0x80 : 0) | 127, 0, 0, 0, 0); for (let i = 3; i >= 0; i--) head.push((n >>> (8 * i)) & 255); }
  if (!mask) return Buffer.concat([Buffer.from(head), payload]);
  const key = crypto.randomBytes(4);
  const body = Buffer.from(payload.map((b, i) => b ^ key[i & 3]));
  return Buffer.concat([Buffer.from(head), key, body]);
}
const closeBody = (code, reason = '') => Buffer.concat([Buffer.from([code >> 8, code & 255]), Buffer.from(reason)]);

/** A raw WebSocket: the handshake, then frames from the server parsed as they come. */
class Raw {
  static open(port, path, headers = {}) {
    return new Promise((resolve, reject) => {
      const sock = net.connect(port, '127.0.0.1');
      const key = crypto.randomBytes(16).toString('base64');
      const r = new Raw(sock);
      sock.on('error', reject);
      sock.on('connect', () => {
        const h = { Host: `127.0.0.1:${port}`, Upgrade: 'websocket', Connection: 'Upgrade', 'Sec-WebSocket-Key': key,
          'Sec-WebSocket-Version': '13', ...headers };
        sock.write(`GET ${path} HTTP/1.1\r\n${Object.entries(h).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
      });
      r.onHead = (status, head) => {
        r.status = status;
        r.head = head;
        if (status === 101) {
          const want = crypto.createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
          assert.match(head, new RegExp(`sec-websocket-accept: ${want.replace(/[+/]/g, '\\$&')}\r\n`, 'i'));
        }
        resolve(r);
      };
    });
  }

  constructor(sock) {
    this.sock = sock;
    this.buf = Buffer.alloc(0);
    this.frames = [];
    this.ended = false;
    this.waiters = [];
    sock.on('data', (d) => { this.buf = Buffer.concat([this.buf, d]); this.parse(); });
    sock.on('close', () => { this.ended = true; this.wake(); });
  }

  wake() { for (const w of this.waiters.splice(0)) w(); }

  parse() {
    if (this.status === undefined) {
      const i = this.buf.indexOf('\r\n\r\n');
      if (i < 0) return;
      const head = this.buf.subarray(0, i + 4).toString();
      this.buf = this.buf.subarray(i + 4);
      this.onHead(Number(/^HTTP\/1\.1 (\d+)/.exec(head)[1]), head);
      if (this.status !== 101) { this.body = this.buf.toString(); return; }
    }
    for (;;) {
      const b = this.buf;
      if (b.length < 2) break;
      assert.equal(b[1] & 0x80, 0, 'a server never masks');
      let n = b[1] & 0x7f, off = 2;
      if (n === 126) { if (b.length < 4) break; n = b.readUInt16BE(2); off = 4; }
      else if (n === 127) { if (b.length < 10) break; n = Number(b.readBigUInt64BE(2)); off = 10; }
      if (b.length < off + n) break;
      this.frames.push({ fin: !!(b[0] & 0x80), op: b[0] & 0x0f, payload: b.subarray(off, off + n) });
      this.buf = b.subarray(off + n);
    }
    this.wake();
  }

  send(...frames) { this.sock.write(Buffer.concat(frames)); }

  /** The next frame from the server, or null once it hung up. */
  async next(timeout = 10000) {
    const t0 = Date.now();
    while (!this.frames.length && !this.ended) {
      if (Date.now() - t0 > timeout) throw new Error('no frame from the server in time');
      await new Promise((r) => { this.waiters.push(r); setTimeout(r, 200); });
    }
    return this.frames.shift() || null;
  }

  /** The server's close frame: its status, then the server hangs up (within the linger bound). */
  async closedWith(status, what) {
    let f;
    do f = await this.next(); while (f && f.op !== 8 && f.op !== 1); // a reply already on its way may come first
    assert.ok(f, `${what}: the server hung up without a close frame`);
    assert.equal(f.op, 8, `${what}: a close frame, not ${f.op === 1 ? `a reply: ${f.payload}` : `opcode ${f.op}`}`);
    assert.equal(f.payload.readUInt16BE(0), status, `${what}: close status (reason "${f.payload.subarray(2)}")`);
    assert.ok(await poll(() => this.ended, { timeout: 5000 }), `${what}: the server hangs up after its close`);
  }
}

const INIT = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });

let serve, cli;
before(async () => {
  serve = await startServe({ config: { max_message: `${MAX}` } });
  cli = await httpClient(serve);
});
after(async () => { await cli?.close(); await serve?.close(); });

const mcp = () => Raw.open(serve.port, '/mcp', { Authorization: `Bearer ${serve.key}` });

describe('WebSocket frames from a hostile client', () => {
  test('an unmasked frame is refused with 1002 and not read as a request (RFC 6455 5.1)', async () => {
    const ws = await mcp();
    assert.equal(ws.status, 101);
    ws.send(frame(1, INIT, { mask: false }));
    await ws.closedWith(1002, 'unmasked text frame');
    // after a good message too: the connection's state does not excuse a later unmasked frame
    const ws2 = await mcp();
    ws2.send(frame(1, INIT));
    const answer = await ws2.next();
    assert.equal(answer.op, 1);
    assert.equal(JSON.parse(answer.payload).result.protocolVersion, '2025-11-25');
    ws2.send(frame(9, 'hi', { mask: false }));
    await ws2.closedWith(1002, 'unmasked ping after a good message');
  });

  test('masked frames work: a request in three fragments with a ping between them, a pong, a close echoed', async () => {
    const ws = await mcp();
    const a = Buffer.from(INIT);
    ws.send(frame(1, a.subarray(0, 10), { fin: false }), frame(9, 'between'), frame(0, a.subarray(10, 40), { fin: false }),
      frame(0, a.subarray(40)));
    const pong = await ws.next();
    assert.deepEqual([pong.op, pong.payload.toString()], [10, 'between'], 'the pong carries the ping payload');
    const answer = await ws.next();
    assert.equal(JSON.parse(answer.payload).id, 1);
    ws.send(frame(8, closeBody(1000, 'bye')));
    await ws.closedWith(1000, 'a client close');
  });

  const broken = [
    ['a reserved bit (no extension was agreed)', () => frame(1, INIT, { rsv: 4 }), 1002],
    ['a reserved data opcode', () => frame(3, 'x'), 1002],
    ['a reserved control opcode', () => frame(11, 'x'), 1002],
    ['a fragmented ping', () => frame(9, 'x', { fin: false }), 1002],
    ['a ping of 126 bytes', () => frame(9, Buffer.alloc(126, 97)), 1002],
    ['a continuation with no message', () => frame(0, 'x'), 1002],
    ['a new message inside a fragmented one', () => Buffer.concat([frame(1, '{', { fin: false }), frame(1, '}')]), 1002],
    ['text that is not UTF-8', () => frame(1, Buffer.from([0x7b, 0xc3, 0x28, 0x7d])), 1007],
    ['text cut inside a character', () => frame(1, Buffer.from([0x22, 0xe2, 0x82])), 1007],
    ['an encoded surrogate', () => frame(1, Buffer.from([0x22, 0xed, 0xa0, 0x80, 0x22])), 1007],
    ['a message over max_message, refused at its header', () => frame(2, Buffer.alloc(MAX + 1)), 1009],
    ['a fragmented message over max_message', () => Buffer.concat([frame(1, Buffer.alloc(MAX - 10, 32), { fin: false }),
      frame(0, Buffer.alloc(20, 32))]), 1009],
    ['a close frame of one byte', () => frame(8, Buffer.from([3])), 1002],
    ['a close status no endpoint may send (1005)', () => frame(8, closeBody(1005)), 1002],
    ['a close status out of range (999)', () => frame(8, closeBody(999)), 1002],
    ['a close reason that is not UTF-8', () => frame(8, Buffer.concat([closeBody(1000), Buffer.from([0xff])])), 1007],
  ];
  for (const [what, make, status] of broken) {
    test(`${what}: closed with ${status}`, async () => {
      const ws = await mcp();
      ws.send(make());
      await ws.closedWith(status, what);
    });
  }

  test('the handshake: version 13 only (426 with the version), a key of 16 bytes', async () => {
    const old = await Raw.open(serve.port, '/mcp', { Authorization: `Bearer ${serve.key}`, 'Sec-WebSocket-Version': '8' });
    assert.equal(old.status, 426);
    assert.match(old.head, /sec-websocket-version: 13\r\n/i);
    const bad = await Raw.open(serve.port, '/mcp', { Authorization: `Bearer ${serve.key}`, 'Sec-WebSocket-Key': 'c2hvcnQ=' });
    assert.equal(bad.status, 400);
    const nokey = await Raw.open(serve.port, '/mcp', { 'Sec-WebSocket-Key': crypto.randomBytes(16).toString('base64') });
    assert.equal(nokey.status, 401);
  });

  test('a ping flood from a client that reads nothing gets one pong at a time: the server does not grow', async () => {
    const ws = await mcp();
    ws.sock.pause(); // reads nothing
    const rss = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${serve.pid}/status`, 'utf8'))[1]) * 1024;
    const before0 = rss();
    const ping = frame(9, Buffer.alloc(125, 1));
    // ~40 MB of pings: their 300k pongs would hold over 60 MB of the server's memory if each were queued
    for (let i = 0; i < 60; i++) ws.sock.write(Buffer.concat(Array(5000).fill(ping)));
    await new Promise((r) => setTimeout(r, 1500));
    const grown = rss() - before0;
    assert.ok(grown < 16 << 20, `the server grew by ${grown} bytes`);
    // and another client is served meanwhile
    okResult(await cli.call('session_list', {}), 'session_list');
    ws.sock.destroy();
  });

  test("a route's WebSocket (a terminal's) checks frames the same way", async () => {
    const sid = okResult(await cli.call('session_create', {}), 'session_create').session_id;
    const t = okResult(await cli.call('terminal_open', { session_id: sid }), 'terminal_open');
    const path = `/sessions/${sid}/terminals/${t.terminal_id}/ws?token=${new URL(t.control_url).searchParams.get('token')}`;
    const ws = await Raw.open(serve.port, path);
    assert.equal(ws.status, 101);
    ws.send(frame(2, Buffer.from('iecho hi\r'), { mask: false }));
    await ws.closedWith(1002, 'an unmasked frame to a terminal');
    const ws2 = await Raw.open(serve.port, path);
    ws2.send(frame(1, Buffer.from([0x69, 0xff])));
    await ws2.closedWith(1007, 'bad UTF-8 to a terminal');
    okResult(await cli.call('session_destroy', { session_id: sid }), 'session_destroy');
  });
});
