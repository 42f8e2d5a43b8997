// Seed API 004, SoulBox, served by `mcpbox serve` (server/rest/soulbox*.c): the exchanges recorded from
// the document (fixtures/compat/soulbox.json) at the documented paths and under /compat/soulbox; the
// error envelope and its request ids; credentials (X-API-Key, Authorization: Bearer); the document's
// rate limits (X-RateLimit-*, 429, recovery); pagination (limit, offset, cursor, X-Pagination-*).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServe, createKey, httpRequest, httpClient, sleep, poll, hostPidsMatching } from './helpers.mjs';
import { loadCompat, compatRequest, assertExchange, runShell } from './compat.mjs';

const FX = loadCompat('soulbox');
const PREFIX = FX.prefix;
const BASES = ['', PREFIX];

export const sb = (srv, key, method, p, body, headers = {}) => httpRequest(srv, {
  method, path: p, body,
  headers: { ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...(key ? { 'X-API-Key': key } : {}), ...headers },
  timeout: 60000,
});

/** The envelope: {error: {code, message, details, request_id}}, the id also in X-Request-ID. */
function assertError(res, status, code, field) {
  assert.equal(res.status, status, res.text);
  const e = res.json?.error;
  assert.ok(e, `no error envelope: ${res.text}`);
  assert.equal(e.code, code, res.text);
  assert.equal(typeof e.message, 'string');
  assert.equal(typeof e.details, 'object');
  assert.match(e.request_id, /^req_[0-9a-f]{16}$/);
  assert.equal(res.headers['x-request-id'], e.request_id);
  if (field) assert.equal(e.details.field, field, res.text);
}

describe('soulbox (004): skeleton', () => {
  let srv;
  let alice;
  let bob;
  before(async () => {
    srv = await startServe({ config: { compat: { soulbox: { rate_limits: { requests: 10000, executions: 10000 } } } } });
    alice = createKey(srv.dataDir, { name: 'alice' }).key;
    bob = createKey(srv.dataDir, { name: 'bob' }).key;
  });
  after(async () => { await srv?.close(); });

  for (const base of BASES) {
    for (const ex of FX.exchanges.filter((e) => !e.skip && !e.later)) {
      test(`${base || '(documented path)'}: ${ex.name}`, async () => {
        const res = await compatRequest(srv, ex.request, { prefix: base, key: ex.request.key === 'bob' ? bob : alice, credential: FX.credential });
        assertExchange(res, ex.response, ex.name);
        if (res.status >= 400) assertError(res, res.status, res.json.error.code);
      });
    }
  }

  test('credentials: X-API-Key and Authorization: Bearer; missing and wrong keys are AUTHENTICATION_REQUIRED', async () => {
    let r = await sb(srv, alice, 'GET', '/api/templates');
    assert.equal(r.status, 200, r.text);
    r = await sb(srv, null, 'GET', '/api/templates', undefined, { Authorization: `Bearer ${alice}` });
    assert.equal(r.status, 200, r.text);
    assertError(await sb(srv, null, 'GET', '/api/templates'), 401, 'AUTHENTICATION_REQUIRED');
    assertError(await sb(srv, 'mcpbox_wrong', 'GET', '/api/templates'), 401, 'AUTHENTICATION_REQUIRED');
    assertError(await sb(srv, null, 'GET', '/api/templates', undefined, { Authorization: 'Bearer e30.e30.xx' }), 401, 'AUTHENTICATION_REQUIRED');
  });

  test('unknown paths and methods under /compat/soulbox answer in the envelope', async () => {
    assertError(await sb(srv, alice, 'GET', `${PREFIX}/api/nothing-here`), 404, 'RESOURCE_NOT_FOUND');
    assertError(await sb(srv, alice, 'DELETE', `${PREFIX}/api/templates`), 405, 'VALIDATION_ERROR', 'method');
  });

  test('pagination: limit, offset, cursor and the X-Pagination-* headers; X-Pagination-Next leads on', async () => {
    const all = (await sb(srv, alice, 'GET', '/api/templates')).json.templates.map((t) => t.template_id);
    assert.ok(all.length >= 3 && all.includes('basic') && all.includes('basic-python'), String(all));
    let r = await sb(srv, alice, 'GET', '/api/templates?limit=1');
    assert.equal(r.headers['x-pagination-total'], String(all.length));
    assert.equal(r.headers['x-pagination-limit'], '1');
    assert.equal(r.headers['x-pagination-offset'], '0');
    assert.equal(r.headers['x-pagination-next'], '/api/templates?offset=1&limit=1');
    const seen = [r.json.templates[0].template_id];
    while (r.headers['x-pagination-next']) {
      r = await sb(srv, alice, 'GET', r.headers['x-pagination-next']);
      assert.equal(r.status, 200, r.text);
      seen.push(...r.json.templates.map((t) => t.template_id));
    }
    assert.deepEqual(seen, all);
    r = await sb(srv, alice, 'GET', '/api/templates?limit=1');
    const c = r.headers['x-pagination-next-cursor'];
    r = await sb(srv, alice, 'GET', `/api/templates?limit=1&cursor=${c}`);
    assert.deepEqual(r.json.templates.map((t) => t.template_id), [all[1]]);
    r = await sb(srv, alice, 'GET', `/api/templates?offset=${all.length}`);
    assert.deepEqual(r.json.templates, []);
    assert.equal(r.headers['x-pagination-next'], undefined);
    assertError(await sb(srv, alice, 'GET', '/api/templates?limit=0'), 400, 'VALIDATION_ERROR', 'limit');
    assertError(await sb(srv, alice, 'GET', '/api/templates?offset=-1'), 400, 'VALIDATION_ERROR', 'offset');
    assertError(await sb(srv, alice, 'GET', '/api/templates?cursor=zzz'), 400, 'VALIDATION_ERROR', 'cursor');
    assertError(await sb(srv, alice, 'GET', `/api/templates?cursor=${c}&offset=1`), 400, 'VALIDATION_ERROR', 'cursor');
  });

  const run = (key, body, extra = {}) => sb(srv, key, 'POST', '/api/execute', body, extra);

  test('execute: files, environment and files_created; output, error and exit_code of a failing program', async () => {
    let r = await run(alice, {
      language: 'python',
      code: "import os\nprint(open('input.txt').read(), os.environ['CUSTOM_VAR'])\nopen('out/result.txt' if os.path.isdir('out') else 'result.txt', 'w').write('x' * 1234)",
      files: [{ name: 'input.txt', content: 'Sample input data' }],
      environment: { CUSTOM_VAR: 'value' },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.status, 'completed');
    assert.equal(r.json.output, 'Sample input data value\n');
    assert.equal(r.json.error, null);
    assert.deepEqual(r.json.files_created, [{ name: 'result.txt', size: 1234 }]);
    assert.match(r.json.execution_id, /^exec_[0-9a-f]{12}$/);
    assert.ok(r.json.memory_used > 1e6, r.text);
    r = await run(alice, { language: 'bash', code: 'echo out; echo oops >&2; exit 3' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.status, 'failed');
    assert.equal(r.json.exit_code, 3);
    assert.equal(r.json.output, 'out\n');
    assert.equal(r.json.error, 'oops\n');
    assert.equal(r.json.error_code, 'EXECUTION_ERROR');
    r = await run(alice, { language: 'python', code: 'import time\ntime.sleep(30)', timeout: 1 });
    assert.equal(r.json.status, 'timeout', r.text);
    assert.equal(r.json.error_code, 'EXECUTION_TIMEOUT');
    assert.ok(r.json.execution_time >= 0.9 && r.json.execution_time < 5, r.text);
  });

  test('execute: the documented languages and the real server\'s aliases', async () => {
    const hello = {
      python: "print('hi')", nodejs: "console.log('hi')", javascript: "console.log('hi')", node: "console.log('hi')",
      bash: 'echo hi', go: 'package main\nimport "fmt"\nfunc main() { fmt.Println("hi") }',
      rust: 'fn main() { println!("hi"); }', java: 'public class Main { public static void main(String[] a) { System.out.println("hi"); } }',
    };
    const res = await Promise.all(Object.entries(hello).map(([language, code]) => run(alice, { language, code, timeout: 60 })));
    for (const [i, r] of res.entries()) {
      assert.equal(r.json?.status, 'completed', `${Object.keys(hello)[i]}: ${r.text}`);
      assert.equal(r.json.output, 'hi\n');
    }
  });

  test('execute: memory_limit is the sandbox\'s memory limit; each execution gets a sandbox of its own, gone afterwards', async () => {
    let r = await run(alice, { language: 'python', code: 'x = bytearray(400 * 1024 * 1024)\nprint(len(x))', memory_limit: '64M' });
    assert.equal(r.json.status, 'failed', r.text);
    assert.notEqual(r.json.exit_code, 0);
    r = await run(alice, { language: 'python', code: 'x = bytearray(40 * 1024 * 1024)\nprint(len(x))', memory_limit: '256M', cpu_limit: 0.5 });
    assert.equal(r.json.status, 'completed', r.text);
    r = await run(alice, { language: 'bash', code: 'ls /workspace; echo left > /workspace/mark' });
    assert.equal(r.json.output, '', 'a fresh workspace');
    const mcp = await httpClient(srv, { key: alice });
    try {
      const list = await mcp.call('session_list', {});
      const left = list.structuredContent.sessions.filter((x) => x.labels?.['soulbox.execution']);
      assert.deepEqual(left, [], 'execution sandboxes are destroyed');
    } finally { await mcp.close(); }
  });

  test('execute: validation errors name the field', async () => {
    const cases = [
      [{ code: 'x' }, 'language'], [{ language: 'python' }, 'code'], [{ language: 'python', code: 1 }, 'code'],
      [{ language: 'python', code: 'x', timeout: 0 }, 'timeout'], [{ language: 'python', code: 'x', timeout: 'a' }, 'timeout'],
      [{ language: 'python', code: 'x', memory_limit: '12Q' }, 'memory_limit'], [{ language: 'python', code: 'x', memory_limit: '1M' }, 'memory_limit'],
      [{ language: 'python', code: 'x', cpu_limit: -1 }, 'cpu_limit'], [{ language: 'python', code: 'x', environment: { A: 1 } }, 'environment'],
      [{ language: 'python', code: 'x', files: [{ name: 'a' }] }, 'files'], [{ language: 'python', code: 'x', network_access: 'yes' }, 'network_access'],
      [{ language: 'python', code: 'x', sandbox_id: 'sb_x', memory_limit: '1G' }, 'memory_limit'],
    ];
    for (const [body, field] of cases) assertError(await run(alice, body), 400, 'VALIDATION_ERROR', field);
    assertError(await run(alice, '{"language": "python", "code": '), 400, 'VALIDATION_ERROR', 'body');
    assertError(await run(alice, '[1]'), 400, 'VALIDATION_ERROR', 'body');
    assertError(await run(alice, { language: 'python', code: 'print(1)', sandbox_id: 'sb_nope' }), 404, 'RESOURCE_NOT_FOUND');
    assertError(await run(null, { language: 'python', code: 'print(1)' }), 401, 'AUTHENTICATION_REQUIRED');
  });

  test('execution status and cancel (on background jobs): progress and output while it runs, then cancelled; foreign keys see nothing', async () => {
    const r = await run(alice, { language: 'python', code: 'import time\nfor i in range(100):\n    print(f"Count: {i}", flush=True)\n    time.sleep(0.1)', async: true, timeout: 20 });
    assert.equal(r.status, 202, r.text);
    assert.equal(r.json.status, 'running');
    const id = r.json.execution_id;
    await sleep(1200);
    const st = await sb(srv, alice, 'GET', `/api/execute/${id}`);
    assertExchange(st, FX.exchanges.find((e) => e.name === 'execution status').response, 'status');
    assert.equal(st.json.status, 'running');
    assert.ok(st.json.progress > 0 && st.json.progress < 1, st.text);
    assert.match(st.json.output, /^Count: 0\nCount: 1\n/);
    assertError(await sb(srv, bob, 'GET', `/api/execute/${id}`), 404, 'RESOURCE_NOT_FOUND');
    assertError(await sb(srv, bob, 'DELETE', `/api/execute/${id}`), 404, 'RESOURCE_NOT_FOUND');
    const del = await sb(srv, alice, 'DELETE', `/api/execute/${id}`);
    assertExchange(del, FX.exchanges.find((e) => e.name === 'execution cancel').response, 'cancel');
    const t0 = Date.now();
    let after;
    do { after = await sb(srv, alice, 'GET', `/api/execute/${id}`); } while (after.json.completed_at === null && Date.now() - t0 < 5000 && !(await sleep(50)));
    assert.equal(after.json.status, 'cancelled', after.text);
    assert.equal(after.json.progress, 1);
    assert.ok(after.json.execution_time < 10, after.text);
    assertError(await sb(srv, alice, 'DELETE', `/api/execute/${id}`), 409, 'VALIDATION_ERROR', 'execution_id');
    assertError(await sb(srv, alice, 'GET', '/api/execute/exec_000000000000'), 404, 'RESOURCE_NOT_FOUND');
    // a finished synchronous execution's status stays known
    const done = await run(alice, { language: 'bash', code: 'echo fin' });
    const got = await sb(srv, alice, 'GET', `/api/execute/${done.json.execution_id}`);
    assert.equal(got.json.status, 'completed');
    assert.equal(got.json.output, 'fin\n');
    assert.equal(got.json.progress, 1);
  });

  test('a client that leaves mid-execution cancels it: the program is killed and its sandbox destroyed', async () => {
    const marker = `sbgone${Date.now()}`;
    const req = httpRequest(srv, {
      method: 'POST', path: '/api/execute', headers: { 'Content-Type': 'application/json', 'X-API-Key': alice },
      body: { language: 'bash', code: `exec -a ${marker} sleep 30` }, timeout: 1500,
    });
    await assert.rejects(req, /timed out/);
    assert.ok(await poll(() => hostPidsMatching(marker).length === 0, { timeout: 5000 }), 'the program still runs');
    const mcp = await httpClient(srv, { key: alice });
    try {
      assert.ok(await poll(async () => {
        const list = await mcp.call('session_list', {});
        return !list.structuredContent.sessions.some((x) => x.labels?.['soulbox.execution']);
      }, { timeout: 5000 }), 'its sandbox is left');
    } finally { await mcp.close(); }
  });
});

describe('soulbox (004): rate limits', () => {
  let srv;
  let bob;
  before(async () => {
    srv = await startServe({ config: { compat: { soulbox: { rate_limits: { requests: 30, executions: 3 } } } } });
    bob = createKey(srv.dataDir, { name: 'bob' }).key;
  });
  after(async () => { await srv?.close(); });

  test('executions have their own bucket: the 4th execution in a minute is refused, other requests are not', async () => {
    const dave = createKey(srv.dataDir, { name: 'dave' }).key;
    for (let i = 0; i < 3; i++) {
      const r = await sb(srv, dave, 'POST', '/api/execute', { language: 'bash', code: 'true' });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.headers['x-ratelimit-limit'], '3');
    }
    assertError(await sb(srv, dave, 'POST', '/api/execute', { language: 'bash', code: 'true' }), 429, 'RESOURCE_LIMIT_EXCEEDED');
    assert.equal((await sb(srv, dave, 'GET', '/api/templates')).status, 200);
  });

  test('rate limits: X-RateLimit-* count down, 429 RESOURCE_LIMIT_EXCEEDED with Retry-After, per key, and recovery', async () => {
    // a fresh key: 30 requests a minute (the config), one more every 2 s
    const carol = createKey(srv.dataDir, { name: 'carol' }).key;
    let last = Infinity;
    let refused = null;
    for (let i = 0; i < 40 && !refused; i++) {
      const r = await sb(srv, carol, 'GET', '/api/templates/basic');
      if (r.status === 429) { refused = r; break; }
      assert.equal(r.status, 200, r.text);
      assert.equal(r.headers['x-ratelimit-limit'], '30');
      const rem = Number(r.headers['x-ratelimit-remaining']);
      assert.ok(rem < last, `remaining ${rem} after ${last}`);
      last = rem;
      assert.ok(Number(r.headers['x-ratelimit-reset']) > Date.now() / 1000 - 1);
    }
    assert.ok(refused, 'never refused');
    assertError(refused, 429, 'RESOURCE_LIMIT_EXCEEDED');
    assert.equal(refused.headers['x-ratelimit-remaining'], '0');
    const wait = Number(refused.headers['retry-after']);
    assert.ok(wait >= 1 && wait <= 3, `Retry-After ${wait}`);
    // another key is not affected
    assert.equal((await sb(srv, bob, 'GET', '/api/templates/basic')).status, 200);
    await sleep(wait * 1000 + 100);
    const again = await sb(srv, carol, 'GET', '/api/templates/basic');
    assert.equal(again.status, 200, again.text);
  });
});
