// Seed API 004, SoulBox, served by `mcpbox serve` (server/rest/soulbox*.c): the exchanges recorded from
// the document (fixtures/compat/soulbox.json) at the documented paths and under /compat/soulbox; the
// error envelope and its request ids; credentials (X-API-Key, Authorization: Bearer); the document's
// rate limits (X-RateLimit-*, 429, recovery); pagination (limit, offset, cursor, X-Pagination-*).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import WebSocket from 'ws';
import { spawnSync } from 'node:child_process';
import { startServe, createKey, keyCli, httpRequest, httpClient, sleep, poll, hostPidsMatching, BIN } from './helpers.mjs';
import { loadCompat, compatRequest, assertExchange, runShell, runPython } from './compat.mjs';
import { sb, assertError } from './soulbox_client.mjs';

const FX = loadCompat('soulbox');
const PREFIX = FX.prefix;
const BASES = ['', PREFIX];

const ex = (name) => FX.exchanges.find((e) => e.name === name);

/** A server whose own rate limits stay out of the way (unless given), and two keys. */
async function serveWithKeys(rateLimits = { requests: 10000, executions: 10000, uploads: 10000 }) {
  const srv = await startServe({ config: { compat: { soulbox: { rate_limits: rateLimits } } } });
  return { srv, alice: createKey(srv.dataDir, { name: 'alice' }).key, bob: createKey(srv.dataDir, { name: 'bob' }).key };
}

// one server for every part but the rate limits' (which needs its own numbers)
let srv;
let alice;
let bob;
before(async () => ({ srv, alice, bob } = await serveWithKeys()));
after(async () => { await srv?.close(); });

describe('soulbox (004): skeleton', () => {

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

  test('failure messages say what failed without naming mcpbox\'s tools (a SoulBox client calls none)', async () => {
    const made = await sb(srv, alice, 'POST', '/api/sandboxes', { name: `msgs-${Date.now()}` });
    assert.equal(made.status, 201, made.text);
    const cases = [
      [await sb(srv, alice, 'GET', '/api/templates/no-such-template'), 404, /^template "no-such-template" not found/],
      [await sb(srv, alice, 'POST', '/api/sandboxes', { template: 'no-such-template' }), 404, /^template "no-such-template" not found/],
      [await sb(srv, alice, 'DELETE', `/api/sandboxes/${made.json.sandbox_id}/files/absent.txt`), 404, /^path "absent.txt" does not exist/],
      [await sb(srv, alice, 'GET', '/api/metrics/performance?duration=forever'), 400, /^duration "forever" must be/],
    ];
    for (const [r, status, message] of cases) {
      assertError(r, status, r.json.error.code);
      assert.match(r.json.error.message, message, r.text);
    }
    assert.equal((await sb(srv, alice, 'DELETE', `/api/sandboxes/${made.json.sandbox_id}`)).status, 200);
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
    const gone = await run(alice, { language: 'python', code: 'print(1)', sandbox_id: 'ses_000000000000000000000000' });
    assertError(gone, 404, 'RESOURCE_NOT_FOUND');
    assert.equal(gone.json.error.message, 'Sandbox ses_000000000000000000000000 not found');
    assertError(await run(null, { language: 'python', code: 'print(1)' }), 401, 'AUTHENTICATION_REQUIRED');
  });

  test('ended executions kept for GET are bounded in bytes per key (32 MiB), so a key\'s big outputs push out only its own', { timeout: 120000 }, async () => {
    // each ended execution kept its whole answer (up to 4 MiB of output) until 1,000 of them had
    // ended, whoever ran them: one key could make the server hold 4 GB
    const hog = createKey(srv.dataDir, { name: 'hog' }).key;
    const quiet = createKey(srv.dataDir, { name: 'quiet' }).key;
    const big = { language: 'bash', code: 'head -c 4000000 /dev/zero | tr "\\0" a' };
    const small = await run(quiet, { language: 'bash', code: 'echo kept' });
    assert.equal(small.status, 200, small.text);
    const box = (await sb(srv, hog, 'POST', '/api/sandboxes', { name: 'hog-box' })).json.sandbox_id;
    const ids = [];
    for (let i = 0; i < 9; i++) {
      const r = await run(hog, { ...big, sandbox_id: box });
      assert.equal(r.status, 200, r.text.slice(0, 300));
      assert.equal(r.json.output.length, 4000000);
      ids.push(r.json.execution_id);
    }
    // 9 x 4 MB > 32 MiB: the oldest of its own went, the newest are kept whole
    const first = await sb(srv, hog, 'GET', `/api/execute/${ids[0]}`);
    assert.equal(first.status, 404, first.text.slice(0, 300));
    const last = await sb(srv, hog, 'GET', `/api/execute/${ids[8]}`);
    assert.equal(last.status, 200, last.text.slice(0, 300));
    assert.equal(last.json.output.length, 4000000);
    // another key's ended execution is still known
    const q = await sb(srv, quiet, 'GET', `/api/execute/${small.json.execution_id}`);
    assert.equal(q.status, 200, q.text);
    assert.equal(q.json.output, 'kept\n');
    await sb(srv, hog, 'DELETE', `/api/sandboxes/${box}`);
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

describe('soulbox (004): sandboxes', () => {
  const withId = (name, id) => ({ ...ex(name).request, path: ex(name).request.path.replace('{sandbox_id}', id) });

  for (const base of BASES) {
    test(`${base || '(documented path)'}: create, list, details, update, delete as documented`, async () => {
      const made = await compatRequest(srv, ex('sandboxes: create').request, { prefix: base, key: alice, credential: FX.credential });
      assertExchange(made, ex('sandboxes: create').response, 'create');
      const id = made.json.sandbox_id;
      assert.deepEqual(made.json.network, { enabled: false, allowed_hosts: [] });
      // the sandbox is an mcpbox session of the key, with its environment
      const r = await sb(srv, alice, 'POST', `${base}/api/execute`, { language: 'bash', code: 'echo $PYTHON_PATH; echo data > script.py', sandbox_id: id });
      assert.equal(r.json.output, '/custom/path\n', r.text);
      const list = await compatRequest(srv, ex('sandboxes: list').request, { prefix: base, key: alice, credential: FX.credential });
      assertExchange(list, ex('sandboxes: list').response, 'list');
      assert.ok(list.json.sandboxes.some((x) => x.sandbox_id === id && x.name === 'my-sandbox' && x.runtime === 'python'));
      const got = await compatRequest(srv, withId('sandboxes: details', id), { prefix: base, key: alice, credential: FX.credential });
      assertExchange(got, ex('sandboxes: details').response, 'details');
      assert.deepEqual(got.json.files.map((f) => [f.name, f.size]), [['script.py', 5]]);
      assert.equal(got.json.template, 'basic');
      const put = withId('sandboxes: update', id);
      if (os.cpus().length < 2) put.body = { ...put.body, resources: { memory_limit: '1G', cpu_limit: 1.0 } };
      const upd = await compatRequest(srv, put, { prefix: base, key: alice, credential: FX.credential });
      assertExchange(upd, ex('sandboxes: update').response, 'update');
      const after2 = await sb(srv, alice, 'POST', `${base}/api/execute`, { language: 'bash', code: 'echo $NEW_VAR $PYTHON_PATH', sandbox_id: id });
      assert.equal(after2.json.output, 'new_value /custom/path\n', after2.text);
      assertError(await sb(srv, bob, 'GET', `${base}/api/sandboxes/${id}`), 404, 'RESOURCE_NOT_FOUND');
      assertError(await sb(srv, bob, 'DELETE', `${base}/api/sandboxes/${id}`), 404, 'RESOURCE_NOT_FOUND');
      assert.ok(!(await sb(srv, bob, 'GET', `${base}/api/sandboxes`)).json.sandboxes.some((x) => x.sandbox_id === id));
      const del = await compatRequest(srv, withId('sandboxes: delete', id), { prefix: base, key: alice, credential: FX.credential });
      assertExchange(del, ex('sandboxes: delete').response, 'delete');
      assertError(await sb(srv, alice, 'GET', `${base}/api/sandboxes/${id}`), 404, 'RESOURCE_NOT_FOUND');
    });
  }

  test('resources are the session\'s limits: memory_limit is enforced, and PUT raises it', async () => {
    const made = await sb(srv, alice, 'POST', '/api/sandboxes', { name: 'small', runtime: 'python', resources: { memory_limit: '64M' } });
    assert.equal(made.status, 201, made.text);
    const id = made.json.sandbox_id;
    const grow = { language: 'python', code: 'x = bytearray(150 * 1024 * 1024)\nprint(len(x))', sandbox_id: id };
    let r = await sb(srv, alice, 'POST', '/api/execute', grow);
    assert.equal(r.json.status, 'failed', r.text);
    const upd = await sb(srv, alice, 'PUT', `/api/sandboxes/${id}`, { resources: { memory_limit: '512M' } });
    assert.equal(upd.json.resources.memory_limit, '512M', upd.text);
    r = await sb(srv, alice, 'POST', '/api/execute', grow);
    assert.equal(r.json.status, 'completed', r.text);
    const mcp = await httpClient(srv, { key: alice });
    try {
      const info = await mcp.call('session_info', { session_id: id });
      assert.equal(info.structuredContent.limits.memory_mb, 512);
    } finally { await mcp.close(); }
    assert.equal((await sb(srv, alice, 'DELETE', `/api/sandboxes/${id}`)).status, 200);
  });

  test('network: enabled without allowed_hosts is served; allowed_hosts with network on is refused clearly', async () => {
    const refused = await sb(srv, alice, 'POST', '/api/sandboxes', { name: 'n', network: { enabled: true, allowed_hosts: ['api.example.com'] } });
    assertError(refused, 400, 'VALIDATION_ERROR', 'network.allowed_hosts');
    assert.match(refused.json.error.details.reason, /cannot limit a sandbox's network to named hosts/);
    const off = await sb(srv, alice, 'POST', '/api/sandboxes', { name: 'n', network: { enabled: false } });
    assert.equal(off.json.network.enabled, false);
    const ifaces = "import socket\nprint(' '.join(sorted(n for _, n in socket.if_nameindex())))";
    let r = await sb(srv, alice, 'POST', '/api/execute', { language: 'python', code: ifaces, sandbox_id: off.json.sandbox_id });
    assert.equal(r.json.output, 'lo\n', r.text);
    await sb(srv, alice, 'DELETE', `/api/sandboxes/${off.json.sandbox_id}`);
    const on = await sb(srv, alice, 'POST', '/api/sandboxes', { name: 'n', network: { enabled: true, allowed_hosts: [] } });
    if (on.status === 503 && /\/dev\/net\/tun/.test(on.text)) return; // this host cannot give a sandbox network (as nobody): said so
    assert.equal(on.status, 201, on.text);
    assert.equal(on.json.network.enabled, true);
    r = await sb(srv, alice, 'POST', '/api/execute', { language: 'python', code: ifaces, sandbox_id: on.json.sandbox_id });
    assert.notEqual(r.json.output, 'lo\n', r.text);
    assert.equal((await sb(srv, alice, 'GET', `/api/sandboxes/${on.json.sandbox_id}`)).json.network.enabled, true);
    await sb(srv, alice, 'DELETE', `/api/sandboxes/${on.json.sandbox_id}`);
  });

  test('list filters (status, runtime), pagination headers; delete without force refuses a sandbox that is running code', async () => {
    const ids = [];
    for (const runtime of ['python', 'nodejs', 'go']) ids.push((await sb(srv, bob, 'POST', '/api/sandboxes', { name: `rt-${runtime}`, runtime })).json.sandbox_id);
    let r = await sb(srv, bob, 'GET', '/api/sandboxes?runtime=nodejs');
    assert.deepEqual(r.json.sandboxes.map((x) => x.name), ['rt-nodejs']);
    r = await sb(srv, bob, 'GET', '/api/sandboxes?status=stopped');
    assert.deepEqual(r.json.sandboxes, []);
    r = await sb(srv, bob, 'GET', '/api/sandboxes?status=running&limit=2');
    assert.equal(r.json.total, 3);
    assert.equal(r.json.sandboxes.length, 2);
    assert.equal(r.json.limit, 2);
    assert.equal(r.headers['x-pagination-total'], '3');
    assert.equal(r.headers['x-pagination-next'], '/api/sandboxes?status=running&offset=2&limit=2');
    r = await sb(srv, bob, 'GET', r.headers['x-pagination-next']);
    assert.equal(r.json.sandboxes.length, 1);
    assert.equal(r.json.offset, 2);
    assertError(await sb(srv, bob, 'GET', '/api/sandboxes?status=sleeping'), 400, 'VALIDATION_ERROR', 'status');
    const job = await sb(srv, bob, 'POST', '/api/execute', { language: 'bash', code: 'sleep 20', sandbox_id: ids[0], async: true });
    assert.equal(job.status, 202);
    await sleep(300);
    assertError(await sb(srv, bob, 'DELETE', `/api/sandboxes/${ids[0]}`), 409, 'VALIDATION_ERROR', 'force');
    assert.equal((await sb(srv, bob, 'DELETE', `/api/sandboxes/${ids[0]}?force=true`)).status, 200);
    const st = await poll(async () => {
      const x = await sb(srv, bob, 'GET', `/api/execute/${job.json.execution_id}`);
      return x.json.completed_at ? x : null;
    }, { timeout: 5000 });
    assert.ok(st && st.json.status !== 'completed', st?.text);
    for (const id of ids.slice(1)) assert.equal((await sb(srv, bob, 'DELETE', `/api/sandboxes/${id}`)).status, 200);
  });

  test('executions in a sandbox named by its name: one naming no sandbox fails in its record (async too, and the server goes on); a forced delete ends a running one; results carry the sandbox\'s id', async () => {
    const status = async (id) => poll(async () => {
      const x = await sb(srv, bob, 'GET', `/api/execute/${id}`);
      return x.json.completed_at ? x : null;
    }, { timeout: 5000 });
    for (const sandbox_id of ['no-such-sandbox', 'ses_000000000000000000000000']) {
      assertError(await sb(srv, bob, 'POST', '/api/execute', { language: 'bash', code: 'true', sandbox_id }), 404, 'RESOURCE_NOT_FOUND');
      const a = await sb(srv, bob, 'POST', '/api/execute', { language: 'bash', code: 'true', sandbox_id, async: true });
      assert.equal(a.status, 202, a.text);
      const st = await status(a.json.execution_id);
      assert.ok(st, 'the execution never ended');
      assert.equal(st.json.status, 'failed', st.text);
      assert.equal(st.json.error.code, 'RESOURCE_NOT_FOUND', st.text);
    }
    const named = `named-${Date.now()}`;
    const made = await sb(srv, bob, 'POST', '/api/sandboxes', { name: named });
    assert.equal(made.status, 201, made.text);
    const done = await sb(srv, bob, 'POST', '/api/execute', { language: 'bash', code: 'echo in-named', sandbox_id: named });
    assert.equal(done.json.output, 'in-named\n', done.text);
    assert.equal(done.json.sandbox_id, made.json.sandbox_id);
    const job = await sb(srv, bob, 'POST', '/api/execute', { language: 'bash', code: 'sleep 20', sandbox_id: named, async: true });
    assert.equal(job.status, 202, job.text);
    await sleep(300);
    assert.equal((await sb(srv, bob, 'DELETE', `/api/sandboxes/${named}?force=true`)).status, 200);
    const st = await status(job.json.execution_id);
    assert.ok(st && st.json.status === 'failed', st?.text);
    assert.equal(st.json.sandbox_id, made.json.sandbox_id);
    assert.equal((await sb(srv, bob, 'GET', '/api/templates')).status, 200);
  });

  test('sandbox validation errors name the field', async () => {
    const cases = [
      [{ runtime: 'cobol' }, 'runtime'], [{ name: '' }, 'name'], [{ template: 5 }, 'template'],
      [{ resources: { memory_limit: 'lots' } }, 'resources.memory_limit'], [{ resources: { cpu_limit: 0 } }, 'resources.cpu_limit'],
      [{ resources: { disk_limit: 'x' } }, 'resources.disk_limit'], [{ environment: { A: 1 } }, 'environment'],
      [{ network: { enabled: 'yes' } }, 'network'], [{ resources: [] }, 'resources'],
    ];
    for (const [body, field] of cases) assertError(await sb(srv, alice, 'POST', '/api/sandboxes', body), 400, 'VALIDATION_ERROR', field);
    assertError(await sb(srv, alice, 'POST', '/api/sandboxes', { template: 'no-such' }), 404, 'RESOURCE_NOT_FOUND');
    assertError(await sb(srv, alice, 'PUT', '/api/sandboxes/ses_nope', { resources: { memory_limit: '1G' } }), 404, 'RESOURCE_NOT_FOUND');
    const made = await sb(srv, alice, 'POST', '/api/sandboxes', {});
    assert.equal(made.status, 201, made.text);
    assertError(await sb(srv, alice, 'PUT', `/api/sandboxes/${made.json.sandbox_id}`, { network: { enabled: true } }), 400, 'VALIDATION_ERROR', 'network');
    assertError(await sb(srv, alice, 'DELETE', `/api/sandboxes/${made.json.sandbox_id}?force=maybe`), 400, 'VALIDATION_ERROR', 'force');
    assert.equal((await sb(srv, alice, 'DELETE', `/api/sandboxes/${made.json.sandbox_id}`)).status, 200);
  });
});

describe('soulbox (004): files and snapshots', () => {
  let id;
  before(async () => {
    id = (await sb(srv, alice, 'POST', '/api/sandboxes', { name: 'files' })).json.sandbox_id;
  });
  const req = (name, vars) => {
    const r = JSON.parse(JSON.stringify(ex(name).request).replace(/\{(sandbox_id|snapshot_id)\}/g, (_, k) => vars[k]));
    return r;
  };
  /** POST /api/files/upload with fields (strings) and files ([field, name, Buffer]) as multipart/form-data. */
  const upload = async (key, fields, files, prefix = '') => {
    const fd = new FormData();
    for (const [k, v] of Object.entries(fields)) fd.append(k, v);
    for (const [field, name, data] of files) fd.append(field, new Blob([data]), name);
    const res = await fetch(`${srv.base}${prefix}/api/files/upload`, { method: 'POST', body: fd, headers: key ? { 'X-API-Key': key } : {} });
    const text = await res.text();
    let json;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: res.status, headers: Object.fromEntries(res.headers), text, json };
  };

  for (const base of BASES) {
    test(`${base || '(documented path)'}: upload, list, download, delete as documented`, async () => {
      const bin = Buffer.from([0, 1, 2, 255, 254, 10, 13, 0]);
      let r = await upload(alice, { sandbox_id: id }, [['file', 'script.py', Buffer.from("print('hi')\n")]], base);
      assertExchange(r, ex('files: upload').response, 'upload');
      assert.deepEqual(r.json.files.map((f) => [f.name, f.path, f.size]), [['script.py', '/workspace/script.py', 12]]);
      r = await upload(alice, { sandbox_id: id, path: '/sandbox/holder/data/' }, [['file', 'blob.bin', bin]], base);
      assert.equal(r.json.files[0].path, '/workspace/holder/data/blob.bin', r.text);
      const ran = await sb(srv, alice, 'POST', `${base}/api/execute`, { language: 'python', code: "print(open('script.py').read(), end='')", sandbox_id: id });
      assert.equal(ran.json.output, "print('hi')\n");
      const list = await compatRequest(srv, req('files: list', { sandbox_id: id }), { prefix: base, key: alice, credential: FX.credential });
      assertExchange(list, ex('files: list').response, 'list');
      assert.deepEqual(list.json.files.map((f) => [f.name, f.path, f.type, f.size]), [['blob.bin', '/workspace/holder/data/blob.bin', 'file', bin.length]]);
      const dirs = await compatRequest(srv, req('files: list with a directory', { sandbox_id: id }), { prefix: base, key: alice, credential: FX.credential });
      assertExchange(dirs, ex('files: list with a directory').response, 'list dirs');
      const rec = await sb(srv, alice, 'GET', `${base}/api/sandboxes/${id}/files?recursive=true`);
      assert.ok(rec.json.files.some((f) => f.path === '/workspace/holder/data/blob.bin' && f.size === bin.length), rec.text);
      const dl = await fetch(`${srv.base}${base}/api/sandboxes/${id}/files/holder/data/blob.bin`, { headers: { 'X-API-Key': alice } });
      assert.equal(dl.status, 200);
      assert.equal(dl.headers.get('content-type'), 'application/octet-stream');
      assert.deepEqual(Buffer.from(await dl.arrayBuffer()), bin);
      const py = await fetch(`${srv.base}${base}/api/sandboxes/${id}/files/script.py`, { headers: { 'X-API-Key': alice } });
      assert.match(py.headers.get('content-type'), /^text\/x-python/);
      assert.equal(await py.text(), "print('hi')\n");
      const del = await compatRequest(srv, req('files: delete', { sandbox_id: id }), { prefix: base, key: alice, credential: FX.credential });
      assertExchange(del, ex('files: delete').response, 'delete');
      assertError(await sb(srv, alice, 'GET', `${base}/api/sandboxes/${id}/files/script.py`), 404, 'RESOURCE_NOT_FOUND');
    });
  }

  test('paths that leave the workspace are refused in upload and download; other keys see nothing', async () => {
    for (const path of ['../escape.py', '/etc/evil', '/sandbox/../../x']) {
      const r = await upload(alice, { sandbox_id: id, path }, [['file', 'a.txt', Buffer.from('x')]]);
      assertError(r, 400, 'VALIDATION_ERROR');
    }
    const r = await upload(alice, { sandbox_id: id }, [['file', '../../../../tmp/evil.txt', Buffer.from('x')]]);
    assert.equal(r.json.files[0].path, '/workspace/evil.txt', 'a filename keeps only its last component');
    await sb(srv, alice, 'POST', '/api/execute', { language: 'bash', code: 'ln -sf /etc/passwd link; ln -sfn / rootlink', sandbox_id: id });
    assertError(await sb(srv, alice, 'GET', `/api/sandboxes/${id}/files/link`), 400, 'VALIDATION_ERROR');
    assertError(await sb(srv, alice, 'GET', `/api/sandboxes/${id}/files/rootlink/etc/passwd`), 400, 'VALIDATION_ERROR');
    const up = await upload(alice, { sandbox_id: id, path: 'rootlink/tmp/owned.txt' }, [['file', 'a.txt', Buffer.from('x')]]);
    assertError(up, 400, 'VALIDATION_ERROR');
    const enc = await sb(srv, alice, 'GET', `/api/sandboxes/${id}/files/..%2F..%2F..%2Fetc%2Fpasswd`);
    assert.ok(enc.status >= 400 && !enc.text.includes('root:'), enc.text);
    assertError(await upload(bob, { sandbox_id: id }, [['file', 'a.txt', Buffer.from('x')]]), 404, 'RESOURCE_NOT_FOUND');
    assertError(await sb(srv, bob, 'GET', `/api/sandboxes/${id}/files`), 404, 'RESOURCE_NOT_FOUND');
    assertError(await sb(srv, bob, 'GET', `/api/sandboxes/${id}/files/evil.txt`), 404, 'RESOURCE_NOT_FOUND');
  });

  test('malformed uploads: 10 MB of multipart garbage, no boundary, missing fields are VALIDATION_ERROR; the server goes on', async () => {
    const garbage = crypto.randomBytes(10 * 1024 * 1024);
    const post = (body, ctype) => httpRequest(srv, { method: 'POST', path: '/api/files/upload', body, headers: { 'X-API-Key': alice, 'Content-Type': ctype }, timeout: 60000 });
    assertError(await post(garbage, 'multipart/form-data; boundary=xyzzy'), 400, 'VALIDATION_ERROR', 'file');
    // garbage after a real first boundary, and a body that never closes its part
    assertError(await post(Buffer.concat([Buffer.from('--xyzzy\r\n'), garbage]), 'multipart/form-data; boundary=xyzzy'), 400, 'VALIDATION_ERROR', 'file');
    assertError(await post(Buffer.from('--xyzzy\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nabc'), 'multipart/form-data; boundary=xyzzy'), 400, 'VALIDATION_ERROR', 'file');
    assertError(await post(garbage, 'multipart/form-data'), 400, 'VALIDATION_ERROR', 'file');
    assertError(await post('{"sandbox_id": "x"}', 'application/json'), 400, 'VALIDATION_ERROR', 'file');
    assertError(await upload(alice, { sandbox_id: id }, []), 400, 'VALIDATION_ERROR', 'file');
    assertError(await upload(alice, {}, [['file', 'a.txt', Buffer.from('x')]]), 400, 'VALIDATION_ERROR', 'sandbox_id');
    // several files at once; then a 9 MiB file (written and read in two pieces) comes back byte for byte
    let r = await upload(alice, { sandbox_id: id, path: 'many' }, [['file', 'one.txt', Buffer.from('1')], ['file', 'two.txt', Buffer.from('22')]]);
    assert.deepEqual(r.json.files.map((f) => [f.path, f.size]), [['/workspace/many/one.txt', 1], ['/workspace/many/two.txt', 2]]);
    const big = crypto.randomBytes(9 * 1024 * 1024 + 7);
    r = await upload(alice, { sandbox_id: id, path: 'big.bin' }, [['file', 'ignored.bin', big]]);
    assert.equal(r.json.files[0].size, big.length, r.text);
    const dl = await fetch(`${srv.base}/api/sandboxes/${id}/files/big.bin`, { headers: { 'X-API-Key': alice } });
    assert.equal(dl.headers.get('content-length'), String(big.length));
    assert.ok(Buffer.from(await dl.arrayBuffer()).equals(big));
  });

  test('snapshots: include_memory is refused; create, list, restore, delete as documented', async () => {
    const vars = { sandbox_id: id };
    await sb(srv, alice, 'POST', '/api/execute', { language: 'bash', code: 'echo v1 > state.txt', sandbox_id: id });
    const mem = await compatRequest(srv, req('snapshots: create with include_memory', vars), { key: alice, credential: FX.credential });
    assertExchange(mem, ex('snapshots: create with include_memory').response, 'include_memory');
    const made = await compatRequest(srv, req('snapshots: create', vars), { key: alice, credential: FX.credential });
    assertExchange(made, ex('snapshots: create').response, 'create');
    vars.snapshot_id = made.json.snapshot_id;
    const list = await compatRequest(srv, req('snapshots: list', vars), { key: alice, credential: FX.credential });
    assertExchange(list, ex('snapshots: list').response, 'list');
    const mine = list.json.snapshots.find((x) => x.snapshot_id === vars.snapshot_id);
    assert.deepEqual(mine.tags, { version: '1.0', environment: 'production' });
    assert.equal(mine.type, 'full');
    await sb(srv, alice, 'POST', '/api/execute', { language: 'bash', code: 'echo v2 > state.txt; touch new.txt', sandbox_id: id });
    assertError(await sb(srv, alice, 'POST', `/api/snapshots/${vars.snapshot_id}/restore`, { restore_options: { include_memory: true } }), 400, 'VALIDATION_ERROR', 'restore_options.include_memory');
    assertError(await sb(srv, bob, 'POST', `/api/snapshots/${vars.snapshot_id}/restore`, {}), 404, 'RESOURCE_NOT_FOUND');
    const rs = await compatRequest(srv, req('snapshots: restore', vars), { key: alice, credential: FX.credential });
    assertExchange(rs, ex('snapshots: restore').response, 'restore');
    const after = await sb(srv, alice, 'POST', '/api/execute', { language: 'bash', code: 'cat state.txt; ls new.txt 2>&1 | head -c 20', sandbox_id: id });
    assert.match(after.json.output, /^v1\nls: cannot access/, after.text);
    // a restore into a new sandbox of the same key
    const other = (await sb(srv, alice, 'POST', '/api/sandboxes', { name: 'target' })).json.sandbox_id;
    assert.equal((await sb(srv, alice, 'POST', `/api/snapshots/${vars.snapshot_id}/restore`, { target_sandbox_id: other })).status, 200);
    const there = await sb(srv, alice, 'POST', '/api/execute', { language: 'bash', code: 'cat state.txt', sandbox_id: other });
    assert.equal(there.json.output, 'v1\n');
    assertError(await sb(srv, bob, 'DELETE', `/api/snapshots/${vars.snapshot_id}`), 404, 'RESOURCE_NOT_FOUND');
    const del = await compatRequest(srv, req('snapshots: delete', vars), { key: alice, credential: FX.credential });
    assertExchange(del, ex('snapshots: delete').response, 'delete');
    assertError(await sb(srv, alice, 'DELETE', `/api/snapshots/${vars.snapshot_id}`), 404, 'RESOURCE_NOT_FOUND');
    assertError(await sb(srv, alice, 'GET', '/api/sandboxes/ses_nope/snapshots'), 404, 'RESOURCE_NOT_FOUND');
    assertError(await sb(srv, alice, 'POST', `/api/sandboxes/${id}/snapshots`, { type: 'differential' }), 400, 'VALIDATION_ERROR', 'type');
  });
});

/** A WebSocket to /ws/execute: {ws, next(pred?, ms) → the next message (JSON, with .at ms), all}. */
async function wsExecute(srv, { key, bearer, query = '', prefix = '' } = {}) {
  const headers = { ...(key ? { 'X-API-Key': key } : {}), ...(bearer ? { Authorization: `Bearer ${bearer}` } : {}) };
  const ws = new WebSocket(`${srv.base.replace('http', 'ws')}${prefix}/ws/execute${query}`, { headers });
  const all = [];
  const waiters = [];
  ws.on('message', (d) => {
    const m = JSON.parse(d);
    m.at = Date.now();
    all.push(m);
    for (const w of waiters.splice(0)) w();
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('unexpected-response', (_, res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => reject(Object.assign(new Error(`refused ${res.statusCode}`), { status: res.statusCode, body })));
    });
    ws.once('error', reject);
  });
  let seen = 0;
  const next = async (ms = 20000) => {
    const t0 = Date.now();
    while (seen >= all.length) {
      if (Date.now() - t0 > ms) throw new Error(`no message in ${ms} ms (got ${JSON.stringify(all)})`);
      await new Promise((r) => { waiters.push(r); setTimeout(r, 50); });
    }
    return all[seen++];
  };
  /** Messages up to and including the completion (or an error). */
  const untilDone = async (ms = 30000) => {
    const out = [];
    for (;;) {
      const m = await next(ms);
      out.push(m);
      if (m.type === 'completion' || m.type === 'error') return out;
    }
  };
  return { ws, next, untilDone, all, send: (o) => ws.send(typeof o === 'string' ? o : JSON.stringify(o)) };
}

describe('soulbox (004): /ws/execute', () => {

  for (const base of BASES) {
    test(`${base || '(documented path)'}: the document's counting loop streams line by line as it is printed, then completion`, async () => {
      const c = await wsExecute(srv, { key: alice, prefix: base });
      try {
        const t0 = Date.now();
        c.send({ type: 'execute', language: 'python', code: "import time\nfor i in range(5):\n    print(f'Count: {i}')\n    time.sleep(0.4)", timeout: 30 });
        const msgs = await c.untilDone();
        const outs = msgs.filter((m) => m.type === 'output');
        assert.deepEqual(outs.map((m) => m.data), [0, 1, 2, 3, 4].map((i) => `Count: ${i}\n`));
        assert.deepEqual(outs.map((m) => m.output), outs.map((m) => m.data), 'the user guide reads data.output');
        const done = msgs.at(-1);
        assert.equal(done.type, 'completion', JSON.stringify(msgs));
        assert.equal(done.status, 'completed');
        assert.equal(done.exit_code, 0);
        assert.match(done.execution_id, /^exec_[0-9a-f]{12}$/);
        assert.ok(done.execution_time >= 1.6 && done.execution_time < 10, String(done.execution_time));
        // arrival times prove streaming: each line ~0.4 s after the one before, the first long before the end
        assert.ok(outs[0].at - t0 < 1500, `first line after ${outs[0].at - t0} ms`);
        for (let i = 1; i < outs.length; i++) {
          const gap = outs[i].at - outs[i - 1].at;
          assert.ok(gap > 250 && gap < 1500, `gap ${i}: ${gap} ms`);
        }
        assert.ok(done.at - outs[0].at > 1400, 'the first line came with the completion');
      } finally { c.ws.close(); }
    });
  }

  test('its executions are kept: GET /api/execute/{id} answers while one runs (output so far) and after (the result); DELETE cancels one; other keys see none', async () => {
    const c = await wsExecute(srv, { key: alice });
    try {
      c.send({ type: 'execute', language: 'bash', code: 'echo one; sleep 2; echo two >&2; exit 3', timeout: 20 });
      const first = await c.next();
      assert.equal(first.type, 'output', JSON.stringify(first));
      const id = first.execution_id;
      assert.match(id, /^exec_[0-9a-f]{12}$/);
      const live = await sb(srv, alice, 'GET', `/api/execute/${id}`);
      assert.equal(live.status, 200, live.text);
      assert.deepEqual([live.json.execution_id, live.json.status, live.json.completed_at, live.json.output], [id, 'running', null, 'one\n']);
      assert.ok(live.json.progress >= 0 && live.json.progress < 1, String(live.json.progress));
      const msgs = await c.untilDone();
      const done = msgs.at(-1);
      assert.deepEqual([done.type, done.execution_id, done.status, done.exit_code], ['completion', id, 'failed', 3]);
      const kept = await sb(srv, alice, 'GET', `/api/execute/${id}`);
      assert.equal(kept.status, 200, kept.text);
      const k = kept.json;
      assert.deepEqual([k.status, k.exit_code, k.output, k.stderr, k.error, k.error_code, k.progress, k.sandbox_id],
        ['failed', 3, 'one\n', 'two\n', 'two\n', 'EXECUTION_ERROR', 1, null]);
      assert.ok(k.execution_time >= 2 && k.execution_time === done.execution_time, `${k.execution_time} vs ${done.execution_time}`);
      assert.match(k.completed_at, /^\d{4}-\d\d-\d\dT/);
      assertError(await sb(srv, bob, 'GET', `/api/execute/${id}`), 404, 'RESOURCE_NOT_FOUND');
      assertError(await sb(srv, alice, 'DELETE', `/api/execute/${id}`), 409, 'VALIDATION_ERROR', 'execution_id');

      // DELETE while it runs: killed, the completion says cancelled, and so does GET
      const t0 = Date.now();
      c.send({ type: 'execute', language: 'bash', code: 'echo started; sleep 30', timeout: 60 });
      const started = await c.next();
      assertError(await sb(srv, bob, 'DELETE', `/api/execute/${started.execution_id}`), 404, 'RESOURCE_NOT_FOUND');
      const del = await sb(srv, alice, 'DELETE', `/api/execute/${started.execution_id}`);
      assert.deepEqual(del.json, { execution_id: started.execution_id, status: 'cancelled', message: 'Execution cancelled successfully' });
      const end = (await c.untilDone()).at(-1);
      assert.deepEqual([end.type, end.status], ['completion', 'cancelled'], JSON.stringify(end));
      assert.ok(Date.now() - t0 < 10000, 'killed, not waited for');
      const after = await sb(srv, alice, 'GET', `/api/execute/${started.execution_id}`);
      assert.deepEqual([after.json.status, after.json.output, after.json.error], ['cancelled', 'started\n', 'Execution cancelled']);
    } finally { c.ws.close(); }
  });

  test('stderr, a failing program, errors as frames; the connection keeps its sandbox between executions', async () => {
    const c = await wsExecute(srv, { key: alice });
    try {
      c.send({ type: 'execute', language: 'bash', code: 'echo kept > f; echo oops >&2; exit 4' });
      let msgs = await c.untilDone();
      assert.deepEqual(msgs.filter((m) => m.type === 'output').map((m) => [m.stream, m.data]), [['stderr', 'oops\n']]);
      assert.equal(msgs.at(-1).status, 'failed');
      assert.equal(msgs.at(-1).exit_code, 4);
      assert.equal(msgs.at(-1).error_code, 'EXECUTION_ERROR');
      c.send({ type: 'execute', language: 'nodejs', code: "process.stdout.write(require('fs').readFileSync('f', 'utf8'))" });
      msgs = await c.untilDone();
      assert.equal(msgs[0].data, 'kept\n', JSON.stringify(msgs));
      c.send({ type: 'execute', language: 'python', code: 'import time\ntime.sleep(10)', timeout: 1 });
      msgs = await c.untilDone();
      assert.equal(msgs.at(-1).status, 'timeout');
      assert.equal(msgs.at(-1).error_code, 'EXECUTION_TIMEOUT');
      for (const [m, field] of [[{ type: 'execute', language: 'cobol', code: 'x' }, 'language'], [{ type: 'execute', language: 'python' }, 'code'],
        [{ type: 'execute', language: 'python', code: 'x', timeout: 0 }, 'timeout'], [{ type: 'dance' }, 'type'], [{}, 'type'], ['not json', 'message']]) {
        c.send(m);
        const e = await c.next();
        assert.equal(e.type, 'error', JSON.stringify(e));
        assert.equal(e.error.code, 'VALIDATION_ERROR');
        assert.equal(e.error.details.field, field);
      }
      c.send({ type: 'ping' });
      assert.equal((await c.next()).type, 'pong');
      // a partial line still arrives, at the end; one execution at a time
      c.send({ type: 'execute', language: 'bash', code: 'printf "no newline"; sleep 1' });
      c.send({ type: 'execute', language: 'bash', code: 'true' });
      msgs = await c.untilDone();
      assert.equal(msgs[0].type, 'error', JSON.stringify(msgs));
      msgs = await c.untilDone();
      assert.equal(msgs[0].data, 'no newline');
    } finally { c.ws.close(); }
  });

  test('cancel, and a client that closes mid-run: the program is killed', async () => {
    const c = await wsExecute(srv, { key: alice });
    c.send({ type: 'execute', language: 'bash', code: 'echo started; sleep 30' });
    assert.equal((await c.next()).data, 'started\n');
    c.send({ type: 'cancel' });
    const done = (await c.untilDone(5000)).at(-1);
    assert.equal(done.status, 'cancelled', JSON.stringify(done));
    const marker = `wsgone${Date.now()}`;
    c.send({ type: 'execute', language: 'bash', code: `echo up; exec -a ${marker} sleep 30` });
    assert.equal((await c.next()).data, 'up\n');
    assert.ok(await poll(() => hostPidsMatching(marker).length > 0, { timeout: 3000 }));
    c.ws.close();
    assert.ok(await poll(() => hostPidsMatching(marker).length === 0, { timeout: 5000 }), 'still running after the close');
  });

  test('credentials: none or a wrong key is refused (401); ?api_key= works for browsers; sandbox_id of another key is not found', async () => {
    // refused in the document's error envelope
    const envelope = (e) => e.status === 401 && JSON.parse(e.body).error.code === 'AUTHENTICATION_REQUIRED' &&
      /^req_[0-9a-f]{16}$/.test(JSON.parse(e.body).error.request_id);
    await assert.rejects(wsExecute(srv, {}), envelope);
    await assert.rejects(wsExecute(srv, { key: 'mcpbox_wrong' }), envelope);
    const c = await wsExecute(srv, { query: `?api_key=${encodeURIComponent(alice)}` });
    try {
      const mine = (await sb(srv, alice, 'POST', '/api/sandboxes', { name: 'ws' })).json.sandbox_id;
      c.send({ type: 'execute', language: 'bash', code: 'echo in-sandbox > marker; echo ok', sandbox_id: mine });
      assert.equal((await c.untilDone()).at(-1).status, 'completed');
      const r = await sb(srv, alice, 'GET', `/api/sandboxes/${mine}`);
      assert.ok(r.json.files.some((f) => f.name === 'marker'), r.text);
    } finally { c.ws.close(); }
    const b = await wsExecute(srv, { key: bob });
    try {
      const mine = (await sb(srv, alice, 'GET', '/api/sandboxes')).json.sandboxes[0].sandbox_id;
      b.send({ type: 'execute', language: 'bash', code: 'ls', sandbox_id: mine });
      const e = await b.next();
      assert.equal(e.type, 'error');
      assert.equal(e.error.code, 'RESOURCE_NOT_FOUND');
    } finally { b.ws.close(); }
  });

  test('a connection stops at its next message once its credential does: a revoked key, a disabled user\'s token (as /mcp)', async () => {
    const closed = (c) => new Promise((resolve) => c.ws.once('close', (code) => resolve(code)));
    const k = createKey(srv.dataDir, { name: 'ws-revoked' });
    const byKey = await wsExecute(srv, { key: k.key });
    byKey.send({ type: 'execute', language: 'bash', code: 'echo before' });
    assert.equal((await byKey.untilDone()).at(-1).status, 'completed');
    assert.equal(keyCli(srv.dataDir, 'revoke', k.id).status, 0);
    let gone = closed(byKey);
    byKey.send({ type: 'execute', language: 'bash', code: 'echo after' });
    assert.equal(await gone, 1008);
    assert.ok(!byKey.all.some((m) => m.type === 'output' && m.data === 'after\n'));

    const add = spawnSync(BIN, ['user', 'add', 'wsdave', '--password-stdin', '--data', srv.dataDir], { input: 'wsdave-password-1\n', encoding: 'utf8' });
    assert.equal(add.status, 0, add.stderr);
    const login = await httpRequest(srv, { method: 'POST', path: '/auth/login', headers: { 'Content-Type': 'application/json' }, body: { username: 'wsdave', password: 'wsdave-password-1' } });
    assert.equal(login.status, 200, login.text);
    const byToken = await wsExecute(srv, { bearer: login.json.access_token });
    byToken.send({ type: 'execute', language: 'bash', code: 'echo before' });
    assert.equal((await byToken.untilDone()).at(-1).status, 'completed');
    const off = spawnSync(BIN, ['user', 'disable', 'wsdave', '--data', srv.dataDir], { encoding: 'utf8' });
    assert.equal(off.status, 0, off.stderr);
    gone = closed(byToken);
    byToken.send({ type: 'execute', language: 'bash', code: 'echo after' });
    assert.equal(await gone, 1008);
    assert.ok(!byToken.all.some((m) => m.type === 'output' && m.data === 'after\n'), JSON.stringify(byToken.all));
  });

  test('sandbox_id may be a sandbox\'s name, as everywhere in the dialect: its record carries the id; no such name, or two, is an error frame', async () => {
    const name = `ws-named-${Date.now()}`;
    const made = (await sb(srv, bob, 'POST', '/api/sandboxes', { name })).json.sandbox_id;
    const c = await wsExecute(srv, { key: bob });
    try {
      c.send({ type: 'execute', language: 'bash', code: 'echo by-name > marker; echo ok', sandbox_id: name });
      const done = (await c.untilDone()).at(-1);
      assert.equal(done.status, 'completed', JSON.stringify(done));
      assert.equal((await sb(srv, bob, 'GET', `/api/execute/${done.execution_id}`)).json.sandbox_id, made);
      const r = await sb(srv, bob, 'GET', `/api/sandboxes/${made}`);
      assert.ok(r.json.files.some((f) => f.name === 'marker'), r.text);
      c.send({ type: 'execute', language: 'bash', code: 'true', sandbox_id: `${name}-none` });
      let e = await c.next();
      assert.equal(e.type, 'error', JSON.stringify(e));
      assert.equal(e.error.code, 'RESOURCE_NOT_FOUND');
      const twin = (await sb(srv, bob, 'POST', '/api/sandboxes', { name })).json.sandbox_id;
      c.send({ type: 'execute', language: 'bash', code: 'true', sandbox_id: name });
      e = await c.next();
      assert.equal(e.type, 'error', JSON.stringify(e));
      assert.equal(e.error.code, 'VALIDATION_ERROR');
      for (const id of [made, twin]) assert.equal((await sb(srv, bob, 'DELETE', `/api/sandboxes/${id}`)).status, 200);
      // the connection goes on
      c.send({ type: 'execute', language: 'bash', code: 'echo still' });
      assert.equal((await c.untilDone()).at(-1).status, 'completed');
    } finally { c.ws.close(); }
  });
});

describe('soulbox (004): API keys', () => {
  test('a key made with the document\'s body works at once; its permissions and expiry are the server\'s', async () => {
    const r = await sb(srv, alice, 'POST', '/api/auth/api-keys', { name: 'app', permissions: ['sandbox_read'], expires_at: '2099-01-01T00:00:00Z' });
    assert.equal(r.status, 201, r.text);
    assert.match(r.json.key, /^mcpbox_/);
    assert.ok(r.json.display_key.length < 24 && !r.json.display_key.includes(r.json.key.slice(12, 40)));
    assert.deepEqual(r.json.permissions, ['sandbox_read']);
    assert.equal((await sb(srv, r.json.key, 'GET', '/api/templates')).status, 200);
    // it acts for alice: her sandboxes are its sandboxes
    const mine = (await sb(srv, alice, 'POST', '/api/sandboxes', { name: 'shared-with-key' })).json.sandbox_id;
    const seen = await sb(srv, r.json.key, 'GET', '/api/sandboxes');
    assert.ok(seen.json.sandboxes.some((x) => x.sandbox_id === mine), seen.text);
    // what it may not do is refused in the envelope (the server's rights, enforced on every tool call)
    assertError(await sb(srv, r.json.key, 'POST', '/api/execute', { language: 'bash', code: 'true' }), 403, 'INSUFFICIENT_PERMISSIONS');
    assertError(await sb(srv, r.json.key, 'POST', '/api/execute', { language: 'bash', code: 'true', sandbox_id: mine }), 403, 'INSUFFICIENT_PERMISSIONS');
    assertError(await sb(srv, r.json.key, 'DELETE', `/api/sandboxes/${mine}`), 403, 'INSUFFICIENT_PERMISSIONS');
    assert.equal((await sb(srv, r.json.key, 'GET', `/api/sandboxes/${mine}`)).status, 200);
    // a read-only key cannot make a key that may execute
    const up = await sb(srv, r.json.key, 'POST', '/auth/api-keys', { name: 'more', permissions: ['execute'] });
    assertError(up, 403, 'INSUFFICIENT_PERMISSIONS', 'permissions');
    await sb(srv, alice, 'DELETE', `/api/sandboxes/${mine}`);
  });

  test('an expiring key is refused once it has expired; bad asks name their field', async () => {
    const r = await sb(srv, alice, 'POST', '/auth/api-keys', { name: 'brief', expires_at: '2s' });
    assert.equal(r.status, 201, r.text);
    assert.equal((await sb(srv, r.json.key, 'GET', '/api/templates')).status, 200);
    await sleep(2600);
    assertError(await sb(srv, r.json.key, 'GET', '/api/templates'), 401, 'AUTHENTICATION_REQUIRED');
    for (const [body, field] of [[{ permissions: ['fly'] }, 'permissions'], [{ permissions: [] }, 'permissions'], [{ permissions: 'execute' }, 'permissions'],
      [{ expires_at: 'someday' }, 'expires_at'], [{ expires_at: 5 }, 'expires_at'], [{ name: '' }, 'name']]) {
      assertError(await sb(srv, alice, 'POST', '/auth/api-keys', body), 400, 'VALIDATION_ERROR', field);
    }
    assertError(await sb(srv, null, 'POST', '/auth/api-keys', { name: 'x' }), 401, 'AUTHENTICATION_REQUIRED');
  });
});

describe('soulbox (004): the documents\' examples, unchanged (serve --auth none: they send "your-api-key" or nothing)', () => {
  let open;
  let dir;
  before(async () => {
    // the user guide's sandbox names a template "data-science": an operator defines it
    open = await startServe({ auth: 'none', config: { templates: { 'data-science': { description: 'Python for data', language: 'python' } } } });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'soulbox-doc-'));
    fs.writeFileSync(path.join(dir, 'script.py'), "print('uploaded')\n");
  });
  after(async () => { await open?.close(); fs.rmSync(dir, { recursive: true, force: true }); });
  const shell = (cmd) => runShell(`cd '${dir}' && ${cmd}`, { base: open.base });

  test('the API reference\'s cURL examples: execute, create sandbox, upload (to the sandbox named sb_123456)', async () => {
    let r = await shell(ex('execute: the cURL example').curl);
    assert.equal(r.json?.status, 'completed', r.stdout + r.stderr);
    assert.equal(r.json.output, 'Hello, World!\n');
    r = await shell(ex('sandboxes: the cURL example').curl);
    assert.equal(r.json?.name, 'my-sandbox', r.stdout);
    assert.match(r.json.sandbox_id, /^ses_/);
    // the upload names the document's sandbox id: a sandbox of that name takes it
    const made = await sb(open, null, 'POST', '/api/sandboxes', { name: 'sb_123456' });
    r = await shell(ex('files: upload').curl);
    assert.deepEqual(r.json?.files?.map((f) => [f.name, f.size]), [['script.py', 18]], r.stdout);
    const ran = await sb(open, null, 'POST', '/api/execute', { language: 'python', code: "exec(open('script.py').read())", sandbox_id: made.json.sandbox_id });
    assert.equal(ran.json.output, 'uploaded\n');
  });

  test('the user guide\'s cURL examples and its Python requests snippet', async () => {
    const ug = FX.user_guide;
    let r = await shell(ug.curl_execute);
    assert.equal(r.json?.output, 'Hello, World!\n', r.stdout);
    r = await shell(ug.curl_execute_version);
    assert.match(r.json?.output, /^3\.\d+/, r.stdout);
    r = await shell(ug.curl_sandbox_with_files);
    assert.equal(r.json?.template, 'data-science', r.stdout);
    const data = await sb(open, null, 'POST', '/api/execute', { language: 'bash', code: 'cat data.csv', sandbox_id: r.json.sandbox_id });
    assert.equal(data.json.output, 'name,age\nAlice,30\nBob,25');
    // its upload names the sandbox "my-sandbox" (made by the reference's example above)
    r = await shell(ug.curl_upload);
    assert.equal(r.json?.files?.[0]?.path, '/workspace/script.py', r.stdout);
    const py = await runPython(ug.python_requests, { base: open.base });
    assert.equal(py.code, 0, py.stderr);
    assert.equal(py.stdout, 'Hello from SoulBox!\n\n');
  });
});

describe('soulbox (004): rate limits', () => {
  let srv; // eslint-disable-line no-shadow
  let bob; // eslint-disable-line no-shadow
  before(async () => ({ srv, bob } = await serveWithKeys({ requests: 30, executions: 3 })));
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
    // /ws/execute's executions take from the same bucket
    const c = await wsExecute(srv, { key: dave });
    try {
      c.send({ type: 'execute', language: 'bash', code: 'true' });
      const e = await c.next();
      assert.equal(e.type, 'error', JSON.stringify(e));
      assert.equal(e.error.code, 'RESOURCE_LIMIT_EXCEEDED');
    } finally { c.ws.close(); }
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

describe('soulbox (004): a quota is not a rate limit', () => {
  let srv; // eslint-disable-line no-shadow
  before(async () => {
    srv = await startServe({ config: { quota: { sessions: 1 }, rate_limits: { execute: { per_minute: 6, burst: 1 } },
      compat: { soulbox: { rate_limits: { requests: 10000, executions: 10000, uploads: 10000 } } } } });
  });
  after(async () => { await srv?.close(); });

  test('past a quota: 403 RESOURCE_LIMIT_EXCEEDED naming it; past the server\'s execute rate: 429 with X-RateLimit-*', async () => {
    const k = createKey(srv.dataDir, { name: 'quota-k' }).key;
    const one = await sb(srv, k, 'POST', '/api/sandboxes', { name: 'one' });
    assert.equal(one.status, 201, one.text);
    const two = await sb(srv, k, 'POST', '/api/sandboxes', { name: 'two' });
    assertError(two, 403, 'RESOURCE_LIMIT_EXCEEDED');
    assert.match(two.json.error.message, /quota: this key may hold 1 sessions and holds 1/);
    const run = () => sb(srv, k, 'POST', '/api/execute', { language: 'bash', code: 'true', sandbox_id: one.json.sandbox_id });
    assert.equal((await run()).status, 200);
    const limited = await run();
    assertError(limited, 429, 'RESOURCE_LIMIT_EXCEEDED');
    assert.match(limited.json.error.message, /rate limit exceeded for execute calls/);
    assert.equal(limited.headers['x-ratelimit-remaining'], '0', JSON.stringify(limited.headers));
  });
});
