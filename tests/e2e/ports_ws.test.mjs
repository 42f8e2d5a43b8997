// Preview WebSockets from a hostile sandbox: a message from a server inside streams through
// the proxy as it arrives (nothing holds it whole), so 30 MiB messages, messages that never end
// and floods of empty messages do not grow the server, while a normal client still gets every
// byte intact, both ways. Proxied connections are bounded per key too (PX_KEY_CONNS), so one
// key's sessions cannot take every slot or the memory behind them.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { startServe, httpClient, createKey, textOf, poll, makeDataDir, sleep, REPO, UNDER_ASAN } from './helpers.mjs';

function ok(r, what = '') {
  assert.ok(!r.isError, `${what} failed: ${textOf(r)}`);
  return r.structuredContent;
}

const MiB = 1 << 20;

// WebSocket servers in Python's standard library only (fixtures/wsinside.py):
// 9101 answers "send SIZE FRAG" with the SHA-256 of SIZE random bytes, then those bytes as one
//      binary message (in FRAG-byte fragments, 0: one frame), and "close STATUS" with a close
//      frame; any other message it reads whole (fragments joined) and answers
//      "got SHA256 LENGTH FRAMES"
// 9102 announces a binary frame of 32 MiB - 1, sends 30 MiB of it and never the rest
// 9103 sends 1 Mi empty binary messages (2 MiB on the wire) as fast as they are read
// 9104 listens and never accepts (connections wait in its backlog)
const WS_LIB = fs.readFileSync(path.join(REPO, 'tests', 'e2e', 'fixtures', 'wsinside.py'), 'utf8');
const WS_SERVER = String.raw`
import hashlib, os, socket, struct, threading, time
from wsinside import serve, handshake, header, read_frame
def read_message(c):
    parts, kind, frames = [], 0, 0
    while True:
        fin, op, p = read_frame(c)
        if op == 8: return 8, p, 0
        if op >= 8: continue
        if op and kind: raise ValueError('a new message inside one')
        kind = kind or op; frames += 1; parts.append(p)
        if fin: return kind, b''.join(parts), frames
def big(c):
    handshake(c)
    while True:
        op, p, frames = read_message(c)
        if op == 8:
            c.sendall(header(True, 8, 2) + p[:2]); return
        cmd = p.split()
        if op == 1 and cmd[0] == b'close':
            c.sendall(header(True, 8, 2) + struct.pack('>H', int(cmd[1])))
            continue
        if op == 1 and cmd[0] == b'send':
            size, frag = int(cmd[1]), int(cmd[2])
            body = os.urandom(size)
            c.sendall(header(True, 1, 64) + hashlib.sha256(body).hexdigest().encode())
            if not frag:
                c.sendall(header(True, 2, size)); c.sendall(body)
            for i in range(0, size if frag else 0, frag or 1):
                piece = body[i:i + frag]
                c.sendall(header(i + frag >= size, 0 if i else 2, len(piece)) + piece)
            continue
        reply = b'got %s %d %d' % (hashlib.sha256(p).hexdigest().encode(), len(p), frames)
        c.sendall(header(True, 1, len(reply)) + reply)
BLOB = bytes(30 << 20)
def unfinished(c):
    handshake(c)
    try:
        c.sendall(header(True, 2, (32 << 20) - 1)); c.sendall(BLOB); time.sleep(3600)
    except OSError: pass
EMPTIES = b'\x82\x00' * (1 << 20)
def empties(c):
    handshake(c)
    try:
        c.sendall(EMPTIES); time.sleep(3600)
    except OSError: pass
threading.Thread(target=serve, args=(9101, big), daemon=True).start()
threading.Thread(target=serve, args=(9102, unfinished), daemon=True).start()
threading.Thread(target=serve, args=(9103, empties), daemon=True).start()
idle = socket.socket(); idle.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
idle.bind(('127.0.0.1', 9104)); idle.listen(128)
while True: time.sleep(3600)
`;

describe('preview WebSockets: messages stream through, bounded per key', () => {
  let srv, cli, sid, dataDir, bob, bobCli, bobSid;
  // under make asan the sanitizer's quarantine keeps up to 256 MB of freed buffers: RSS says nothing there
  // (make test's passes check it); the messages' integrity and the other assertions still run
  const rss = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${srv.child.pid}/status`, 'utf8'))[1]) >> 10; // MiB
  const hostPort = () => Number(new URL(srv.base).port);

  async function startPorts(c, s, code, ports) {
    ok(await c.call('execute', { session_id: s, language: 'shell', background: true, code }));
    await poll(async () => {
      const have = ok(await c.call('session_info', { session_id: s })).ports || [];
      return ports.every((p) => have.some((x) => x.port === p));
    }, { timeout: 20000, interval: 200 });
  }

  // A raw connection to a preview: the upgrade (ws) or a GET; counts what comes back, reading it or not.
  async function raw(session, port, { ws = true, read = true } = {}) {
    const s = net.connect(hostPort(), '127.0.0.1');
    await new Promise((resolve, reject) => { s.once('connect', resolve); s.once('error', reject); });
    s.on('error', () => {});
    const c = { sock: s, bytes: 0, head: '' };
    s.on('data', (d) => { c.bytes += d.length; if (c.head.length < 200) c.head += d.toString('latin1', 0, 200); });
    s.write(`GET /sessions/${session}/ports/${port}/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${srv.key}\r\n` +
      (ws ? 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n' : '') + '\r\n');
    if (!read) s.pause();
    return c;
  }

  before(async () => {
    dataDir = makeDataDir();
    srv = await startServe({ dataDir });
    cli = await httpClient(srv);
    sid = ok(await cli.call('session_create', {})).session_id;
    ok(await cli.call('file_write', { session_id: sid, path: 'wsinside.py', content: WS_LIB }));
    ok(await cli.call('file_write', { session_id: sid, path: 'ws.py', content: WS_SERVER }));
    await startPorts(cli, sid, 'exec python3 ws.py', [9101, 9102, 9103, 9104]);
    bob = createKey(dataDir, { name: 'bob' });
    bobCli = await httpClient(srv, { key: bob.key });
    bobSid = ok(await bobCli.call('session_create', {}), 'bob: session_create').session_id;
  });
  after(async () => { await bobCli?.close(); await cli?.close(); await srv?.close(); });

  test('a flood of empty messages a client does not read is held back within the bound, not dropped', async () => {
    const before = rss();
    const c = await raw(sid, 9103, { read: false });
    await sleep(3000);
    const grown = rss() - before;
    // each empty message once took a queue entry that the bound did not count (the old proxy
    // held all of them: some 80 MiB); first, while the server has not grown for other reasons
    if (!UNDER_ASAN) assert.ok(grown < 24, `the server grew by ${grown} MiB for empty messages not read`);
    c.sock.resume();
    const all = await poll(() => (c.bytes >= 2 * MiB ? true : null), { timeout: 30000, interval: 200 });
    c.sock.destroy();
    assert.ok(all, `the client got ${c.bytes} bytes of 1 Mi empty messages (2 MiB)`);
  });

  test('30 MiB messages cross intact both ways, whole or fragmented, without the server holding them', async () => {
    const ws = new WebSocket(`${srv.base.replace('http', 'ws')}/sessions/${sid}/ports/9101/?api_key=${srv.key}`);
    ws.binaryType = 'arraybuffer';
    const inbox = [];
    let wake = null;
    ws.onmessage = (ev) => { inbox.push(ev.data); wake?.(); };
    const closed = new Promise((resolve) => { ws.onclose = (ev) => { resolve(ev); wake?.(); }; });
    await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error('WebSocket error')); });
    const next = async () => {
      const until = Date.now() + 60000;
      while (!inbox.length) {
        assert.ok(Date.now() < until, 'no message within 60 s');
        await new Promise((r) => { wake = r; setTimeout(r, 1000); });
      }
      return inbox.shift();
    };
    const before = rss();
    let peak = before;
    const sampler = setInterval(() => { peak = Math.max(peak, rss()); }, 10);
    try {
      for (const frag of [0, MiB, 65536 + 7]) {
        ws.send(`send ${30 * MiB} ${frag}`);
        const sha = await next();
        const body = await next();
        assert.equal(typeof sha, 'string');
        assert.equal(body.byteLength, 30 * MiB, `the message sent in ${frag || 'one frame'} arrives whole`);
        assert.equal(crypto.createHash('sha256').update(Buffer.from(body)).digest('hex'), sha, `intact (${frag || 'one frame'})`);
      }
      // the other way: a client's 30 MiB frame streams to the server as one frame (its FIN is known
      // from its header on); a short one goes whole
      const mine = crypto.randomBytes(30 * MiB);
      ws.send(mine);
      assert.match(await next(), new RegExp(`^got ${crypto.createHash('sha256').update(mine).digest('hex')} ${30 * MiB} 1$`));
      const short = crypto.randomBytes(60000);
      ws.send(short);
      assert.equal(await next(), `got ${crypto.createHash('sha256').update(short).digest('hex')} 60000 1`);
    } finally {
      clearInterval(sampler);
    }
    // 4 x 30 MiB went through; the old proxy held each one two or three times over (90 MiB)
    if (!UNDER_ASAN) assert.ok(peak - before < 40, `the server grew by ${peak - before} MiB passing 30 MiB messages`);
    ws.close(1000);
    assert.equal((await closed).code, 1000);
  });

  test('close statuses: a message over 32 MiB either way closes with 1009; the server\'s own status reaches the client', async () => {
    const open = async () => {
      const ws = new WebSocket(`${srv.base.replace('http', 'ws')}/sessions/${sid}/ports/9101/?api_key=${srv.key}`);
      const closed = new Promise((resolve) => { ws.onclose = (ev) => resolve(ev.code); });
      await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error('WebSocket error')); });
      return { ws, closed };
    };
    const within = (p) => Promise.race([p, sleep(60000).then(() => 'no close within 60 s')]);
    let c = await open();
    c.ws.send(`send ${32 * MiB + 1} 0`);
    assert.equal(await within(c.closed), 1009, 'the server\'s message over the bound');
    c = await open();
    c.ws.send(Buffer.alloc(32 * MiB + 1));
    assert.equal(await within(c.closed), 1009, 'the client\'s message over the bound');
    c = await open();
    c.ws.send('close 4001');
    assert.equal(await within(c.closed), 4001, 'the server\'s close status');
  });

  test('messages a server inside never finishes are passed on, not held, while other tenants go on', async () => {
    const before = rss();
    const readers = [], stalled = [];
    for (let i = 0; i < 8; i++) readers.push(await raw(sid, 9102));
    for (let i = 0; i < 8; i++) stalled.push(await raw(sid, 9102, { read: false }));
    // another tenant's calls go on meanwhile
    const t0 = Date.now();
    const r = await bobCli.call('execute', { session_id: bobSid, language: 'shell', code: 'echo still here' });
    assert.ok(!r.isError && /still here/.test(textOf(r)), `bob: execute: ${textOf(r)}`);
    assert.ok(Date.now() - t0 < 15000, `another tenant waited ${Date.now() - t0} ms`);
    // the readers get the unfinished message's 30 MiB as it comes (the old proxy held it all, unsent)
    const got = await poll(() => (readers.every((c) => c.bytes > 30 * MiB) ? true : null), { timeout: 30000, interval: 200 });
    await sleep(500);
    const grown = rss() - before;
    for (const c of [...readers, ...stalled]) c.sock.destroy();
    assert.ok(got, `the readers got ${readers.map((c) => (c.bytes / MiB).toFixed(1)).join(', ')} MiB of 30`);
    if (!UNDER_ASAN) assert.ok(grown < 48, `the server grew by ${grown} MiB for 16 unfinished 30 MiB messages, 8 of them not read`);
    assert.equal(srv.child.exitCode, null, `the server is alive: ${srv.stderr().slice(-2000)}`);
  });

  test('proxied connections are bounded per key over its sessions', async () => {
    const more = [];
    for (let i = 0; i < 2; i++) more.push(ok(await cli.call('session_create', {})).session_id);
    ok(await cli.call('file_write', { session_id: more[1], path: 'site/index.html', content: 'third' }));
    await startPorts(cli, more[0], 'exec python3 -c "import socket,time; s=socket.socket(); s.bind((\'127.0.0.1\', 9104)); s.listen(128); time.sleep(3600)"', [9104]);
    await startPorts(cli, more[1], 'cd site && exec python3 -m http.server 8000 --bind 127.0.0.1', [8000]);
    const third = `${srv.base}/sessions/${more[1]}/ports/8000/index.html`;
    const auth = { headers: { authorization: `Bearer ${srv.key}` } };
    let res = await fetch(third, auth);
    assert.equal(res.status, 200, 'the third session serves');
    assert.equal(await res.text(), 'third');
    // 32 waiting connections into each of two sessions: 64, the key's bound
    const socks = [];
    for (const s of [sid, more[0]]) for (let i = 0; i < 32; i++) socks.push(await raw(s, 9104, { ws: false, read: false }));
    await sleep(1500);
    try {
      res = await fetch(third, auth);
      assert.equal(res.status, 429, `past the key's bound: ${res.status}`);
      assert.match(await res.text(), /sessions of this key have too many proxied connections/);
      // another key's previews are not counted against it
      ok(await bobCli.call('file_write', { session_id: bobSid, path: 'site/index.html', content: 'bob' }), 'bob: file_write');
      await startPorts(bobCli, bobSid, 'cd site && exec python3 -m http.server 8000 --bind 127.0.0.1', [8000]);
      res = await fetch(`${srv.base}/sessions/${bobSid}/ports/8000/index.html`, { headers: { authorization: `Bearer ${bob.key}` } });
      assert.equal(res.status, 200, 'another key previews');
      assert.equal(await res.text(), 'bob');
    } finally {
      for (const c of socks) c.sock.destroy();
    }
    assert.ok(await poll(async () => ((await fetch(third, auth)).status === 200 ? true : null), { timeout: 10000, interval: 200 }),
      'the key previews again once its connections closed');
  });
});
