// `mcpbox serve`: Streamable HTTP (MCP 2025-11-25) and WebSocket at /mcp, API keys, /healthz, /metrics.
// Driven by real clients: the official SDK (StreamableHTTPClientTransport, WebSocketClientTransport),
// the MCP Inspector CLI, node's fetch/http for every status code, and raw sockets for what no client sends.
//
// The WebSocket tests need a global WebSocket (Node >= 22, or Node 20 with --experimental-websocket,
// which run.sh passes through NODE_OPTIONS).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import http from 'node:http';
import path from 'node:path';
import {
  startServe, createKey, keyCli, httpClient, wsClient, httpRequest, parseSse, textOf, sleep, poll,
  hostPidsMatching, uniqueSleepSeconds, makeDataDir, PROTOCOL_LATEST, REPO, BIN,
} from './helpers.mjs';

const TOOLS = ['execute', 'file_read', 'file_write', 'file_list', 'file_delete',
  'session_create', 'session_list', 'session_info', 'session_destroy'];
const ACCEPT = 'application/json, text/event-stream';
const INIT = { jsonrpc: '2.0', id: 'init', method: 'initialize', params: { protocolVersion: PROTOCOL_LATEST, capabilities: {}, clientInfo: { name: 'mcpbox-raw-http', version: '1.0.0' } } };
const INITIALIZED = { jsonrpc: '2.0', method: 'notifications/initialized' };
const ping = (id) => ({ jsonrpc: '2.0', id, method: 'ping' });
const toolCall = (id, name, args, meta) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args, ...(meta ? { _meta: meta } : {}) } });

function killLeftovers(needle) {
  for (const p of hostPidsMatching(needle)) { try { process.kill(p.pid, 'SIGKILL'); } catch { /* not ours */ } }
}
function assertOk(r, what = '') {
  assert.ok(!r.isError, `${what} unexpectedly failed: ${textOf(r)} ${JSON.stringify(r.structuredContent ?? {}).slice(0, 500)}`);
}
function assertNotFound(r, what) {
  assert.equal(r.isError, true, `${what}: expected isError, got ${JSON.stringify(r).slice(0, 400)}`);
  assert.match(textOf(r), /not found/i, `${what}: ${textOf(r)}`);
}
/** Headers for a raw POST: the key and, when given, the MCP session. */
const hdrs = (key, session, extra = {}) => ({
  'Content-Type': 'application/json', Accept: ACCEPT,
  ...(key ? { Authorization: `Bearer ${key}` } : {}),
  ...(session ? { 'Mcp-Session-Id': session } : {}),
  ...extra,
});
/** initialize + notifications/initialized over raw HTTP; returns the Mcp-Session-Id. */
async function rawSession(srv, key = srv.key) {
  const r = await httpRequest(srv, { headers: hdrs(key), body: INIT });
  assert.equal(r.status, 200, r.text);
  const sid = r.headers['mcp-session-id'];
  assert.match(sid || '', /^[\x21-\x7e]+$/, `Mcp-Session-Id must be visible ASCII: ${sid}`);
  const n = await httpRequest(srv, { headers: hdrs(key, sid), body: INITIALIZED });
  assert.equal(n.status, 202, n.text);
  return sid;
}
/** A JSON-RPC error body, as every non-2xx answer of /mcp carries. */
function assertJsonError(r, status, re) {
  assert.equal(r.status, status, `expected ${status}, got ${r.status}: ${r.text}`);
  assert.match(r.headers['content-type'] || '', /^application\/json/, `content-type of a ${status}`);
  assert.ok(r.json, `${status} body is not JSON: ${r.text}`);
  if (re) assert.match(JSON.stringify(r.json), re);
}
/** The JSON-RPC answer of a POST, whether it came as application/json or as text/event-stream (last event). */
function answerOf(r) {
  if (/^text\/event-stream/.test(r.headers['content-type'] || '')) {
    const msgs = parseSse(r.text).map((e) => JSON.parse(e.data));
    return msgs.filter((m) => 'result' in m || 'error' in m).pop();
  }
  return r.json;
}
/** Prometheus text → {'name{labels}': value}. */
function parseProm(text) {
  const out = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*(?:\{[^}]*\})?)\s+(\S+)$/.exec(line);
    assert.ok(m, `not a Prometheus sample line: ${JSON.stringify(line)}`);
    out[m[1]] = Number(m[2]);
  }
  return out;
}
async function metrics(srv, key = srv.key) {
  const r = await httpRequest(srv, { method: 'GET', path: '/metrics', headers: { Authorization: `Bearer ${key}` } });
  assert.equal(r.status, 200, r.text);
  return { text: r.text, m: parseProm(r.text), headers: r.headers };
}

/** A raw WebSocket with a message queue: {ws, next(pred, ms), send(obj), closed (promise of {code, reason})}. */
async function openWs(url, protocols) {
  const ws = protocols === undefined ? new WebSocket(url) : new WebSocket(url, protocols);
  const queue = [];
  const waiters = [];
  let closeInfo = null;
  const closed = new Promise((resolve) => {
    ws.onclose = (e) => { closeInfo = { code: e.code, reason: e.reason }; resolve(closeInfo); for (const w of [...waiters]) w(); };
  });
  ws.onmessage = (e) => { queue.push(JSON.parse(e.data)); for (const w of [...waiters]) w(); };
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error(`WebSocket to ${url.replace(/api_key=[^&]+/, 'api_key=…')} failed to open`));
  });
  ws.onerror = () => {};
  return {
    ws,
    closed,
    send: (obj) => ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj)),
    next(pred, ms = 10000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const i = queue.findIndex(pred);
          if (i >= 0) { done(); resolve(queue.splice(i, 1)[0]); return; }
          if (closeInfo) { done(); reject(new Error(`socket closed ${JSON.stringify(closeInfo)} while waiting`)); }
        };
        const timer = setTimeout(() => { done(); reject(new Error(`no matching WebSocket message within ${ms} ms`)); }, ms);
        const done = () => { clearTimeout(timer); const j = waiters.indexOf(check); if (j >= 0) waiters.splice(j, 1); };
        waiters.push(check);
        check();
      });
    },
  };
}
const byId = (id) => (m) => !Array.isArray(m) && m.id === id && ('result' in m || 'error' in m);

// ---------------------------------------------------------------------------------------------
// One server shared by most tests (each test makes its own MCP sessions)

let srv;
let slowSrv;   // the slow-client test's own server, kept until the end of the file
let stalled;   // its stalled connections
before(async () => { srv = await startServe(); });
after(async () => { await srv?.close(); await slowSrv?.close(); });

describe('serve: start-up banner, keys, shutdown', () => {
  test('banner: real port for :0, the admin key shown once on its own line', () => {
    assert.match(srv.stdout, /^mcpbox \S+ serving MCP at http:\/\/127\.0\.0\.1:\d+\/mcp/m, srv.stdout);
    assert.ok(srv.port > 0 && srv.port < 65536, `port ${srv.port}`);
    assert.match(srv.key || '', /^mcpbox_[A-Za-z0-9_-]{20,}$/, `admin key: ${srv.stdout}`);
    assert.equal(srv.stdout.split(srv.key).length, 2, 'the key is printed exactly once');
    const l = keyCli(srv.dataDir, 'list');
    assert.equal(l.status, 0, l.stderr);
    assert.match(l.stdout, /key_[0-9a-f]{12}/);
    assert.ok(!l.stdout.includes(srv.key), 'key list must not show the secret');
  });

  test('--auth none is refused on 0.0.0.0 (exit 2) and works without a key on 127.0.0.1', async () => {
    const dir = makeDataDir();
    try {
      const r = await new Promise((resolve) => {
        const c = spawn(BIN, ['serve', '--data', dir, '--listen', '0.0.0.0:0', '--auth', 'none'], { stdio: ['ignore', 'pipe', 'pipe'] });
        let err = '';
        c.stderr.on('data', (d) => { err += d; });
        const t = setTimeout(() => c.kill('SIGKILL'), 5000);
        // 'close', not 'exit': only then has all of stderr been read
        c.on('close', (code, signal) => { clearTimeout(t); resolve({ code, signal, err }); });
      });
      assert.equal(r.code, 2, `exit ${JSON.stringify(r)}`);
      assert.ok(r.err.length > 0, 'a refusal should say why on stderr');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const open = await startServe({ auth: 'none' });
    try {
      assert.equal(open.key, null, 'no key is created or shown with --auth none');
      const c = await httpClient(open, { key: null });
      const r = await c.call('execute', { language: 'python', code: 'print(6*7)' });
      assertOk(r);
      assert.equal(r.structuredContent.stdout, '42\n');
      await c.close();
      const m = await httpRequest(open, { method: 'GET', path: '/metrics' });
      assert.equal(m.status, 200, m.text);
    } finally {
      await open.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('serve: a slow client does not block others', () => {
  // The stalled connections are closed by the server's idle timeout (~30 s); rather than waiting for it
  // here, this runs early and the last test of this file checks that they were closed.
  test('headers and half a body, then nothing: other clients are answered at once', async () => {
    slowSrv = await startServe();
    const sid = await rawSession(slowSrv);
    const body = JSON.stringify(ping('never-finished'));
    const open = () => new Promise((resolve, reject) => {
      const s = net.connect(slowSrv.port, '127.0.0.1');
      const info = { t0: Date.now(), closedAt: null, data: '' };
      info.closed = new Promise((res) => s.on('close', () => { info.closedAt = Date.now(); res(); }));
      s.on('data', (d) => { info.data += d; });
      s.on('error', () => {});
      s.on('connect', () => {
        s.write(`POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${slowSrv.port}\r\nAuthorization: Bearer ${slowSrv.key}\r\nMcp-Session-Id: ${sid}\r\n` +
          `Content-Type: application/json\r\nAccept: ${ACCEPT}\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, body.length >> 1)}`);
        resolve(info);
      });
      s.on('error', reject);
    });
    stalled = [await open(), await open(), await open()];
    await sleep(200);
    const c = await httpClient(slowSrv);
    const w = await wsClient(slowSrv);
    try {
      const times = [];
      for (let i = 0; i < 20; i++) {
        let t0 = Date.now();
        await c.client.ping();
        times.push(Date.now() - t0);
        t0 = Date.now();
        await w.client.ping();
        times.push(Date.now() - t0);
      }
      const t0 = Date.now();
      const r = await c.call('execute', { language: 'shell', code: 'echo unblocked' });
      times.push(Date.now() - t0);
      assert.equal(r.structuredContent.stdout, 'unblocked\n');
      assert.ok(Math.max(...times) < 500, `slowest call behind stalled clients: ${Math.max(...times)} ms (${times})`);
      assert.ok(stalled.every((x) => x.closedAt === null), 'stalled connections are not closed at once (they may still finish)');
      // the session the stalled requests name is still usable
      assert.equal((await httpRequest(slowSrv, { headers: hdrs(slowSrv.key, sid), body: ping('ok') })).status, 200);
    } finally {
      await c.close();
      await w.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('serve: Streamable HTTP with the SDK client', () => {
  let c;
  before(async () => { c = await httpClient(srv); });
  after(async () => { await c?.close(); });

  test('the session id is minted and every tool works', async () => {
    assert.match(c.transport.sessionId || '', /^[\x21-\x7e]+$/, 'the SDK must have the Mcp-Session-Id');
    const tools = (await c.client.listTools()).tools.map((t) => t.name);
    for (const n of TOOLS) assert.ok(tools.includes(n), `missing ${n} in ${tools}`);
    await c.client.ping();

    let r = await c.call('execute', { language: 'python', code: 'print(1+1)' });
    assertOk(r, 'python');
    assert.equal(r.structuredContent.stdout, '2\n');
    r = await c.call('execute', { language: 'javascript', code: 'console.log(6*7)' });
    assert.equal(r.structuredContent.stdout, '42\n');
    r = await c.call('execute', { language: 'shell', code: 'echo "$X"; exit 3', env: { X: 'env ok' } });
    assert.equal(r.isError, true);
    assert.equal(r.structuredContent.exit_code, 3);
    assert.equal(r.structuredContent.stdout, 'env ok\n');

    assertOk(await c.call('file_write', { path: 'd/hello.txt', content: 'hello over http' }), 'file_write');
    r = await c.call('file_read', { path: 'd/hello.txt' });
    assertOk(r, 'file_read');
    assert.equal(r.structuredContent.content, 'hello over http');
    r = await c.call('file_list', { path: 'd' });
    assertOk(r, 'file_list');
    assert.deepEqual(r.structuredContent.entries.map((e) => e.name), ['hello.txt']);
    r = await c.call('execute', { language: 'shell', code: 'cat d/hello.txt' });
    assert.equal(r.structuredContent.stdout, 'hello over http');
    r = await c.call('file_delete', { path: 'd/hello.txt' });
    assertOk(r, 'file_delete');
    assert.equal(r.structuredContent.deleted, true);

    r = await c.call('session_create', { name: 'http-explicit', labels: { via: 'http' } });
    assertOk(r, 'session_create');
    const sid = r.structuredContent.session_id;
    r = await c.call('execute', { language: 'shell', code: 'echo in-explicit > f; cat f', session_id: sid });
    assert.equal(r.structuredContent.stdout, 'in-explicit\n');
    r = await c.call('session_info', { session_id: sid });
    assertOk(r, 'session_info');
    assert.equal(r.structuredContent.name, 'http-explicit');
    assert.ok(r.structuredContent.usage.executions >= 1);
    r = await c.call('session_list', {});
    assertOk(r, 'session_list');
    assert.ok(r.structuredContent.sessions.some((s) => s.session_id === sid));
    assert.ok(r.structuredContent.sessions.some((s) => s.implicit === true), 'the implicit session is listed');
    r = await c.call('session_destroy', { session_id: sid });
    assertOk(r, 'session_destroy');
    assertNotFound(await c.call('session_info', { session_id: sid }), 'session_info after destroy');
  });

  test('progress notifications (onprogress) arrive about every second during execute', async () => {
    const seen = [];
    const t0 = Date.now();
    const r = await c.call('execute', { language: 'shell', code: 'sleep 2.6; echo done' }, {
      onprogress: (p) => seen.push({ ...p, at: Date.now() - t0 }),
    });
    assertOk(r);
    assert.equal(r.structuredContent.stdout, 'done\n');
    assert.ok(seen.length >= 2, `expected >= 2 progress notifications in 2.6 s, got ${JSON.stringify(seen)}`);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i].progress > seen[i - 1].progress, `progress must increase: ${JSON.stringify(seen)}`);
    assert.ok(seen[0].at >= 500 && seen[0].at < 2000, `first progress at ${seen[0].at} ms`);
  });

  test('cancellation with an AbortSignal kills the sandboxed process', async () => {
    const secs = uniqueSleepSeconds(30);
    const ac = new AbortController();
    try {
      const long = c.call('execute', { language: 'shell', code: `sleep ${secs}` }, { signal: ac.signal }).then((x) => ({ r: x }), (e) => ({ e }));
      assert.ok(await poll(() => hostPidsMatching(`sleep ${secs}`).length > 0, { timeout: 5000 }), 'sleep never started');
      ac.abort('test cancels');
      const outcome = await long;
      assert.ok(outcome.e, 'the aborted call must reject on the client side');
      const gone = await poll(() => hostPidsMatching(`sleep ${secs}`).length === 0, { timeout: 1000, interval: 10 });
      assert.ok(gone, `still running 1 s after cancel: ${JSON.stringify(hostPidsMatching(`sleep ${secs}`))}`);
      await c.client.ping();
      const r = await c.call('execute', { language: 'shell', code: 'echo alive' });
      assert.equal(r.structuredContent.stdout, 'alive\n');
    } finally {
      ac.abort();
      killLeftovers(`sleep ${secs}`);
    }
  });

  test('requests on one MCP session run concurrently (a sleep 3 does not delay a ping)', async () => {
    const long = c.call('execute', { language: 'shell', code: 'sleep 3; echo slept' });
    await sleep(300);
    const t0 = Date.now();
    await c.client.ping();
    await c.client.listTools();
    const ms = Date.now() - t0;
    // serialized they would wait out the sleep (2.7 s); on a loaded machine they take up to ~0.6 s anyway
    assert.ok(ms < 1500, `ping + tools/list took ${ms} ms behind a running sleep 3`);
    assert.equal((await long).structuredContent.stdout, 'slept\n');
  });

  test('terminateSession (DELETE) ends the MCP session and its implicit sandbox', async () => {
    const d = await httpClient(srv);
    const info = await d.call('session_info', {});
    const implicitId = info.structuredContent.session_id;
    assert.equal(info.structuredContent.implicit, true);
    const old = d.transport.sessionId;
    await d.transport.terminateSession();
    assert.equal(d.transport.sessionId, undefined);
    await d.close();
    const r = await httpRequest(srv, { headers: hdrs(srv.key, old), body: ping(1) });
    assertJsonError(r, 404);
    // the implicit sandbox went with it: the same key no longer sees it
    const l = await c.call('session_list', {});
    assert.ok(!l.structuredContent.sessions.some((s) => s.session_id === implicitId), `implicit session ${implicitId} still listed`);
    assertNotFound(await c.call('session_info', { session_id: implicitId }), 'the ended connection\'s implicit session');
  });
});

// ---------------------------------------------------------------------------------------------

describe('serve: WebSocket with the SDK client', () => {
  let w;
  before(async () => { w = await wsClient(srv); });
  after(async () => { await w?.close(); });

  test('tools/list, ping and execute (key in ?api_key=)', async () => {
    const tools = (await w.client.listTools()).tools.map((t) => t.name);
    for (const n of TOOLS) assert.ok(tools.includes(n), `missing ${n}`);
    await w.client.ping();
    const r = await w.call('execute', { language: 'python', code: 'import os; print(os.getcwd())' });
    assertOk(r);
    assert.equal(r.structuredContent.stdout, '/workspace\n');
    assertOk(await w.call('file_write', { path: 'ws.txt', content: 'via ws' }));
    assert.equal((await w.call('file_read', { path: 'ws.txt' })).structuredContent.content, 'via ws');
  });

  test('progress over WebSocket', async () => {
    const seen = [];
    const r = await w.call('execute', { language: 'shell', code: 'sleep 2.3; echo ok' }, { onprogress: (p) => seen.push(p) });
    assert.equal(r.structuredContent.stdout, 'ok\n');
    assert.ok(seen.length >= 1, `no progress notifications: ${JSON.stringify(seen)}`);
  });

  test('a sleep 3 does not delay a ping on the same socket', async () => {
    const long = w.call('execute', { language: 'shell', code: 'sleep 3; echo slept' });
    await sleep(300);
    const t0 = Date.now();
    await w.client.ping();
    const pingMs = Date.now() - t0;
    const r = await w.call('execute', { language: 'shell', code: 'echo quick' });
    const quickMs = Date.now() - t0;
    assert.ok(pingMs < 300, `ping took ${pingMs} ms behind sleep 3`);
    assert.ok(quickMs < 1000, `ping + short execute took ${quickMs} ms`);
    assert.equal(r.structuredContent.stdout, 'quick\n');
    assert.equal((await long).structuredContent.stdout, 'slept\n');
  });

  test('cancellation over WebSocket kills the process', async () => {
    const secs = uniqueSleepSeconds(30);
    const ac = new AbortController();
    try {
      const long = w.call('execute', { language: 'shell', code: `sleep ${secs}` }, { signal: ac.signal }).catch((e) => e);
      assert.ok(await poll(() => hostPidsMatching(`sleep ${secs}`).length > 0, { timeout: 5000 }), 'sleep never started');
      ac.abort('test');
      await long;
      assert.ok(await poll(() => hostPidsMatching(`sleep ${secs}`).length === 0, { timeout: 1000, interval: 10 }), 'sleep survived the cancel');
      await w.client.ping();
    } finally {
      ac.abort();
      killLeftovers(`sleep ${secs}`);
    }
  });

  test('raw socket: subprotocol "mcp" is echoed, a batch gets one array, notifications get nothing', async () => {
    const s = await openWs(srv.wsUrl(), 'mcp');
    try {
      assert.equal(s.ws.protocol, 'mcp');
      s.send(INIT);
      const init = await s.next(byId('init'));
      assert.equal(init.result.protocolVersion, PROTOCOL_LATEST);
      s.send(INITIALIZED);
      s.send([ping('b1'), { jsonrpc: '2.0', method: 'notifications/whatever' }, { jsonrpc: '2.0', id: 'b2', method: 'tools/list' },
        toolCall('b3', 'execute', { language: 'shell', code: 'echo batch' })]);
      const arr = await s.next((m) => Array.isArray(m));
      assert.deepEqual(arr.map((x) => x.id).sort(), ['b1', 'b2', 'b3']);
      const b3 = arr.find((x) => x.id === 'b3');
      assert.equal(b3.result.structuredContent.stdout, 'batch\n');
      // parse error: answered, the socket stays open
      s.send('{"jsonrpc": "2.0", "id": 1, "method": ');
      const pe = await s.next((m) => !Array.isArray(m) && m.error?.code === -32700);
      assert.equal(pe.id, null);
      s.send(ping('after'));
      await s.next(byId('after'));
    } finally {
      s.ws.close();
    }
  });

  test('raw socket without a subprotocol works; without a key the upgrade is refused', async () => {
    const s = await openWs(srv.wsUrl());
    try {
      assert.equal(s.ws.protocol, '');
      s.send(INIT);
      await s.next(byId('init'));
    } finally {
      s.ws.close();
    }
    await assert.rejects(openWs(srv.wsUrl(null), 'mcp'), /failed to open/);
    await assert.rejects(openWs(srv.wsUrl('mcpbox_wrong'), 'mcp'), /failed to open/);
  });

  // Clients report a dropped upgrade as ECONNRESET / "non-101 status": it gets a real HTTP answer.
  test('an upgrade without a key, with a wrong one or to an unknown path is answered 401/404 with the JSON error body', async () => {
    const upgrade = (p, headers = {}) => new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: srv.port, path: p, agent: false, headers: {
        Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Protocol': 'mcp', ...headers } });
      req.on('upgrade', (res, sock) => { sock.destroy(); reject(new Error(`upgraded: ${res.statusCode}`)); });
      req.on('response', (res) => {
        let body = '';
        res.on('data', (c) => { body += c; });
        res.on('end', () => resolve({ status: res.statusCode, type: res.headers['content-type'], json: JSON.parse(body) }));
      });
      req.on('error', reject);
      req.end();
    });
    const none = await upgrade('/mcp');
    assert.equal(none.status, 401);
    assert.equal(none.type, 'application/json');
    assert.equal(none.json.error.code, -32600);
    assert.match(none.json.error.message, /Authorization: Bearer KEY/, 'says how to pass a key');
    const wrong = await upgrade('/mcp', { Authorization: 'Bearer mcpbox_wrong' });
    assert.equal(wrong.status, 401);
    assert.match(wrong.json.error.message, /unknown or revoked/);
    assert.equal((await upgrade('/elsewhere', { Authorization: `Bearer ${srv.key}` })).status, 404);
  });
});

// ---------------------------------------------------------------------------------------------

describe('serve: Streamable HTTP on the wire', () => {
  test('initialize: JSON answer, Mcp-Session-Id; notifications → 202; a batch → one array', async () => {
    const r = await httpRequest(srv, { headers: hdrs(srv.key), body: INIT });
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'], /^application\/json/);
    assert.equal(r.json.id, 'init');
    assert.equal(r.json.result.protocolVersion, PROTOCOL_LATEST);
    const sid = r.headers['mcp-session-id'];
    assert.ok(sid);
    const n = await httpRequest(srv, { headers: hdrs(srv.key, sid), body: INITIALIZED });
    assert.equal(n.status, 202);
    assert.equal(n.text, '');
    const n2 = await httpRequest(srv, { headers: hdrs(srv.key, sid), body: [{ jsonrpc: '2.0', method: 'notifications/a' }, { jsonrpc: '2.0', method: 'notifications/b' }] });
    assert.equal(n2.status, 202, 'a batch of notifications only → 202');
    const p = await httpRequest(srv, { headers: hdrs(srv.key, sid), body: ping(7) });
    assert.equal(p.status, 200);
    assert.deepEqual(p.json, { jsonrpc: '2.0', id: 7, result: {} });
    const b = await httpRequest(srv, { headers: hdrs(srv.key, sid), body: [ping(1), { jsonrpc: '2.0', method: 'notifications/x' }, { jsonrpc: '2.0', id: 2, method: 'tools/list' }] });
    assert.equal(b.status, 200);
    assert.ok(Array.isArray(b.json), b.text.slice(0, 200));
    assert.deepEqual(b.json.map((x) => x.id).sort(), [1, 2]);
    // a second initialize mints another session
    const r2 = await httpRequest(srv, { headers: hdrs(srv.key), body: INIT });
    assert.notEqual(r2.headers['mcp-session-id'], sid);
  });

  test('execute with a progressToken answers text/event-stream: progress events, then the result', async () => {
    const sid = await rawSession(srv);
    const r = await httpRequest(srv, { headers: hdrs(srv.key, sid), body: toolCall(9, 'execute', { language: 'shell', code: 'sleep 2.4; echo sse' }, { progressToken: 'p1' }) });
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'], /^text\/event-stream/);
    const msgs = parseSse(r.text).map((e) => JSON.parse(e.data));
    const progress = msgs.filter((m) => m.method === 'notifications/progress');
    assert.ok(progress.length >= 2, `progress events: ${r.text.slice(0, 1000)}`);
    for (const p of progress) assert.equal(p.params.progressToken, 'p1');
    const last = msgs[msgs.length - 1];
    assert.equal(last.id, 9, 'the result comes last');
    assert.equal(last.result.structuredContent.stdout, 'sse\n');
    // the same call without a progress token (and nothing to log) answers plain JSON
    const j = await httpRequest(srv, { headers: hdrs(srv.key, sid), body: toolCall(10, 'execute', { language: 'shell', code: 'echo json' }) });
    assert.match(j.headers['content-type'], /^application\/json/);
    assert.equal(j.json.result.structuredContent.stdout, 'json\n');
  });

  test('session header: missing → 400, unknown → 404, DELETE → then 404', async () => {
    assertJsonError(await httpRequest(srv, { headers: hdrs(srv.key), body: ping(1) }), 400, /Mcp-Session-Id/i);
    assertJsonError(await httpRequest(srv, { headers: hdrs(srv.key, 'no-such-session-0123456789abcdef'), body: ping(1) }), 404);
    const sid = await rawSession(srv);
    assert.equal((await httpRequest(srv, { headers: hdrs(srv.key, sid), body: ping(1) })).status, 200);
    const d = await httpRequest(srv, { method: 'DELETE', headers: hdrs(srv.key, sid) });
    assert.ok(d.status === 200 || d.status === 204, `DELETE → ${d.status}`);
    assertJsonError(await httpRequest(srv, { headers: hdrs(srv.key, sid), body: ping(2) }), 404);
    assert.equal((await httpRequest(srv, { method: 'DELETE', headers: hdrs(srv.key, sid) })).status, 404);
    assert.equal((await httpRequest(srv, { method: 'DELETE', headers: hdrs(srv.key) })).status, 400);
  });

  test('GET /mcp with the session opens an SSE stream (200 text/event-stream)', async () => {
    const sid = await rawSession(srv);
    const ac = new AbortController();
    const r = await fetch(srv.url, { headers: { Authorization: `Bearer ${srv.key}`, Accept: 'text/event-stream', 'Mcp-Session-Id': sid }, signal: ac.signal });
    try {
      assert.equal(r.status, 200);
      assert.match(r.headers.get('content-type'), /^text\/event-stream/);
      // the stream stays open: the session keeps working meanwhile
      const p = await httpRequest(srv, { headers: hdrs(srv.key, sid), body: ping('while-sse') });
      assert.equal(p.status, 200);
    } finally {
      ac.abort();
      await r.body?.cancel().catch(() => {});
    }
    const noSid = await httpRequest(srv, { method: 'GET', headers: { Authorization: `Bearer ${srv.key}`, Accept: 'text/event-stream' } });
    assert.equal(noSid.status, 400);
    const unknown = await httpRequest(srv, { method: 'GET', headers: { Authorization: `Bearer ${srv.key}`, Accept: 'text/event-stream', 'Mcp-Session-Id': 'nope-nope' } });
    assert.equal(unknown.status, 404);
  });

  test('a client that drops its GET SSE stream does not leave the server spinning (server bug today: ~100 % CPU for ~15 s)', async () => {
    // Own server: the shared one must not be measured while other tests use it.
    const s = await startServe();
    const cpuTicks = () => {
      const st = fs.readFileSync(`/proc/${s.pid}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      return Number(f[11]) + Number(f[12]); // utime + stime, 1/100 s
    };
    try {
      // the SDK client opens GET /mcp after initialized; close() aborts it without a DELETE
      const c = await httpClient(s);
      await c.client.ping();
      await sleep(200);
      await c.close();
      await sleep(300);
      const a = cpuTicks();
      await sleep(1500);
      const used = cpuTicks() - a;
      assert.ok(used < 15, `idle server used ${used * 10} ms of CPU in 1.5 s after a client dropped its SSE stream (busy loop)`);
    } finally {
      await s.close();
    }
  });

  test('401 without a key, with a wrong key, with ?api_key= (only WebSocket upgrades and view pages take it); Bearer and X-API-Key work', async () => {
    const sid = await rawSession(srv);
    assertJsonError(await httpRequest(srv, { headers: hdrs(null, sid), body: ping(1) }), 401);
    assertJsonError(await httpRequest(srv, { headers: hdrs('mcpbox_wrongwrongwrongwrongwrongwrongwrongwrong1', sid), body: ping(1) }), 401);
    assertJsonError(await httpRequest(srv, { headers: hdrs(null, sid, { Authorization: 'Basic Zm9vOmJhcg==' }), body: ping(1) }), 401);
    assertJsonError(await httpRequest(srv, { headers: hdrs(null, null), body: INIT }), 401);
    assert.equal((await httpRequest(srv, { headers: hdrs(null, sid, { 'X-API-Key': srv.key }), body: ping(2) })).status, 200);
    // a key in a URL ends up in proxy logs and shell histories: plain HTTP requests must send it in a header
    assertJsonError(await httpRequest(srv, { path: `/mcp?api_key=${encodeURIComponent(srv.key)}`, headers: hdrs(null, sid), body: ping(3) }), 401);
    assertJsonError(await httpRequest(srv, { method: 'GET', path: `/metrics?api_key=${encodeURIComponent(srv.key)}` }), 401);
    assert.equal((await httpRequest(srv, { headers: hdrs(null, sid, { Authorization: `bearer ${srv.key}` }), body: ping(4) })).status, 200, 'the scheme is case-insensitive');
  });

  test('406 (Accept), 415 (Content-Type), 411 (no Content-Length), 400 (MCP-Protocol-Version)', async () => {
    const sid = await rawSession(srv);
    assertJsonError(await httpRequest(srv, { headers: hdrs(srv.key, sid, { Accept: 'application/json' }), body: ping(1) }), 406);
    assertJsonError(await httpRequest(srv, { headers: hdrs(srv.key, sid, { Accept: 'text/event-stream' }), body: ping(1) }), 406);
    assertJsonError(await httpRequest(srv, { headers: hdrs(srv.key, sid, { Accept: undefined }), body: ping(1) }), 406);
    assertJsonError(await httpRequest(srv, { headers: hdrs(srv.key, sid, { 'Content-Type': 'text/plain' }), body: ping(1) }), 415);
    assertJsonError(await httpRequest(srv, { headers: hdrs(srv.key, sid, { 'Content-Type': undefined }), body: ping(1) }), 415);
    assert.equal((await httpRequest(srv, { headers: hdrs(srv.key, sid, { 'Content-Type': 'application/json; charset=utf-8' }), body: ping(1) })).status, 200);
    assertJsonError(await httpRequest(srv, { headers: hdrs(srv.key, sid), body: ping(1), chunked: true }), 411);
    assertJsonError(await httpRequest(srv, { headers: hdrs(srv.key, sid, { 'MCP-Protocol-Version': '1999-01-01' }), body: ping(1) }), 400, /Protocol-Version/i);
    assert.equal((await httpRequest(srv, { headers: hdrs(srv.key, sid, { 'MCP-Protocol-Version': PROTOCOL_LATEST }), body: ping(1) })).status, 200);
    // the session still works after all that
    assert.equal((await httpRequest(srv, { headers: hdrs(srv.key, sid), body: ping(2) })).status, 200);
  });

  test('413 over the default 64 MiB cap (decided from Content-Length, before the body)', async () => {
    const sid = await rawSession(srv);
    const res = await new Promise((resolve, reject) => {
      const s = net.connect(srv.port, '127.0.0.1');
      let got = '';
      s.on('connect', () => s.write(`POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${srv.port}\r\nAuthorization: Bearer ${srv.key}\r\n` +
        `Mcp-Session-Id: ${sid}\r\nContent-Type: application/json\r\nAccept: ${ACCEPT}\r\nContent-Length: ${64 * 1024 * 1024 + 1}\r\n\r\n[`));
      s.on('data', (d) => { got += d; if (/\r\n\r\n/.test(got)) { s.destroy(); resolve(got); } });
      s.on('error', reject);
      s.setTimeout(5000, () => { s.destroy(); reject(new Error(`no answer to an oversized Content-Length: ${JSON.stringify(got)}`)); });
    });
    assert.match(res, /^HTTP\/1\.1 413 /, res);
  });

  test('Origin: a foreign one → 403, a loopback one is allowed and echoed; foreign Host → 403', async () => {
    const sid = await rawSession(srv);
    for (const origin of ['https://evil.example', 'null', 'http://127.0.0.1.evil.example', `http://localhost.evil.example:${srv.port}`]) {
      assertJsonError(await httpRequest(srv, { headers: hdrs(srv.key, sid, { Origin: origin }), body: ping(1) }), 403);
    }
    for (const origin of [`http://127.0.0.1:${srv.port}`, 'http://localhost:6274', `http://[::1]:${srv.port}`]) {
      const r = await httpRequest(srv, { headers: hdrs(srv.key, sid, { Origin: origin }), body: ping(2) });
      assert.equal(r.status, 200, `${origin}: ${r.status} ${r.text}`);
      assert.equal(r.headers['access-control-allow-origin'], origin);
      assert.match(r.headers['access-control-expose-headers'] || '', /Mcp-Session-Id/i);
    }
    for (const host of ['evil.example', `evil.example:${srv.port}`, `127.0.0.1.nip.io:${srv.port}`]) {
      assertJsonError(await httpRequest(srv, { headers: hdrs(srv.key, sid, { Host: host }), body: ping(3) }), 403);
    }
    for (const host of [`localhost:${srv.port}`, `127.0.0.1:${srv.port}`]) {
      assert.equal((await httpRequest(srv, { headers: hdrs(srv.key, sid, { Host: host }), body: ping(4) })).status, 200, host);
    }
    // DNS rebinding applies to /healthz too only via Host; foreign origins never get CORS headers
    const evil = await httpRequest(srv, { headers: hdrs(srv.key, sid, { Origin: 'https://evil.example' }), body: ping(5) });
    assert.equal(evil.headers['access-control-allow-origin'], undefined);
  });

  test('CORS preflight: OPTIONS from a loopback origin → 204 with CORS headers; foreign → 403', async () => {
    const origin = 'http://localhost:6274';
    const r = await httpRequest(srv, { method: 'OPTIONS', headers: { Origin: origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization, content-type, mcp-session-id, mcp-protocol-version' } });
    assert.equal(r.status, 204, r.text);
    assert.equal(r.headers['access-control-allow-origin'], origin);
    assert.match(r.headers['access-control-expose-headers'] || '', /Mcp-Session-Id/i);
    const allowH = (r.headers['access-control-allow-headers'] || '').toLowerCase();
    for (const h of ['authorization', 'content-type', 'mcp-session-id']) assert.ok(allowH.includes(h), `allow-headers lacks ${h}: ${allowH}`);
    const allowM = (r.headers['access-control-allow-methods'] || '').toUpperCase();
    for (const m of ['POST', 'GET', 'DELETE']) assert.ok(allowM.includes(m), `allow-methods lacks ${m}: ${allowM}`);
    const bad = await httpRequest(srv, { method: 'OPTIONS', headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'POST' } });
    assert.equal(bad.status, 403);
  });

  test('OAuth discovery and registration answer 404 without a key (mcpbox does no OAuth); the 401 of /mcp says how to pass a key', async () => {
    for (const p of ['/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/mcp',
      '/.well-known/oauth-authorization-server', '/.well-known/openid-configuration', '/register', '/authorize', '/token']) {
      for (const method of ['GET', 'POST']) {
        const r = await httpRequest(srv, { method, path: p, headers: { 'Content-Type': 'application/json' }, body: method === 'POST' ? '{}' : undefined });
        assert.equal(r.status, 404, `${method} ${p}`);
      }
    }
    const r = await httpRequest(srv, { headers: hdrs(null, null), body: INIT });
    assert.equal(r.status, 401);
    assert.match(r.json.error.message, /"Authorization: Bearer KEY" or "X-API-Key: KEY"/);
    // the command that makes a key names the data directory (without it a key lands in another one), not the path itself
    assert.match(r.json.error.message, /mcpbox key create --name NAME --data DIR/);
    assert.ok(!r.json.error.message.includes(srv.dataDir), 'the data directory is not told to a client without a key');
  });

  test('/healthz needs no key; /metrics needs one; unknown paths 404; other methods 405', async () => {
    const h = await httpRequest(srv, { method: 'GET', path: '/healthz' });
    assert.equal(h.status, 200);
    assert.deepEqual(h.json, { status: 'ok' });
    assertJsonError(await httpRequest(srv, { method: 'GET', path: '/metrics' }), 401);
    assert.equal((await httpRequest(srv, { method: 'GET', path: '/metrics', headers: { 'X-API-Key': srv.key } })).status, 200);
    assert.equal((await httpRequest(srv, { method: 'GET', path: '/nope', headers: { Authorization: `Bearer ${srv.key}` } })).status, 404);
    const sid = await rawSession(srv);
    assert.equal((await httpRequest(srv, { method: 'PUT', headers: hdrs(srv.key, sid), body: '{}' })).status, 405);
    assert.equal((await httpRequest(srv, { method: 'PUT', headers: hdrs(srv.key), body: '{}' })).status, 405, 'PUT without a session is 405 too');
  });

  test('/metrics: sessions, connections by transport, executions, duration histogram, tool calls', async () => {
    const before0 = (await metrics(srv)).m;
    const okKey = 'mcpbox_executions_total{language="shell",outcome="ok"}';
    const w = await wsClient(srv);
    try {
      await w.call('execute', { language: 'shell', code: 'true' });
      await w.call('execute', { language: 'shell', code: 'true' });
      const { m, text, headers } = await metrics(srv);
      assert.match(headers['content-type'], /^text\/plain/);
      for (const name of ['mcpbox_sessions', 'mcpbox_connections', 'mcpbox_executions_total', 'mcpbox_execution_duration_seconds', 'mcpbox_tool_calls_total']) {
        assert.match(text, new RegExp(`^# TYPE ${name} (gauge|counter|histogram)$`, 'm'), `no # TYPE for ${name}`);
      }
      assert.ok(m['mcpbox_sessions{state="running"}'] >= 1, text);
      assert.ok(m['mcpbox_connections{transport="websocket"}'] >= 1, 'the open WebSocket is counted');
      assert.ok('mcpbox_connections{transport="http"}' in m);
      assert.equal(m[okKey] - (before0[okKey] || 0), 2, `${okKey}: ${before0[okKey]} → ${m[okKey]}`);
      assert.ok(m['mcpbox_tool_calls_total{tool="execute"}'] >= 2);
      // histogram: cumulative buckets, +Inf == _count
      const buckets = Object.entries(m).filter(([k]) => k.startsWith('mcpbox_execution_duration_seconds_bucket{language="shell"'));
      assert.ok(buckets.length >= 3, 'shell duration buckets');
      const vals = buckets.map(([, v]) => v);
      for (let i = 1; i < vals.length; i++) assert.ok(vals[i] >= vals[i - 1], `buckets must be cumulative: ${vals}`);
      assert.equal(m['mcpbox_execution_duration_seconds_bucket{language="shell",le="+Inf"}'], m['mcpbox_execution_duration_seconds_count{language="shell"}']);
      assert.ok(m['mcpbox_execution_duration_seconds_sum{language="shell"}'] >= 0);
    } finally {
      await w.close();
    }
    // the closed WebSocket is no longer counted
    const gone = await poll(async () => (await metrics(srv)).m['mcpbox_connections{transport="websocket"}'] === 0, { timeout: 2000, interval: 50 });
    assert.ok(gone, 'websocket connection gauge did not drop back to 0');
  });

  test('/metrics: background jobs count in mcpbox_executions_total once each, when they end, by how they ended', async () => {
    const key = (o) => `mcpbox_executions_total{language="shell",outcome="${o}"}`;
    const delta = (a, b, o) => (b[key(o)] || 0) - (a[key(o)] || 0);
    const w = await wsClient(srv);
    try {
      const sid = (await w.call('session_create', {})).structuredContent.session_id;
      const m0 = (await metrics(srv)).m;
      const slow = (await w.call('execute', { session_id: sid, language: 'shell', background: true, code: 'sleep 1; exit 3' })).structuredContent;
      assert.ok(slow.job_id, JSON.stringify(slow));
      const long = (await w.call('execute', { session_id: sid, language: 'shell', background: true, code: 'sleep 60' })).structuredContent;
      const m1 = (await metrics(srv)).m;
      assert.equal(delta(m0, m1, 'error') + delta(m0, m1, 'cancelled'), 0, 'nothing counted while the jobs run');
      const end = await w.call('job_wait', { job_id: slow.job_id, timeout_s: 20 });
      assert.equal(end.structuredContent.exit_code, 3, JSON.stringify(end.structuredContent));
      await w.call('job_cancel', { job_id: long.job_id });
      assert.ok(await poll(async () => (await w.call('job_status', { job_id: long.job_id })).structuredContent.state === 'cancelled',
        { timeout: 5000, interval: 50 }), 'the cancelled job ended');
      const m2 = (await metrics(srv)).m;
      assert.equal(delta(m0, m2, 'error'), 1, 'the job that exited 3 counts once, as an error');
      assert.equal(delta(m0, m2, 'cancelled'), 1, 'the cancelled job counts once, as cancelled');
      // status calls and waits on ended jobs count nothing more
      await w.call('job_status', { job_id: slow.job_id });
      await w.call('job_wait', { job_id: slow.job_id, timeout_s: 1 });
      const m3 = (await metrics(srv)).m;
      assert.equal(delta(m2, m3, 'error') + delta(m2, m3, 'cancelled'), 0);
    } finally {
      await w.close();
    }
  });

  test('/metrics with an ordinary key shows only its own sessions, no server-wide numbers', async () => {
    const { key } = createKey(srv.dataDir, { name: `metrics-${Date.now()}` });
    const admin = await wsClient(srv);	// the first key is an administrator's
    const mine = await wsClient(srv, { key });
    try {
      await admin.call('session_create', {});
      await mine.call('session_create', {});
      const all = (await metrics(srv)).m;
      const own = await metrics(srv, key);
      assert.equal(own.m['mcpbox_sessions{state="running"}'], 1, `only its own session: ${own.text}`);
      assert.ok(all['mcpbox_sessions{state="running"}'] >= 2, 'the administrator sees every session');
      for (const name of ['mcpbox_connections', 'mcpbox_executions_total', 'mcpbox_tool_calls_total', 'mcpbox_execution_duration_seconds'])
        assert.doesNotMatch(own.text, new RegExp(`^${name}`, 'm'), `${name} is server-wide: administrators only`);
    } finally {
      await admin.close();
      await mine.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('serve: principals (API keys) are isolated', () => {
  test('a second key cannot see or use the first key\'s sessions', async () => {
    const b = createKey(srv.dataDir, { name: 'second-principal' });
    assert.match(b.id || '', /^key_[0-9a-f]{12}$/, b.stderr);
    const a = await httpClient(srv);
    const bc = await httpClient(srv, { key: b.key });
    const bw = await wsClient(srv, { key: b.key });
    try {
      const sid = (await a.call('session_create', { name: 'owned-by-a' })).structuredContent.session_id;
      assertOk(await a.call('file_write', { session_id: sid, path: 'secret.txt', content: 'a only' }));
      const aImplicit = (await a.call('session_info', {})).structuredContent.session_id;
      for (const victim of [sid, aImplicit]) {
        for (const cl of [bc, bw]) {
          assertNotFound(await cl.call('session_info', { session_id: victim }), 'session_info');
          assertNotFound(await cl.call('execute', { session_id: victim, language: 'shell', code: 'cat secret.txt' }), 'execute');
          assertNotFound(await cl.call('file_read', { session_id: victim, path: 'secret.txt' }), 'file_read');
          assertNotFound(await cl.call('file_write', { session_id: victim, path: 'x.txt', content: 'x' }), 'file_write');
          assertNotFound(await cl.call('file_list', { session_id: victim }), 'file_list');
          assertNotFound(await cl.call('file_delete', { session_id: victim, path: 'secret.txt' }), 'file_delete');
          assertNotFound(await cl.call('session_destroy', { session_id: victim }), 'session_destroy');
          const l = await cl.call('session_list', {});
          assertOk(l);
          assert.ok(!l.structuredContent.sessions.some((s) => s.session_id === victim), `B lists A's session ${victim}`);
        }
      }
      // still intact for A
      const r = await a.call('file_read', { session_id: sid, path: 'secret.txt' });
      assert.equal(r.structuredContent.content, 'a only');
      // B's MCP session id is not A's: A's Mcp-Session-Id with B's key → 404
      assertJsonError(await httpRequest(srv, { headers: hdrs(b.key, a.transport.sessionId), body: ping(1) }), 404);
      await a.call('session_destroy', { session_id: sid });
    } finally {
      await a.close();
      await bc.close();
      await bw.close();
    }
  });
});

describe('serve: revocation', () => {
  test('key revoke (CLI, other process) → next HTTP request 401, open WebSocket closed 1008 on its next message', async () => {
    const k = createKey(srv.dataDir, { name: 'to-revoke' });
    const sid = await rawSession(srv, k.key);
    const s = await openWs(srv.wsUrl(k.key), 'mcp');
    s.send(INIT);
    await s.next(byId('init'));
    s.send(ping('before'));
    await s.next(byId('before'));
    const list = keyCli(srv.dataDir, 'list');
    assert.ok(list.stdout.includes(k.id), list.stdout);

    const rv = keyCli(srv.dataDir, 'revoke', k.id);
    assert.equal(rv.status, 0, rv.stderr);
    const r = await httpRequest(srv, { headers: hdrs(k.key, sid), body: ping(1) });
    assertJsonError(r, 401);
    assertJsonError(await httpRequest(srv, { headers: hdrs(k.key), body: INIT }), 401);
    const t0 = Date.now();
    s.send(ping('after'));
    const closed = await Promise.race([s.closed, sleep(3000).then(() => null)]);
    assert.ok(closed, 'the WebSocket of a revoked key stayed open after a message');
    assert.equal(closed.code, 1008, `close code ${JSON.stringify(closed)}`);
    assert.ok(Date.now() - t0 < 2000);
    await assert.rejects(openWs(srv.wsUrl(k.key), 'mcp'), /failed to open/);
    // the admin key is unaffected; key list shows the revocation
    assert.equal((await httpRequest(srv, { method: 'GET', path: '/metrics', headers: { Authorization: `Bearer ${srv.key}` } })).status, 200);
    const line = keyCli(srv.dataDir, 'list').stdout.split('\n').find((l) => l.includes(k.id));
    assert.match(line, /\d{4}-\d\d-\d\dT[\d:]+Z\s+\d{4}-\d\d-\d\dT/, `revoked time missing: ${line}`);
    assert.notEqual(keyCli(srv.dataDir, 'revoke', 'key_000000000000').status, 0, 'revoking an unknown id must fail');
  });
});

// ---------------------------------------------------------------------------------------------

describe('serve: shutdown and restart', () => {
  test('SIGTERM drains (503, a short call finishes), a second SIGTERM cancels the rest; exit 0; old session → 404 after restart; the SDK client re-initializes; keys survive', async () => {
    const dataDir = makeDataDir();
    const s1 = await startServe({ dataDir });
    let s2;
    const secs = uniqueSleepSeconds(30);
    try {
      const key = s1.key;
      const c = await httpClient(s1);
      assertOk(await c.call('execute', { language: 'shell', code: 'echo persisted > f' }));
      const oldSid = c.transport.sessionId;
      const w = await wsClient(s1);
      const long = c.call('execute', { language: 'shell', code: `sleep ${secs}` }).then((r) => ({ r }), (e) => ({ e }));
      const short = w.call('execute', { language: 'shell', code: 'sleep 1.5; echo drained' });
      assert.ok(await poll(() => hostPidsMatching(`sleep ${secs}`).length > 0, { timeout: 5000 }), 'sleep never started');

      const t0 = Date.now();
      s1.child.kill('SIGTERM');
      // draining: health says so, new requests are refused with 503, running calls go on
      const h = await poll(async () => { const r = await httpRequest(s1, { method: 'GET', path: '/healthz' }); return r.status === 503 && r; }, { timeout: 1000 });
      assert.ok(h, '/healthz should answer 503 while draining');
      const refused = await httpRequest(s1, { headers: hdrs(key, oldSid), body: ping('during-drain') });
      assert.equal(refused.status, 503, refused.text);
      const sr = await short;
      assert.equal(sr.structuredContent.stdout, 'drained\n', 'a call running at SIGTERM finishes within the grace');
      assert.equal(s1.exited, null, 'still draining while sleep 30 runs');
      // the second signal cancels what still runs and the server exits 0 promptly
      const t1 = Date.now();
      s1.child.kill('SIGTERM');
      const ex = await s1.waitExit(5000);
      assert.equal(ex.code, 0, `exit ${JSON.stringify(ex)}`);
      assert.ok(Date.now() - t1 < 3000, `exit took ${Date.now() - t1} ms after the second SIGTERM`);
      assert.ok(Date.now() - t0 < 8000);
      const lr = await long;
      assert.ok(lr.e || lr.r?.isError, 'the cancelled long call must not succeed');
      await w.close();
      assert.ok(await poll(() => hostPidsMatching(`sleep ${secs}`).length === 0, { timeout: 2000 }), 'the sandboxed sleep outlived the server');

      // same data dir, same port: no new key is printed, the old one works
      s2 = await startServe({ dataDir, listen: `127.0.0.1:${s1.port}`, key });
      assert.equal(s2.port, s1.port);
      assert.ok(!/mcpbox_/.test(s2.stdout), `a restart must not print a key: ${s2.stdout}`);
      assertJsonError(await httpRequest(s2, { headers: hdrs(key, oldSid), body: ping(1) }), 404);
      // the SDK client still holds the old session: its next request fails with 404 ...
      const e = await c.client.ping().then(() => null, (err) => err);
      assert.ok(e, 'a request with the pre-restart session id must fail');
      assert.match(String(e.message), /404|not found/i, e.message);
      // ... so it reconnects: a new transport, a new initialize, a new session
      await c.close();
      const c2 = await httpClient(s2);
      assert.notEqual(c2.transport.sessionId, oldSid);
      const r = await c2.call('execute', { language: 'shell', code: 'echo after restart' });
      assert.equal(r.structuredContent.stdout, 'after restart\n');
      const created = createKey(dataDir, { name: 'after-restart' });
      const c3 = await wsClient(s2, { key: created.key });
      await c3.client.ping();
      // idle but connected (an SDK HTTP client with its GET stream, a WebSocket): one SIGTERM, exit 0 at once
      const st = await s2.stop(5000);
      assert.equal(st.code, 0, JSON.stringify(st));
      assert.ok(st.ms < 2000, `SIGTERM with idle open connections took ${st.ms} ms`);
      await c2.close();
      await c3.close();
    } finally {
      killLeftovers(`sleep ${secs}`);
      if (!s1.exited) await s1.stop().catch(() => {});
      if (s2 && !s2.exited) await s2.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('serve: abandoned MCP HTTP sessions', () => {
  // most clients never send DELETE: after http_session_idle with no request and no open stream the
  // MCP session ends, and its implicit sandbox with it
  test('no request and no stream for http_session_idle: the session and its sandbox end; an open GET stream keeps one', async () => {
    const dataDir = makeDataDir();
    fs.writeFileSync(path.join(dataDir, 'config.json'), JSON.stringify({ http_session_idle: '1s' }));
    const srv = await startServe({ dataDir });
    const key = srv.key;
    const watcher = await httpClient(srv, { key });	// opens its GET stream: kept however idle
    try {
      const sid = await rawSession(srv, key);
      const r = await httpRequest(srv, { headers: hdrs(key, sid), body: toolCall(1, 'execute', { language: 'shell', code: 'echo $$ > /tmp/x; pwd' }) });
      assert.equal(r.status, 200, r.text);
      const info = await httpRequest(srv, { headers: hdrs(key, sid), body: toolCall(2, 'session_info', {}) });
      const implicit = answerOf(info).result.structuredContent.session_id;
      const w = await watcher.call('session_info', {});
      const watcherSession = w.structuredContent.session_id;
      // used now and then: kept
      for (let i = 0; i < 3; i++) {
        await sleep(500);
        assert.equal((await httpRequest(srv, { headers: hdrs(key, sid), body: ping(10 + i) })).status, 200, 'kept while used');
      }
      // untouched (a request would keep it): 1 s idle, checked every 250 ms
      await sleep(2000);
      assert.equal((await httpRequest(srv, { headers: hdrs(key, sid), body: ping(20) })).status, 404, 'the abandoned MCP session ended');
      const list = (await watcher.call('session_list', {})).structuredContent.sessions.map((x) => x.session_id);
      assert.ok(!list.includes(implicit), `its implicit sandbox went with it: ${list}`);
      assert.ok(!fs.existsSync(path.join(dataDir, 'workspaces', implicit)), 'and its workspace');
      assert.ok(list.includes(watcherSession), 'the session with an open GET stream stays');
      assertOk(await watcher.call('execute', { language: 'shell', code: 'true' }), 'the watcher still works');
    } finally {
      await watcher.close();
      await srv.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('serve: config max_message', () => {
  test('"max_message": "1M" → 413 above it, fine below it', async () => {
    const dataDir = makeDataDir();
    fs.writeFileSync(path.join(dataDir, 'config.json'), JSON.stringify({ max_message: '1M' }));
    const s = await startServe({ dataDir });
    try {
      const sid = await rawSession(s);
      const big = toolCall(1, 'file_write', { path: 'big.txt', content: 'x'.repeat(1024 * 1024) });
      const r = await httpRequest(s, { headers: hdrs(s.key, sid), body: big }).catch((err) => ({ status: `error ${err.code || err.message}` }));
      assert.equal(r.status, 413, `1 MiB + envelope → ${r.status} ${r.text || ''}`);
      const ok = await httpRequest(s, { headers: hdrs(s.key, sid), body: toolCall(2, 'file_write', { path: 'ok.txt', content: 'y'.repeat(900 * 1024) }) });
      assert.equal(ok.status, 200, ok.text.slice(0, 300));
      assert.equal(answerOf(ok).result.structuredContent.size, 900 * 1024);
      // and over WebSocket: an oversized frame does not take the server down
      const w = await openWs(s.wsUrl(), 'mcp');
      w.send(JSON.stringify(big));
      await Promise.race([w.closed, w.next((m) => m.error), sleep(3000)]);
      assert.equal((await httpRequest(s, { headers: hdrs(s.key, sid), body: ping(3) })).status, 200);
      w.ws.close();
    } finally {
      await s.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('serve: MCP Inspector CLI', () => {
  const INSPECTOR = path.join(REPO, 'tests', 'node_modules', '.bin', 'mcp-inspector');
  const runInspector = (args) => new Promise((resolve) => {
    const c = spawn(INSPECTOR, ['--cli', srv.url, '--transport', 'http', '--header', `Authorization: Bearer ${srv.key}`, ...args],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HOME: process.env.HOME || '/tmp' } });
    let out = '';
    let err = '';
    c.stdout.on('data', (d) => { out += d; });
    c.stderr.on('data', (d) => { err += d; });
    const t = setTimeout(() => c.kill('SIGKILL'), 60000);
    c.on('close', (code) => { clearTimeout(t); resolve({ code, out, err }); });
  });

  test('--method tools/list lists the tools', async (t) => {
    if (!fs.existsSync(INSPECTOR)) return t.skip('@modelcontextprotocol/inspector not installed (npm ci in tests/)');
    const r = await runInspector(['--method', 'tools/list']);
    assert.equal(r.code, 0, `inspector exited ${r.code}: ${r.err}\n${r.out}`);
    const names = JSON.parse(r.out).tools.map((x) => x.name);
    for (const n of TOOLS) assert.ok(names.includes(n), `missing ${n} in ${names}`);
  });

  test('--method tools/call execute print(6*7) → 42', async (t) => {
    if (!fs.existsSync(INSPECTOR)) return t.skip('@modelcontextprotocol/inspector not installed (npm ci in tests/)');
    const r = await runInspector(['--method', 'tools/call', '--tool-name', 'execute', '--tool-arg', 'code=print(6*7)', '--tool-arg', 'language=python']);
    assert.equal(r.code, 0, `inspector exited ${r.code}: ${r.err}\n${r.out}`);
    const res = JSON.parse(r.out);
    assert.equal(res.structuredContent.stdout, '42\n', r.out);
    assert.ok(!res.isError);
    assert.match(res.content[0].text, /42/);
  });

  test('a wrong key makes the inspector fail', async (t) => {
    if (!fs.existsSync(INSPECTOR)) return t.skip('@modelcontextprotocol/inspector not installed (npm ci in tests/)');
    const c = await new Promise((resolve) => {
      const p = spawn(INSPECTOR, ['--cli', srv.url, '--transport', 'http', '--header', 'Authorization: Bearer mcpbox_wrong', '--method', 'tools/list'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      p.stdout.on('data', (d) => { out += d; });
      p.stderr.on('data', (d) => { out += d; });
      p.on('close', (code) => resolve({ code, out }));
    });
    assert.notEqual(c.code, 0, c.out);
    assert.match(c.out, /401|Unauthorized/i);
  });
});

// ---------------------------------------------------------------------------------------------

describe('serve: a slow client (end)', () => {
  test('the stalled connections are eventually closed by the server (checked last)', { timeout: 70000 }, async () => {
    assert.ok(stalled, 'the previous test did not run');
    const limit = 60000;
    const all = Promise.all(stalled.map((x) => x.closed));
    const done = await Promise.race([all.then(() => true), sleep(Math.max(0, stalled[0].t0 + limit - Date.now())).then(() => false)]);
    assert.ok(done, `stalled connections still open ${limit / 1000} s later`);
    for (const x of stalled) assert.ok(!/HTTP\/1\.1 200/.test(x.data), `a half request must not be answered 200: ${x.data}`);
  });
});
