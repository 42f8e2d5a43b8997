// Seed API 001, the Sandbox Executor, served by `mcpbox serve` (server/rest/executor.c): every
// exchange recorded from the document (fixtures/compat/executor.json) at the documented paths and
// under /compat/executor; FastAPI's validation errors; Bearer keys and foreign principals; the
// sandbox a session_id names (made once, reused, per principal); the document's curl examples and
// its httpx example run unchanged (base URL aside) with curl and /usr/bin/python3.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startServe, createKey, httpClient, httpRequest } from './helpers.mjs';
import {
  loadCompat, compatRequest, assertExchange, assertCompactJson, runShell, runPython,
} from './compat.mjs';

const FX = loadCompat('executor');
const PREFIX = FX.prefix;
const BASES = ['', PREFIX];

const exec = (srv, key, body, { prefix = '', headers = {} } = {}) => httpRequest(srv, {
  method: 'POST', path: `${prefix}/execute`, body,
  headers: { 'Content-Type': 'application/json', ...(key ? { Authorization: `Bearer ${key}` } : {}), ...headers },
  timeout: 60000,
});
const body = (extra = {}) => ({ execution_id: 'exec_t', session_id: 'sess_t', code: 'true', language: 'shell', ...extra });

/** What CPython's json.loads says about text: [msg, pos] (the json_invalid item's ctx.error and loc[1]). */
function pythonJsonError(text) {
  const r = spawnSync('/usr/bin/python3', ['-c',
    'import json,sys\ntry:\n  json.loads(sys.stdin.buffer.read())\nexcept json.JSONDecodeError as e:\n  print(json.dumps([e.msg, e.pos]))'],
  { input: text, encoding: 'utf8' });
  return JSON.parse(r.stdout);
}

describe('executor (001) with API keys', () => {
  let srv;
  let alice;
  let bob;
  before(async () => {
    srv = await startServe({ config: { limits: { timeout: { default: '2s', max: '2s' } } } });
    alice = createKey(srv.dataDir, { name: 'alice' }).key;
    bob = createKey(srv.dataDir, { name: 'bob' }).key;
  });
  after(async () => { await srv?.close(); });

  for (const base of BASES) {
    for (const ex of FX.exchanges.filter((e) => !e.skip && (base || !e.prefix_only))) {
      test(`${base || '(documented path)'}: ${ex.name}`, async () => {
        const res = await compatRequest(srv, ex.request, { prefix: base, key: alice });
        assertExchange(res, ex.response, ex.name);
        assertCompactJson(res);
      });
    }
  }

  test('401 carries WWW-Authenticate: Bearer; health, info and / need no key and show no tenant data', async () => {
    const r = await exec(srv, null, body());
    assert.equal(r.status, 401);
    assert.match(String(r.headers['www-authenticate']), /^Bearer/);
    await exec(srv, alice, body({ session_id: 'private-name-123' }));
    for (const p of ['/health', '/info', '/', `${PREFIX}/health`, `${PREFIX}/info`, PREFIX]) {
      const h = await httpRequest(srv, { method: 'GET', path: p });
      assert.equal(h.status, 200, p);
      assert.ok(!h.text.includes('private-name-123') && !h.text.includes('alice'), `${p}: ${h.text}`);
    }
  });

  test('the same session_id is one sandbox, reused; another name is another sandbox', async () => {
    let r = await exec(srv, alice, body({ session_id: 'reuse', code: 'echo kept > /workspace/f' }));
    assert.equal(r.json.status, 'completed', r.text);
    r = await exec(srv, alice, body({ session_id: 'reuse', code: 'cat /workspace/f' }));
    assert.equal(r.json.stdout, 'kept\n');
    r = await exec(srv, alice, body({ session_id: 'other', code: 'cat /workspace/f' }));
    assert.equal(r.json.status, 'failed');
  });

  test('foreign principals: bob\'s "reuse" is not alice\'s, and MCP shows each only its own', async () => {
    const r = await exec(srv, bob, body({ session_id: 'reuse', code: 'cat /workspace/f' }));
    assert.equal(r.json.status, 'failed', r.text);
    const a = await httpClient(srv, { key: alice });
    const b = await httpClient(srv, { key: bob });
    try {
      const la = (await a.call('session_list', { labels: { 'compat.executor.session_id': 'reuse' } })).structuredContent.sessions;
      const lb = (await b.call('session_list', { labels: { 'compat.executor.session_id': 'reuse' } })).structuredContent.sessions;
      assert.equal(la.length, 1);
      assert.equal(lb.length, 1);
      assert.notEqual(la[0].session_id, lb[0].session_id);
      // an MCP client of alice's reaches the same sandbox
      const got = await a.call('execute', { language: 'shell', code: 'cat /workspace/f', session_id: la[0].session_id });
      assert.equal(got.structuredContent.stdout, 'kept\n');
    } finally { await a.close(); await b.close(); }
  });

  test('an administrator key gets its own sandbox for a name, not a tenant\'s', async () => {
    const r = await exec(srv, srv.key, body({ session_id: 'reuse', code: 'cat /workspace/f' }));
    assert.equal(r.json.status, 'failed', r.text);
  });

  test('concurrent first uses of a name make one sandbox', async () => {
    const rs = await Promise.all([...Array(6)].map((_, i) => exec(srv, alice, body({ session_id: 'burst', code: `echo ${i}` }))));
    for (const r of rs) assert.equal(r.json?.status, 'completed', r.text);
    const a = await httpClient(srv, { key: alice });
    try {
      const l = (await a.call('session_list', { labels: { 'compat.executor.session_id': 'burst' } })).structuredContent.sessions;
      assert.equal(l.length, 1, JSON.stringify(l));
      // destroyed behind the dialect's back: the next call makes a new one
      await a.call('session_destroy', { session_id: l[0].session_id });
      const r = await exec(srv, alice, body({ session_id: 'burst', code: 'echo again' }));
      assert.equal(r.json.stdout, 'again\n', r.text);
    } finally { await a.close(); }
  });

  test('handler conventions: Python handler(event[, context]), JS module.exports.handler and a global handler(event, context)', async () => {
    const cases = [
      ['python', 'def handler(event):\n    return event["x"] + 1', 2],
      ['python', 'def handler(event, context):\n    return [event["x"], context]', [1, {}]],
      ['python', 'async def handler(event):\n    return "async"', 'async'],
      ['javascript', 'module.exports.handler = async (e) => e.x * 10', 10],
      ['javascript', 'function handler(event, context) { return [event.x, typeof context]; }', [1, 'object']],
    ];
    for (const [language, code, want] of cases) {
      const r = await exec(srv, alice, body({ language, code, event: { x: 1 } }));
      assert.equal(r.json.status, 'completed', `${code}: ${r.text}`);
      assert.deepEqual(r.json.return_value, want, code);
    }
    const r = await exec(srv, alice, body({ language: 'python', code: 'def handler(event):\n    raise ValueError("boom")' }));
    assert.equal(r.json.status, 'failed');
    assert.match(r.json.stderr, /ValueError: boom/);
    assert.equal(r.json.return_value, null);
    const none = await exec(srv, alice, body({ language: 'python', code: 'x = 1' }));
    assert.equal(none.json.status, 'failed');
  });

  test('env_vars reach the program (non-strings as JSON text); a killed program is "error"; timeouts are clamped to the server maximum', async () => {
    let r = await exec(srv, alice, body({ code: 'echo "$A|$B|$C"', env_vars: { A: 'x y', B: 5, C: true } }));
    assert.equal(r.json.stdout, 'x y|5|true\n');
    r = await exec(srv, alice, body({ code: 'kill -9 $$' }));
    assert.equal(r.json.status, 'error', r.text);
    const t0 = Date.now();
    r = await exec(srv, alice, body({ code: 'sleep 20', timeout: 3600 }));
    assert.equal(r.json.status, 'timeout', r.text);
    assert.ok(Date.now() - t0 < 8000, `took ${Date.now() - t0} ms: not clamped to the 2 s maximum`);
  });

  // A body that names neither code nor language (or is no JSON object) is not claimed by the executor on
  // the shared POST /execute (AgentFlow comes first there): such bodies are sent under the prefix.
  const P = { prefix: PREFIX };

  test('validation: FastAPI/pydantic 2 errors for missing and wrong-typed fields and bounds', async () => {
    let r = await exec(srv, alice, {}, P);
    assert.equal(r.status, 422);
    assert.deepEqual(r.json.detail.map((d) => [d.type, d.loc.join('.'), d.msg]), [
      ['missing', 'body.execution_id', 'Field required'], ['missing', 'body.session_id', 'Field required'],
      ['missing', 'body.code', 'Field required'], ['missing', 'body.language', 'Field required']]);
    assert.deepEqual(r.json.detail[0].input, {});
    r = await exec(srv, alice, body({ code: 1, timeout: 0, event: [], env_vars: 'x' }));
    assert.deepEqual(r.json.detail.map((d) => d.type), ['string_type', 'dict_type', 'greater_than_equal', 'dict_type']);
    assert.deepEqual(r.json.detail[2].ctx, { ge: 1 });
    r = await exec(srv, alice, body({ timeout: 3601 }));
    assert.deepEqual(r.json.detail[0], { type: 'less_than_equal', loc: ['body', 'timeout'], msg: 'Input should be less than or equal to 3600', input: 3601, ctx: { le: 3600 } });
    r = await exec(srv, alice, body({ timeout: 'abc' }));
    assert.equal(r.json.detail[0].type, 'int_parsing');
    r = await exec(srv, alice, body({ timeout: '2' }));
    assert.equal(r.status, 200, r.text);
    r = await exec(srv, alice, body({ session_id: 'x'.repeat(257) }));
    assert.equal(r.json.detail[0].type, 'string_too_long');
  });

  test('malformed bodies: json_invalid as CPython reports it, empty, not JSON, not UTF-8, an array', async () => {
    for (const text of ['{', '{"a":1,}', '{"code": "x" "language": 1}', '[1,]', '{"é": tru}', '  ']) {
      const r = await exec(srv, alice, text, P);
      assert.equal(r.status, 422, text);
      const [msg, pos] = pythonJsonError(text);
      assert.deepEqual(r.json.detail, [{ type: 'json_invalid', loc: ['body', pos], msg: 'JSON decode error', input: {}, ctx: { error: msg } }], text);
    }
    let r = await exec(srv, alice, '', P);
    assert.deepEqual(r.json.detail, [{ type: 'missing', loc: ['body'], msg: 'Field required', input: null }]);
    r = await exec(srv, alice, '[1]', P);
    assert.equal(r.json.detail[0].type, 'model_attributes_type');
    r = await exec(srv, alice, 'code=1', { ...P, headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
    assert.deepEqual(r.json.detail[0], { type: 'model_attributes_type', loc: ['body'], msg: 'Input should be a valid dictionary or object to extract fields from', input: 'code=1' });
    r = await exec(srv, alice, Buffer.from([0x7b, 0xff, 0x7d]), P);
    assert.equal(r.status, 400);
    assert.deepEqual(r.json, { detail: 'There was an error parsing the body' });
    r = await exec(srv, alice, '['.repeat(5000), P);
    assert.equal(r.status, 400);
    // still serving
    r = await exec(srv, alice, body());
    assert.equal(r.json.status, 'completed');
  });

  test('a client that leaves mid-run does not hurt the server', async () => {
    const p = exec(srv, alice, body({ code: 'sleep 1', timeout: 2 })).catch(() => null);
    await Promise.race([p, new Promise((r) => setTimeout(r, 50))]);
    const http = await import('node:http');
    await new Promise((resolve) => {
      const req = http.request({ host: '127.0.0.1', port: srv.port, method: 'POST', path: '/execute', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${alice}` } });
      req.on('error', () => resolve());
      req.end(JSON.stringify(body({ session_id: 'leaver', code: 'sleep 3' })));
      setTimeout(() => { req.destroy(); resolve(); }, 300);
    });
    const r = await exec(srv, alice, body({ session_id: 'leaver', code: 'echo ok' }));
    assert.equal(r.json.stdout, 'ok\n', r.text);
    await p;
  });
});

describe('executor (001): the document\'s clients, unchanged, under --auth none', () => {
  let srv;
  before(async () => { srv = await startServe({ auth: 'none' }); });
  after(async () => { await srv?.close(); });

  for (const base of BASES) {
    for (const ex of FX.exchanges.filter((e) => e.curl && !e.skip)) {
      test(`curl ${base || '(documented path)'}: ${ex.name}`, async () => {
        const r = await runShell(ex.curl, { base: srv.base + base });
        assert.equal(r.code, 0, r.stderr);
        assertExchange({ status: ex.response.status, json: r.json, text: r.stdout }, ex.response, ex.name);
      });
    }
    test(`the httpx example ${base || '(documented path)'}`, async () => {
      const code = `${FX.python_client.code}\nimport json\nprint(json.dumps(asyncio.run(execute_code("def handler(e): return {'result': 'ok'}"))))\n`;
      const r = await runPython(code, { base: srv.base + base });
      assert.equal(r.code, 0, r.stderr);
      const got = JSON.parse(r.stdout.trim().split('\n').pop());
      assert.equal(got.execution_id, 'exec_001');
      assert.equal(got.status, 'completed', r.stdout);
      assert.equal(got.message, 'Execution completed');
      assert.deepEqual(got.return_value, { result: 'ok' });
    });
  }
});

describe('REST dialect 001: a quota is not a rate limit', () => {
  let srv;
  before(async () => {
    srv = await startServe({ config: { quota: { sessions: 1 }, rate_limits: { execute: { per_minute: 6, burst: 2 } } } });
  });
  after(async () => { await srv?.close(); });

  test('past the key\'s sessions quota: 403 naming it; past the execute rate: 429 with X-RateLimit-*', async () => {
    const k = createKey(srv.dataDir, { name: 'quota-x' }).key;
    const first = await exec(srv, k, body({ session_id: 'one' }));
    assert.equal(first.status, 200, first.text);
    // a second session_id is a second sandbox: over the quota
    const over = await exec(srv, k, body({ session_id: 'two' }));
    assert.equal(over.status, 403, over.text);
    assert.match(over.json.detail, /quota: this key may hold 1 sessions/);
    // the refused call took no token: one is left, then the rate refuses
    const again = await exec(srv, k, body({ session_id: 'one' }));
    assert.equal(again.status, 200, again.text);
    const fast = await exec(srv, k, body({ session_id: 'one' }));
    assert.equal(fast.status, 429, fast.text);
    assert.match(fast.json.detail, /rate limit exceeded for execute calls/);
    assert.equal(fast.headers['x-ratelimit-remaining'], '0', JSON.stringify(fast.headers));
  });
});
