// JSON-RPC / MCP lifecycle conformance over raw stdio (what the SDK can't send).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startRaw, PROTOCOL_LATEST, sleep, hostPidsMatching, poll, uniqueSleepSeconds, bareDataDir, rmQuiet, BIN } from './helpers.mjs';

const isResponse = (m) => m && !Array.isArray(m) && ('result' in m || 'error' in m);

describe('initialize', () => {
  for (const [asked, expected] of [
    ['2025-11-25', '2025-11-25'],
    ['2025-06-18', '2025-06-18'],
    ['2025-03-26', '2025-03-26'],
    ['2024-11-05', '2024-11-05'],
    ['1999-01-01', PROTOCOL_LATEST],
  ]) {
    test(`asks ${asked} -> ${expected}`, async () => {
      const raw = await startRaw();
      try {
        const r = await raw.request('initialize', {
          protocolVersion: asked, capabilities: {}, clientInfo: { name: 't', version: '1' },
        }, 1, { timeout: 10000 });
        assert.equal(r.jsonrpc, '2.0');
        assert.ok(r.result, `initialize failed: ${JSON.stringify(r)}`);
        assert.equal(r.result.protocolVersion, expected);
      } finally { await raw.close(); }
    });
  }

  test('serverInfo and capabilities', async () => {
    const raw = await startRaw();
    try {
      const res = await raw.handshake();
      assert.equal(res.serverInfo?.name, 'mcpbox');
      assert.equal(typeof res.serverInfo?.version, 'string');
      assert.ok(res.serverInfo.version.length > 0);
      assert.equal(typeof res.capabilities?.tools, 'object', `capabilities: ${JSON.stringify(res.capabilities)}`);
      assert.equal(typeof res.capabilities?.logging, 'object', `capabilities: ${JSON.stringify(res.capabilities)}`);
    } finally { await raw.close(); }
  });

  test('ping before initialize is answered', async () => {
    const raw = await startRaw();
    try {
      const r = await raw.request('ping', undefined, 'early', { timeout: 5000 });
      assert.deepEqual(r.result, {});
    } finally { await raw.close(); }
  });
});

describe('JSON-RPC base', () => {
  let raw;
  before(async () => { raw = await startRaw(); await raw.handshake(); });
  after(async () => { await raw?.close(); });

  test('ping -> {}', async () => {
    const r = await raw.request('ping', undefined, 100);
    assert.deepEqual(r, { jsonrpc: '2.0', id: 100, result: {} });
  });

  test('ping with params null is tolerated', async () => {
    raw.send({ jsonrpc: '2.0', id: 101, method: 'ping', params: null });
    const r = await raw.response(101);
    assert.deepEqual(r.result, {});
  });

  for (const id of [0, 9007199254740991, 'abc', '123', -5, '']) {
    test(`id ${JSON.stringify(id)} is echoed with the same type`, async () => {
      const mark = raw.messages.length;
      raw.send({ jsonrpc: '2.0', id, method: 'ping' });
      const r = await raw.waitFor((m) => isResponse(m) && m.id === id, { from: mark, what: `id ${JSON.stringify(id)}` });
      assert.equal(typeof r.id, typeof id);
      assert.deepEqual(r.result, {});
      // the exact literal must be on the wire (no float formatting like 9.007e15 or 0.0)
      const lit = JSON.stringify(id).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      const re = new RegExp(`"id"\\s*:\\s*${lit}\\s*[,}]`);
      assert.ok(raw.lines.slice(-20).some((l) => re.test(l)), `no wire line with "id":${JSON.stringify(id)}`);
    });
  }

  test('id null -> -32600', async () => {
    const mark = raw.messages.length;
    raw.send('{"jsonrpc":"2.0","id":null,"method":"ping"}');
    const r = await raw.waitFor((m) => isResponse(m) && m.error, { from: mark, what: 'error for id null' });
    assert.equal(r.error.code, -32600);
    assert.equal(r.id, null);
  });

  test('missing jsonrpc -> -32600', async () => {
    const mark = raw.messages.length;
    raw.send('{"id":200,"method":"ping"}');
    const r = await raw.waitFor((m) => isResponse(m) && (m.id === 200 || m.id === null), { from: mark, what: 'error for missing jsonrpc' });
    assert.ok(r.error, `expected an error, got ${JSON.stringify(r)}`);
    assert.equal(r.error.code, -32600);
  });

  test('wrong jsonrpc version -> -32600', async () => {
    const mark = raw.messages.length;
    raw.send('{"jsonrpc":"1.0","id":201,"method":"ping"}');
    const r = await raw.waitFor((m) => isResponse(m) && (m.id === 201 || m.id === null), { from: mark, what: 'error for jsonrpc 1.0' });
    assert.ok(r.error, `expected an error, got ${JSON.stringify(r)}`);
    assert.equal(r.error.code, -32600);
  });

  test('unknown method -> -32601', async () => {
    const r = await raw.request('no/such/method', {}, 202);
    assert.ok(r.error, JSON.stringify(r));
    assert.equal(r.error.code, -32601);
    assert.equal(typeof r.error.message, 'string');
  });

  test('garbage line -> -32700 with id null, and the server keeps going', async () => {
    const mark = raw.messages.length;
    raw.send('{this is not json');
    const r = await raw.waitFor((m) => isResponse(m) && m.error && m.error.code === -32700, { from: mark, what: 'parse error' });
    assert.equal(r.id, null);
    assert.ok('id' in r, 'parse error response must carry "id": null');
    const p = await raw.request('ping', undefined, 203);
    assert.deepEqual(p.result, {});
  });

  test('notifications (no id) get no response', async () => {
    const mark = raw.messages.length;
    raw.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    raw.send({ jsonrpc: '2.0', method: 'notifications/some_unknown_thing', params: { a: 1 } });
    raw.send({ jsonrpc: '2.0', method: 'ping' }); // a request method sent as a notification
    raw.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'never-sent' } });
    const p = await raw.request('ping', undefined, 204);
    assert.deepEqual(p.result, {});
    await sleep(300);
    const responses = raw.messages.slice(mark).filter((m) => Array.isArray(m) || isResponse(m));
    assert.deepEqual(responses.map((m) => m.id), [204], `unexpected responses: ${JSON.stringify(responses)}`);
  });

  test('batch [ping, ping, notification] -> one array of 2 responses', async () => {
    const mark = raw.messages.length;
    raw.send([
      { jsonrpc: '2.0', id: 'b1', method: 'ping' },
      { jsonrpc: '2.0', id: 'b2', method: 'ping' },
      { jsonrpc: '2.0', method: 'notifications/initialized' },
    ]);
    const arr = await raw.waitFor((m) => Array.isArray(m), { from: mark, what: 'batch response' });
    assert.equal(arr.length, 2, JSON.stringify(arr));
    assert.deepEqual(arr.map((m) => m.id).sort(), ['b1', 'b2']);
    for (const m of arr) assert.deepEqual(m.result, {});
    await sleep(200);
    const extra = raw.messages.slice(mark).filter((m) => (Array.isArray(m) && m !== arr) || (isResponse(m) && ['b1', 'b2'].includes(m.id)));
    assert.deepEqual(extra, [], 'batch answers must come only inside the one array');
  });

  test('batch of only notifications -> no response', async () => {
    const mark = raw.messages.length;
    raw.send([{ jsonrpc: '2.0', method: 'notifications/initialized' }]);
    const p = await raw.request('ping', undefined, 205);
    assert.deepEqual(p.result, {});
    await sleep(200);
    const responses = raw.messages.slice(mark).filter((m) => Array.isArray(m) || isResponse(m));
    assert.deepEqual(responses.map((m) => m.id), [205]);
  });

  test('batch [] -> single -32600 error', async () => {
    const mark = raw.messages.length;
    raw.send('[]');
    const r = await raw.waitFor((m) => Array.isArray(m) || (isResponse(m) && m.error), { from: mark, what: 'error for []' });
    assert.ok(!Array.isArray(r), `expected a single error object, got array ${JSON.stringify(r)}`);
    assert.equal(r.error.code, -32600);
    assert.equal(r.id, null);
  });

  test('batch with an invalid member answers it in place', async () => {
    const mark = raw.messages.length;
    raw.send('[{"jsonrpc":"2.0","id":"bx","method":"ping"}, 42]');
    const arr = await raw.waitFor((m) => Array.isArray(m), { from: mark, what: 'batch response' });
    assert.equal(arr.length, 2, JSON.stringify(arr));
    const ok = arr.find((m) => m.id === 'bx');
    assert.deepEqual(ok?.result, {});
    const bad = arr.find((m) => m.id === null);
    assert.equal(bad?.error?.code, -32600);
  });

  test('tools/call unknown tool -> -32602', async () => {
    const r = await raw.request('tools/call', { name: 'no_such_tool', arguments: {} }, 206);
    assert.ok(r.error, `expected JSON-RPC error, got ${JSON.stringify(r)}`);
    assert.equal(r.error.code, -32602);
  });

  test('logging/setLevel', async () => {
    const ok = await raw.request('logging/setLevel', { level: 'debug' }, 207);
    assert.deepEqual(ok.result, {});
    const bad = await raw.request('logging/setLevel', { level: 'loud' }, 208);
    assert.ok(bad.error, JSON.stringify(bad));
    assert.equal(bad.error.code, -32602);
    const missing = await raw.request('logging/setLevel', {}, 209);
    assert.equal(missing.error?.code, -32602, JSON.stringify(missing));
    const back = await raw.request('logging/setLevel', { level: 'warning' }, 210);
    assert.deepEqual(back.result, {});
  });

  test('\\r\\n line endings are tolerated', async () => {
    raw.send('{"jsonrpc":"2.0","id":211,"method":"ping"}\r\n');
    const r = await raw.response(211);
    assert.deepEqual(r.result, {});
  });

  test('tools/list answers with tools', async () => {
    const r = await raw.request('tools/list', {}, 212);
    assert.ok(Array.isArray(r.result?.tools), JSON.stringify(r).slice(0, 500));
    assert.ok(!('nextCursor' in r.result) || typeof r.result.nextCursor === 'string', 'nextCursor must be absent or a string');
  });

  test('a large (2 MB) request line is read', async () => {
    const big = 'x'.repeat(2 * 1024 * 1024);
    const r = await raw.request('tools/call', { name: 'file_write', arguments: { path: 'big.txt', content: big } }, 213, { timeout: 20000 });
    assert.ok(r.result, JSON.stringify(r).slice(0, 500));
    assert.ok(!r.result.isError, JSON.stringify(r.result).slice(0, 500));
    assert.equal(r.result.structuredContent?.size, big.length);
  });

  test('stdout carries only valid JSON lines', async () => {
    // make the sandboxed program write to stdout/stderr a lot: none of it may reach the server's stdout raw
    const r = await raw.callTool('execute', {
      language: 'shell',
      code: 'echo NOT-JSON-STDOUT; echo NOT-JSON-STDERR >&2; echo LEAK > /dev/tty 2>/dev/null; ls -l /proc/self/fd; true',
    }, 214);
    assert.ok(r.result, JSON.stringify(r));
    assert.ok(r.result.structuredContent?.stdout?.includes('NOT-JSON-STDOUT'), `execute did not run: ${JSON.stringify(r.result).slice(0, 500)}`);
    await sleep(100);
    assert.deepEqual(raw.badLines, [], 'non-JSON lines on stdout');
    for (const l of raw.lines) {
      assert.ok(l.length > 0, 'empty line on stdout');
      assert.ok(!l.includes('\n'));
    }
  });
});

describe('stdin EOF', () => {
  test('a script piped in (printf ... | mcpbox stdio): the calls still running at EOF are answered, then it exits 0', () => {
    const dir = bareDataDir();
    try {
      const lines = [
        { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: PROTOCOL_LATEST, capabilities: {}, clientInfo: { name: 'sh', version: '1' } } },
        { jsonrpc: '2.0', method: 'notifications/initialized' },
        { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'execute', arguments: { language: 'shell', code: 'sleep 1; echo first' } } },
        { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'execute', arguments: { language: 'python', code: 'print(6 * 7)' } } },
      ].map((m) => JSON.stringify(m)).join('\n');
      const t0 = Date.now();
      const r = spawnSync('sh', ['-c', `printf '%s\\n' "$LINES" | "$BIN" stdio --data "$DIR"`],
        { env: { ...process.env, LINES: lines, BIN, DIR: dir }, encoding: 'utf8', timeout: 30000 });
      assert.equal(r.status, 0, r.stderr);
      const out = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
      const by = (id) => out.find((m) => m.id === id);
      assert.equal(by(1)?.result?.structuredContent?.stdout, 'first\n', r.stdout.slice(0, 2000));
      assert.equal(by(2)?.result?.structuredContent?.stdout, '42\n', r.stdout.slice(0, 2000));
      assert.ok(Date.now() - t0 < 20000);
    } finally { rmQuiet(dir); }
  });

  test('EOF with an execution running: it is finished and answered, then exit 0', async () => {
    const raw = await startRaw();
    try {
      await raw.handshake();
      raw.send({ jsonrpc: '2.0', id: 'slow', method: 'tools/call', params: { name: 'execute', arguments: { language: 'shell', code: 'sleep 1.5; echo done' } } });
      await sleep(300);
      raw.endStdin();
      const m = await raw.response('slow', { timeout: 10000 });
      assert.equal(m.result.structuredContent.stdout, 'done\n');
      const ex = await raw.waitExit(3000);
      assert.equal(ex.code, 0, raw.stderr());
    } finally { await raw.close(); }
  });

  test('after EOF, SIGTERM cancels what still runs: exit 0 within 2 s, nothing left behind', async () => {
    const raw = await startRaw();
    const secs = uniqueSleepSeconds(30);
    try {
      await raw.handshake();
      raw.send({ jsonrpc: '2.0', id: 'long', method: 'tools/call', params: { name: 'execute', arguments: { language: 'shell', code: `sleep ${secs}` } } });
      assert.ok(await poll(() => hostPidsMatching(`sleep ${secs}`).length > 0, { timeout: 5000 }), 'the sleep never started');
      raw.endStdin();
      await sleep(300);
      assert.equal(raw.exited, null, 'still finishing the call after EOF');
      const t0 = Date.now();
      raw.child.kill('SIGTERM');
      const ex = await raw.waitExit(2000);
      assert.equal(ex.code, 0, `exit code ${ex.code} signal ${ex.signal}; stderr:\n${raw.stderr()}`);
      assert.ok(ex.at - t0 < 2000, `took ${ex.at - t0} ms`);
      const gone = await poll(() => hostPidsMatching(`sleep ${secs}`).length === 0, { timeout: 1000 });
      assert.ok(gone, `left behind: ${JSON.stringify(hostPidsMatching(`sleep ${secs}`))}`);
    } finally {
      for (const p of hostPidsMatching(`sleep ${secs}`)) { try { process.kill(p.pid, 'SIGKILL'); } catch { /* not ours */ } }
      await raw.close();
    }
  });

  test('a client that is gone (stdin and stdout closed): what runs is cancelled, exit 0 within 2 s', async () => {
    const raw = await startRaw();
    const secs = uniqueSleepSeconds(31);
    try {
      await raw.handshake();
      raw.send({ jsonrpc: '2.0', id: 'long', method: 'tools/call', params: { name: 'execute', arguments: { language: 'shell', code: `sleep ${secs}` } } });
      assert.ok(await poll(() => hostPidsMatching(`sleep ${secs}`).length > 0, { timeout: 5000 }), 'the sleep never started');
      const t0 = Date.now();
      raw.child.stdout.destroy();
      raw.endStdin();
      const ex = await raw.waitExit(2000);
      assert.equal(ex.code, 0, `exit code ${ex.code} signal ${ex.signal}; stderr:\n${raw.stderr()}`);
      assert.ok(ex.at - t0 < 2000, `took ${ex.at - t0} ms`);
      const gone = await poll(() => hostPidsMatching(`sleep ${secs}`).length === 0, { timeout: 1000 });
      assert.ok(gone, `left behind: ${JSON.stringify(hostPidsMatching(`sleep ${secs}`))}`);
    } finally {
      for (const p of hostPidsMatching(`sleep ${secs}`)) { try { process.kill(p.pid, 'SIGKILL'); } catch { /* not ours */ } }
      await raw.close();
    }
  });

  test('exits 0 on EOF right after initialize', async () => {
    const raw = await startRaw();
    try {
      await raw.handshake();
      raw.endStdin();
      const ex = await raw.waitExit(2000);
      assert.equal(ex.code, 0);
    } finally { await raw.close(); }
  });
});
