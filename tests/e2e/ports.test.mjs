// Previews: a server listening inside a session, reached through mcpbox's main port at
// /sessions/{id}/ports/{port}/ (HTTP and WebSocket) with the owner's key or a view token; the
// connection is opened by the sandbox's worker inside the sandbox's network namespace.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServe, httpClient, createKey, textOf, poll, makeDataDir, REPO } from './helpers.mjs';

function ok(r, what = '') {
  assert.ok(!r.isError, `${what} failed: ${textOf(r)}`);
  return r.structuredContent;
}

// A WebSocket echo server and a flooding server (fixtures/wsinside.py), in Python's standard library only.
const WS_LIB = fs.readFileSync(path.join(REPO, 'tests', 'e2e', 'fixtures', 'wsinside.py'), 'utf8');
const WS_SERVER = String.raw`
import socket, threading, time
from wsinside import serve, handshake, frame, read_frame
def echo(c):
    line = handshake(c)
    c.sendall(frame(1, b'hello ' + line))
    while True:
        fin, op, p = read_frame(c)
        if op == 8: c.sendall(frame(8, p[:2])); return
        c.sendall(frame(op, b'echo:' + p))
def flood(c):
    handshake(c)
    chunk = frame(2, b'x' * 65536)
    try:
        while True: c.sendall(chunk)
    except OSError: pass
def http_flood(c):
    c.recv(65536)
    c.sendall(b'HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n')
    chunk = b'y' * 65536
    try:
        while True: c.sendall(chunk)
    except OSError: pass
threading.Thread(target=serve, args=(9001, echo), daemon=True).start()
threading.Thread(target=serve, args=(9002, flood), daemon=True).start()
# 9004 listens and never accepts: connections wait in its backlog, holding no thread (as an
# ordinary user every thread counts against the sandbox's process limit)
idle = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
idle.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
idle.bind(('127.0.0.1', 9004)); idle.listen(128)
serve(9003, http_flood)
`;

describe('ports: previews of servers inside a session', () => {
  let srv, cli, sid, viewUrl, dataDir;
  before(async () => {
    dataDir = makeDataDir();
    srv = await startServe({ dataDir });
    cli = await httpClient(srv);
    sid = ok(await cli.call('session_create', {})).session_id;
    ok(await cli.call('file_write', { session_id: sid, path: 'site/index.html', content: '<h1>hello from inside</h1>' }));
    ok(await cli.call('file_write', { session_id: sid, path: 'wsinside.py', content: WS_LIB }));
    ok(await cli.call('file_write', { session_id: sid, path: 'ws.py', content: WS_SERVER }));
    ok(await cli.call('execute', { session_id: sid, language: 'shell', background: true,
      code: 'cd site && exec python3 -m http.server 8000 --bind 127.0.0.1' }));
    ok(await cli.call('execute', { session_id: sid, language: 'shell', background: true, code: 'exec python3 ws.py' }));
    await poll(async () => {
      const ports = ok(await cli.call('session_info', { session_id: sid })).ports || [];
      return [8000, 9001, 9002, 9003, 9004].every((p) => ports.some((x) => x.port === p));
    }, { timeout: 15000, interval: 200 });
    viewUrl = ok(await cli.call('session_info', { session_id: sid })).ports.find((p) => p.port === 8000).url;
  });
  after(async () => { await cli?.close(); await srv?.close(); });

  test('session_info lists the listening ports with preview URLs', async () => {
    const info = ok(await cli.call('session_info', { session_id: sid }));
    const p = info.ports.find((x) => x.port === 8000);
    assert.match(p.url, new RegExp(`^${srv.base}/sessions/${sid}/ports/8000/\\?token=[0-9a-f]{32}$`));
    assert.ok(!info.ports.some((x) => x.port === 0));
  });

  test('HTTP with the owner key and with a view token; refused without, and for another principal', async () => {
    let res = await fetch(`${srv.base}/sessions/${sid}/ports/8000/index.html`, { headers: { authorization: `Bearer ${srv.key}` } });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), '<h1>hello from inside</h1>');
    assert.match(res.headers.get('content-type'), /text\/html/);

    res = await fetch(viewUrl, { redirect: 'manual' });
    assert.equal(res.status, 200, 'a view token opens the preview');
    assert.equal(await res.text(), '<h1>hello from inside</h1>', 'the index page of the server inside');
    const cookie = res.headers.get('set-cookie');
    assert.match(cookie, /mcpbox_token=[0-9a-f]{32}; Path=\/sessions\/[^/]+\/ports\/; HttpOnly/);
    // the page's own requests carry the cookie, not the token
    res = await fetch(`${srv.base}/sessions/${sid}/ports/8000/index.html`, { headers: { cookie: cookie.split(';')[0] } });
    assert.equal(res.status, 200, 'the cookie lets the page load its files');

    res = await fetch(`${srv.base}/sessions/${sid}/ports/8000/index.html`);
    assert.equal(res.status, 401, 'no credentials');
    res = await fetch(`${srv.base}/sessions/${sid}/ports/8000/index.html?token=${'0'.repeat(32)}`);
    assert.equal(res.status, 401, 'a wrong token');
    const other = createKey(dataDir, { name: 'other' });
    res = await fetch(`${srv.base}/sessions/${sid}/ports/8000/index.html`, { headers: { authorization: `Bearer ${other.key}` } });
    assert.equal(res.status, 401, 'another principal');
    res = await fetch(`${srv.base}/sessions/${sid}/ports/8000`, { headers: { authorization: `Bearer ${srv.key}` }, redirect: 'manual' });
    assert.equal(res.status, 308);
    assert.equal(res.headers.get('location'), `/sessions/${sid}/ports/8000/`);
    res = await fetch(`${srv.base}/sessions/${sid}/ports/8999/`, { headers: { authorization: `Bearer ${srv.key}` } });
    assert.equal(res.status, 502, 'nothing listens there');
    assert.match(await res.text(), /port 8999/);
  });

  test('the request reaches the server with its query, without the token', async () => {
    ok(await cli.call('file_write', { session_id: sid, path: 'echo.py', content: String.raw`
import http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self): self.reply()
    def do_POST(self): self.reply()
    def reply(self):
        n = int(self.headers.get('content-length') or 0)
        body = (self.command + ' ' + self.path + ' auth=' + str(self.headers.get('authorization')) + ' body=' + self.rfile.read(n).decode()).encode()
        self.send_response(201); self.send_header('X-Inside', 'yes'); self.send_header('Location', '/elsewhere')
        self.send_header('Content-Length', str(len(body))); self.end_headers(); self.wfile.write(body)
http.server.HTTPServer(('127.0.0.1', 8010), H).serve_forever()
` }));
    ok(await cli.call('execute', { session_id: sid, language: 'shell', background: true, code: 'exec python3 echo.py' }));
    await poll(async () => (ok(await cli.call('session_info', { session_id: sid })).ports || []).some((p) => p.port === 8010), { timeout: 10000, interval: 100 });
    const res = await fetch(`${srv.base}/sessions/${sid}/ports/8010/a/b%20c?x=1&y=a%26b&token=zzz`, {
      method: 'POST', headers: { authorization: `Bearer ${srv.key}`, 'content-type': 'text/plain' }, body: 'payload', redirect: 'manual' });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('x-inside'), 'yes');
    assert.equal(res.headers.get('location'), `/sessions/${sid}/ports/8010/elsewhere`);
    assert.equal(await res.text(), 'POST /a/b%20c?x=1&y=a%26b auth=None body=payload');
  });

  test('a WebSocket server inside is reachable; messages go both ways', async () => {
    const ws = new WebSocket(`${srv.base.replace('http', 'ws')}/sessions/${sid}/ports/9001/chat?room=1&api_key=${srv.key}`);
    const got = [];
    await new Promise((resolve, reject) => {
      ws.onmessage = (ev) => { got.push(String(ev.data)); if (got.length === 3) resolve(); };
      ws.onopen = () => { ws.send('one'); ws.send('x'.repeat(200000)); };
      ws.onerror = () => reject(new Error('WebSocket error'));
      setTimeout(() => reject(new Error(`timeout, got ${got.map((g) => g.slice(0, 40))}`)), 10000);
    });
    assert.equal(got[0], 'hello GET /chat?room=1 HTTP/1.1');
    assert.equal(got[1], 'echo:one');
    assert.equal(got[2], 'echo:' + 'x'.repeat(200000));
    ws.close();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(srv.child.exitCode, null, `the server is alive: ${srv.stderr().slice(-3000)}`);
  });

  test('a flooding server inside does not grow the server without bound', async () => {
    const rss = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${srv.child.pid}/status`, 'utf8'))[1]);
    const before = rss();
    // a WebSocket client that never reads, and an HTTP client that never reads
    const net = await import('node:net');
    const socks = [];
    for (const [port, req] of [[9002, `GET /sessions/${sid}/ports/9002/ HTTP/1.1\r\nHost: ${new URL(srv.base).host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer ${srv.key}\r\n\r\n`],
      [9003, `GET /sessions/${sid}/ports/9003/ HTTP/1.1\r\nHost: ${new URL(srv.base).host}\r\nAuthorization: Bearer ${srv.key}\r\n\r\n`]]) {
      const s = net.connect(Number(new URL(srv.base).port), '127.0.0.1');
      await new Promise((resolve, reject) => { s.once('connect', resolve); s.once('error', reject); });
      s.on('error', () => {});
      s.write(req);
      s.pause(); // never read
      socks.push(s);
    }
    await new Promise((r) => setTimeout(r, 4000));
    const grown = rss() - before;
    assert.equal(srv.child.exitCode, null, `the server is alive: ${srv.stderr().slice(-2000)}`);
    assert.ok(grown < 48 * 1024, `the server grew by ${grown} KiB while two floods were not read`);
    // still serving
    const res = await fetch(`${srv.base}/sessions/${sid}/ports/8000/index.html`, { headers: { authorization: `Bearer ${srv.key}` } });
    assert.equal(res.status, 200);
    // and the floods did reach the clients (held back, not dropped)
    for (const [i, want] of [[0, /^HTTP\/1\.1 101/], [1, /^HTTP\/1\.1 200/]]) {
      const first = await new Promise((r) => { socks[i].once('data', (d) => r(d.toString('latin1', 0, 20))); socks[i].resume(); });
      assert.match(first, want);
    }
    for (const s of socks) s.destroy();
  });

  test('connections per session are bounded', async () => {
    const net = await import('node:net');
    const socks = [];
    for (let i = 0; i < 40; i++) {
      const s = net.connect(Number(new URL(srv.base).port), '127.0.0.1');
      await new Promise((resolve, reject) => { s.once('connect', resolve); s.once('error', reject); });
      s.on('error', () => {});
      s.write(`GET /sessions/${sid}/ports/9004/ HTTP/1.1\r\nHost: ${new URL(srv.base).host}\r\nAuthorization: Bearer ${srv.key}\r\n\r\n`);
      s.pause();
      socks.push(s);
    }
    await new Promise((r) => setTimeout(r, 1500));
    const res = await fetch(`${srv.base}/sessions/${sid}/ports/8000/index.html`, { headers: { authorization: `Bearer ${srv.key}` } });
    assert.equal(res.status, 429, `over the per-session bound: ${res.status} ${await res.clone().text()}`);
    for (const s of socks) s.destroy();
    await poll(async () => (await fetch(`${srv.base}/sessions/${sid}/ports/8000/index.html`, { headers: { authorization: `Bearer ${srv.key}` } })).status === 200,
      { timeout: 10000, interval: 200 });
  });
});
