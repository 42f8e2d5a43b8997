// The AgentFlow dialect (seed 002): the exchanges recorded in fixtures/compat/agentflow.json, every endpoint,
// errors and malformed bodies, principals, parallel batches, shutdown, and the official client's requests
// (tests/clients/agentflow_client.py, /usr/bin/python3 with Debian's python3-httpx).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startServe, createKey, httpClient, REPO } from './helpers.mjs';
import { loadCompat, compatRequest, assertExchange, assertCompactJson } from './compat.mjs';

const FIX = loadCompat('agentflow');

async function req(base, method, p, body, headers = {}) {
  const init = { method, headers: { 'content-type': 'application/json', ...headers } };
  if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
  const res = await fetch(base + p, init);
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, json, text };
}

// want's placeholders: "<string>", "<number>", "<bool>", "<any>"; objects match on the keys listed
function matches(got, want, where = 'body') {
  if (want === '<any>') return;
  if (want === '<string>') return assert.equal(typeof got, 'string', `${where}: a string`);
  if (want === '<number>') return assert.equal(typeof got, 'number', `${where}: a number`);
  if (want === '<bool>') return assert.equal(typeof got, 'boolean', `${where}: a boolean`);
  if (Array.isArray(want)) {
    assert.ok(Array.isArray(got), `${where}: an array, got ${JSON.stringify(got)}`);
    assert.equal(got.length, want.length, `${where}: length`);
    want.forEach((w, i) => matches(got[i], w, `${where}[${i}]`));
    return;
  }
  if (want && typeof want === 'object') {
    assert.ok(got && typeof got === 'object', `${where}: an object, got ${JSON.stringify(got)}`);
    for (const k of Object.keys(want)) {
      assert.ok(k in got, `${where}.${k} missing in ${JSON.stringify(got).slice(0, 300)}`);
      matches(got[k], want[k], `${where}.${k}`);
    }
    return;
  }
  assert.deepEqual(got, want, where);
}

describe('AgentFlow under --auth none', () => {
  let srv, B;
  before(async () => { srv = await startServe({ auth: 'none' }); B = srv.base; });
  after(async () => { await srv?.close(); });

  test('the exchanges recorded from the document, at the bare paths (FastAPI\'s compact bytes)', async () => {
    for (const x of FIX.exchanges) {
      const r = await compatRequest(srv, x.request);
      assertExchange(r, x.response, x.name);
      assertCompactJson(r);
    }
  });

  test('the twin\'s /api/v1 paths and /compat/agentflow/ answer the same', async () => {
    for (const p of ['/api/v1/execute', '/compat/agentflow/execute', '/compat/agentflow/api/v1/execute']) {
      const r = await req(B, 'POST', p, { worker_id: 'paths', action: 'bash:run', params: { command: 'echo $((6*7))' } });
      assert.equal(r.status, 200, p);
      assert.equal(r.json.data.stdout, '42\n', p);
    }
    assert.equal((await req(B, 'GET', '/compat/agentflow/health')).json.status, 'healthy');
    assert.equal((await req(B, 'GET', '/api/v1/tools')).status, 200);
    assert.equal((await req(B, 'GET', '/ready')).json.status, 'ready');
  });

  test('what no route serves is answered as FastAPI does: 404 under the prefix, 405 for a known path', async () => {
    let r = await req(B, 'GET', '/compat/agentflow/no/such/path');
    assert.equal(r.status, 404);
    assert.deepEqual(r.json, { detail: 'Not Found' });
    r = await req(B, 'DELETE', '/compat/agentflow/tools');
    assert.equal(r.status, 405);
    assert.deepEqual(r.json, { detail: 'Method Not Allowed' });
    r = await req(B, 'PUT', '/api/v1/tools');
    assert.equal(r.status, 405, 'a documented path asked with another method');
    assert.deepEqual(r.json, { detail: 'Method Not Allowed' });
  });

  test('action names: vm-click, vm.click, vm_click, bare names, ambiguity', async () => {
    await req(B, 'POST', '/session/create', { worker_id: 'names', resource_type: 'vm', session_config: { screen_size: [640, 480] } });
    for (const a of ['vm:click', 'vm-click', 'vm.click', 'vm_click', 'click']) {
      const r = await req(B, 'POST', '/execute', { worker_id: 'names', action: a, params: { x: 1, y: 2 } });
      assert.equal(r.status, 200, `${a}: ${r.text}`);
      assert.equal(r.json.meta.tool, 'vm:click');
      assert.deepEqual(r.json.data.clicked, [1, 2]);
    }
    const amb = await req(B, 'POST', '/execute', { worker_id: 'names', action: 'run', params: {} });
    assert.equal(amb.status, 400);
    assert.equal(amb.json.code, 4002);
    assert.deepEqual(amb.json.data.candidates, ['bash:run', 'code:run']);
    for (const a of ['web:search', 'text2sql:execute', 'doc:read', 'vm:pyautogui']) {
      const r = await req(B, 'POST', '/execute', { worker_id: 'names', action: a, params: {} });
      assert.equal(r.status, 400, a);
      assert.equal(r.json.message, `Tool not found: ${a}`);
    }
    // displays count against the key's quota (4): give this one back
    assert.equal((await req(B, 'POST', '/api/v1/worker/disconnect', { worker_id: 'names' })).json.data.sessions_cleaned, 1);
  });

  test('vm actions: screenshot is a PNG of the screen size; input echoes as the twin', async () => {
    const W = 'vm1';
    const c = await req(B, 'POST', '/api/v1/session/create', { worker_id: W, resource_type: 'vm', session_config: { screen_size: [800, 600] }, custom_name: 'mine' });
    assert.equal(c.json.data.session_name, 'vm_vm1_001_mine');
    const s = await req(B, 'POST', '/execute', { worker_id: W, action: 'vm:screenshot', params: {} });
    assert.equal(s.status, 200);
    const png = Buffer.from(s.json.data.image, 'base64');
    assert.equal(png.subarray(1, 4).toString(), 'PNG');
    assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [800, 600]);
    assert.deepEqual(s.json.data.size, [800, 600]);
    assert.equal(s.json.data.session, 'vm_vm1_001_mine');
    assert.equal(s.json.data.accessibility_tree, null);
    const cases = [
      ['vm:double_click', { x: 3, y: 4 }, { clicked: [3, 4] }],
      ['vm:right_click', {}, { clicked: null }],
      ['vm:move', { x: 7, y: 8 }, { position: [7, 8] }],
      ['vm:drag', { start_x: 1, start_y: 2, end_x: 30, end_y: 40 }, { from: [1, 2], to: [30, 40] }],
      ['vm:scroll', { x: 5, y: 5, clicks: -2 }, { position: [5, 5], clicks: -2 }],
      ['vm:type', { text: 'héllo' }, { typed: 'héllo', length: 5 }],
      ['vm:key', { key: 'enter' }, { key: 'enter' }],
      ['vm:hotkey', { keys: ['ctrl', 'a'] }, { keys: ['ctrl', 'a'] }],
      ['vm:key_down', { key: 'shift' }, { key: 'shift' }],
      ['vm:key_up', { key: 'shift' }, { key: 'shift' }],
      ['vm:mouse_down', {}, { button: 'left' }],
      ['vm:mouse_up', { button: 'left' }, { button: 'left' }],
      ['vm:wait', { seconds: 0.1 }, { waited: 0.1 }],
      ['vm:done', {}, { done: true }],
      ['vm:fail', { reason: 'r' }, { fail: true, reason: 'r' }],
    ];
    for (const [action, params, want] of cases) {
      const r = await req(B, 'POST', '/execute', { worker_id: W, action, params });
      assert.equal(r.status, 200, `${action}: ${r.text}`);
      matches(r.json.data, want, action);
      assert.equal(r.json.meta.session_id, c.json.data.session_id, `${action} ran in the vm session`);
      assert.equal(r.json.meta.temporary_session, undefined);
    }
    const out = await req(B, 'POST', '/execute', { worker_id: W, action: 'vm:click', params: { x: 5000, y: 1 } });
    assert.equal(out.status, 400);
    assert.equal(out.json.code, 4000, 'a point outside the screen: the tool\'s invalid input');
    const timed = await req(B, 'POST', '/execute', { worker_id: W, action: 'vm:wait', params: { seconds: 5 }, timeout: 1 });
    assert.equal(timed.status, 500);
    assert.equal(timed.json.code, 5006);
    assert.equal(timed.json.message, 'Tool execution timed out after 1s');
    await req(B, 'POST', '/api/v1/worker/disconnect', { worker_id: W });
  });

  test('bad params: missing (5005, Python TypeError), wrong type (4004), invalid (4000)', async () => {
    let r = await req(B, 'POST', '/execute', { worker_id: 'bad', action: 'vm:click', params: { x: 1 } });
    assert.equal(r.status, 500);
    assert.equal(r.json.code, 5005);
    assert.equal(r.json.message, "vm:click() missing 1 required positional argument: 'y'");
    r = await req(B, 'POST', '/execute', { worker_id: 'bad', action: 'vm:click', params: { x: 'a', y: 1 } });
    assert.equal(r.json.code, 4004);
    r = await req(B, 'POST', '/execute', { worker_id: 'bad', action: 'vm:right_click', params: { x: 1 } });
    assert.equal(r.json.code, 4000);
    assert.equal(r.json.message, 'x and y must be provided together');
    const list = await req(B, 'POST', '/session/list', { worker_id: 'bad' });
    assert.equal(list.json.data.count, 0, 'a refused call made no session');
  });

  test('malformed bodies get FastAPI\'s 422 or the envelope, never a crash', async () => {
    let r = await req(B, 'POST', '/execute', '{"worker_id":');
    assert.equal(r.status, 422);
    assert.equal(r.json.detail[0].type, 'json_invalid');
    r = await req(B, 'POST', '/execute', '[1,2]');
    assert.equal(r.json.detail[0].type, 'model_attributes_type');
    r = await req(B, 'POST', '/execute', { worker_id: 5, action: 'x', params: [], timeout: 'x' });
    assert.equal(r.status, 422);
    // pydantic 2: a string that is no integer is int_parsing (int_type is for other types)
    assert.deepEqual(r.json.detail.map((d) => d.type), ['string_type', 'dict_type', 'int_parsing']);
    r = await req(B, 'POST', '/execute', { worker_id: 'w', action: 'x', timeout: [] });
    assert.deepEqual(r.json.detail.map((d) => d.type), ['int_type']);
    r = await req(B, 'POST', '/execute', '');
    assert.equal(r.status, 422);
    r = await req(B, 'POST', '/execute/batch', { worker_id: 'm', actions: [1] });
    assert.deepEqual(r.json.detail[0].loc, ['body', 'actions', 0]);
    r = await req(B, 'POST', '/execute/batch', { worker_id: 'm', actions: Array.from({ length: 300 }, () => ({ action: 'vm:done' })) });
    assert.equal(r.status, 400);
    r = await req(B, 'POST', '/session/create', 'nonsense');
    assert.equal(r.status, 400);
    assert.equal(r.json.code, 4002);
    r = await req(B, 'POST', '/session/create', { worker_id: 'x'.repeat(5000), resource_type: 'vm' });
    assert.equal(r.status, 400);
    r = await req(B, 'POST', '/session/create', { worker_id: 'm', resource_type: 'vm', session_config: { screen_size: [1, 1] } });
    assert.equal(r.status, 500);
    assert.equal(r.json.code, 4007);
    assert.equal(r.json.data.session_status, 'error');
    r = await req(B, 'POST', '/api/v1/init/from-config', { worker_id: 'm', config_path: '/etc/passwd' });
    assert.equal(r.status, 400);
    assert.doesNotMatch(r.text, /root:/, 'no server file is read');
    r = await req(B, 'POST', '/warmup', '{"backends": 5}');
    assert.equal(r.status, 400);
    assert.equal((await req(B, 'GET', '/health')).status, 200, 'still serving');
  });

  test('sessions: temporary per call, TTL refresh, compatibility mode, lifecycle and init', async () => {
    const t = await req(B, 'POST', '/execute', { worker_id: 'life', action: 'code:python', params: { code: 'print(2+2)' } });
    assert.equal(t.json.data.stdout, '4\n');
    assert.equal(t.json.meta.temporary_session, true);
    assert.equal((await req(B, 'POST', '/session/list', { worker_id: 'life' })).json.data.count, 0, 'the temporary session ended');
    const rag = await req(B, 'POST', '/session/create', { worker_id: 'life', resource_type: 'rag' });
    assert.equal(rag.json.data.compatibility_mode, true);
    assert.equal(rag.json.data.session_status, 'active');
    const code = await req(B, 'POST', '/api/v1/init/resource', { worker_id: 'life', resource_type: 'code', init_config: {} });
    assert.equal(code.json.data.session_status, 'active');
    let r = await req(B, 'POST', '/execute', { worker_id: 'life', action: 'code:run', params: { code: 'console.log(1)', language: 'javascript' } });
    assert.equal(r.json.data.stdout, '1\n');
    assert.equal(r.json.meta.session_id, code.json.data.session_id, 'ran in the created session');
    r = await req(B, 'POST', '/api/v1/lifecycle/status', { worker_id: 'life' });
    assert.deepEqual(r.json.data.active_resources.sort(), ['code', 'rag']);
    r = await req(B, 'POST', '/api/v1/init/batch', { worker_id: 'life', resource_configs: { bash: {}, vm: { content: { screen_size: [1, 1] } } } });
    assert.equal(r.status, 207);
    assert.equal(r.json.data.results.bash.status, 'success');
    assert.equal(r.json.data.results.vm.status, 'error');
    r = await req(B, 'POST', '/session/refresh', { worker_id: 'life' });
    assert.equal(r.json.data.refreshed_count, 3);
    r = await req(B, 'POST', '/api/v1/worker/disconnect', { worker_id: 'life' });
    assert.equal(r.json.data.sessions_cleaned, 3);
    assert.equal((await req(B, 'POST', '/session/list', { worker_id: 'life' })).json.data.count, 0);
  });

  test('batch: parallel runs at once (16 sleeps take about one); serial stops on error', async () => {
    await req(B, 'POST', '/session/create', { worker_id: 'par', resource_type: 'bash' });
    const actions = Array.from({ length: 16 }, (_, i) => ({ action: 'bash:run', params: { command: `sleep 0.5; echo ${i}` } }));
    let t0 = Date.now();
    const p = await req(B, 'POST', '/execute/batch', { worker_id: 'par', actions, parallel: true });
    const parMs = Date.now() - t0;
    assert.equal(p.status, 200, p.text.slice(0, 300));
    assert.deepEqual(p.json.data.results.map((x) => x.data.stdout), actions.map((_, i) => `${i}\n`), 'results in order');
    assert.ok(parMs < 4000, `16 x 0.5 s in parallel took ${parMs} ms`);
    const s = await req(B, 'POST', '/execute/batch', { worker_id: 'par', actions: [
      { action: 'bash:run', params: { command: 'true' } }, { action: 'nope' }, { action: 'bash:run', params: { command: 'true' } }] });
    assert.equal(s.status, 207);
    assert.equal(s.json.data.executed, 2, 'stop_on_error (default) stops after the failure');
    assert.equal(s.json.data.total, 3);
    t0 = Date.now();
    const tmp = await req(B, 'POST', '/execute/batch', { worker_id: 'par2', parallel: true,
      actions: Array.from({ length: 4 }, () => ({ action: 'bash:run', params: { command: 'echo $HOSTNAME; sleep 0.3' } })) });
    assert.equal(tmp.status, 200);
    assert.equal(new Set(tmp.json.data.results.map((x) => x.meta.session_id)).size, 1, 'parallel calls share one temporary session');
  });

  test('warmup makes a warm vm (display started) and status reports it', async () => {
    const w = await req(B, 'POST', '/api/v1/warmup', { backends: ['vm', 'nope'] });
    assert.equal(w.json.status, 'partial_error');
    assert.deepEqual(w.json.results, { vm: true, nope: false });
    const st = await req(B, 'GET', '/api/v1/warmup/status');
    assert.equal(st.json.backends.vm.warmed_up, true);
    const c = await req(B, 'POST', '/session/create', { worker_id: 'warm', resource_type: 'vm' });
    assert.equal(c.json.data.session_status, 'active');
    const after = await req(B, 'GET', '/api/v1/warmup/status');
    assert.equal(after.json.backends.vm.warmed_up, false, 'the new session took the warm one');
    const s = await req(B, 'POST', '/execute', { worker_id: 'warm', action: 'vm:screenshot' });
    assert.deepEqual(s.json.data.size, [1920, 1080]);
    await req(B, 'POST', '/api/v1/worker/disconnect', { worker_id: 'warm' });
  });

  test('/tools lists what works; schema of one; unknown 404', async () => {
    const t = await req(B, 'GET', '/tools');
    const names = t.json.tools.map((x) => x.full_name);
    for (const n of ['vm:screenshot', 'vm:click', 'vm:key_down', 'bash:run', 'code:python']) assert.ok(names.includes(n), n);
    assert.ok(!names.some((n) => /^(rag|web|doc|text2sql):/.test(n)));
    assert.equal(t.json.count, names.length);
    const s = await req(B, 'GET', '/api/v1/tools/vm:drag/schema');
    assert.deepEqual(s.json.parameters.required, ['start_x', 'start_y', 'end_x', 'end_y']);
    const u = await req(B, 'GET', '/api/v1/tools/rag:search/schema');
    assert.equal(u.status, 404);
    assert.deepEqual(u.json, { status: 'error', message: 'Tool not found: rag:search' });
  });

  test('the official client\'s requests (sandbox/client.py, sandbox.py) end to end', () => {
    const r = spawnSync('/usr/bin/python3', [path.join(REPO, 'tests', 'clients', 'agentflow_client.py'), B], { encoding: 'utf8', timeout: 90000 });
    assert.equal(r.status, 0, `client failed: ${r.stdout}\n${r.stderr}`);
    const seen = JSON.parse(r.stdout.trim().split('\n').pop());
    assert.deepEqual(seen.screenshot, [1024, 768]);
    assert.deepEqual(seen.batch, ['vm:move', 'bash:run', 'vm:screenshot']);
  });
});

describe('AgentFlow session TTL (compat.agentflow.session_ttl)', () => {
  let srv, B;
  before(async () => { srv = await startServe({ auth: 'none', config: { compat: { agentflow: { session_ttl: 1 } } } }); B = srv.base; });
  after(async () => { await srv?.close(); });

  test('a session without an action for session_ttl ends (its sandbox too); refresh keeps it', async () => {
    const c = await req(B, 'POST', '/session/create', { worker_id: 'ttl', resource_type: 'bash' });
    assert.equal(c.status, 200);
    const listed = (await req(B, 'POST', '/session/list', { worker_id: 'ttl' })).json.data.sessions[0];
    const e = new Date(listed.expires_at + 'Z'); // utcnow().isoformat(): no zone
    assert.ok(Math.abs(e.getTime() - Date.now() - 1000) < 1500, `expires_at is about 1 s ahead: ${listed.expires_at}`);
    const mcp = await httpClient(srv);
    const mine = async () => (await mcp.call('session_list', { labels: { 'agentflow.session': listed.session_id } })).structuredContent.sessions;
    assert.equal((await mine()).length, 1, 'MCP sees the sandbox by its labels');
    // the sweep runs every 10 s
    let gone = false;
    for (let i = 0; i < 30 && !gone; i++) {
      await new Promise((r) => setTimeout(r, 500));
      gone = (await req(B, 'POST', '/session/list', { worker_id: 'ttl' })).json.data.count === 0;
    }
    assert.ok(gone, 'the expired session was ended within the sweep period');
    assert.equal((await mine()).length, 0, 'its sandbox is gone too');
    await mcp.close();
    const r = await req(B, 'POST', '/execute', { worker_id: 'ttl', action: 'bash:run', params: { command: 'true' } });
    assert.equal(r.json.meta.temporary_session, true, 'the next action gets a new (temporary) session');
  });
});

describe('AgentFlow with keys', () => {
  let srv, B, alice, bob, admin;
  before(async () => {
    srv = await startServe();
    B = srv.base;
    admin = srv.key;
    alice = createKey(srv.dataDir, { name: 'alice' }).key;
    bob = createKey(srv.dataDir, { name: 'bob' }).key;
  });
  after(async () => { await srv?.close(); });

  test('the recorded exchanges under /compat/agentflow with a key (a fresh principal: the same session names)', async () => {
    for (const x of FIX.exchanges) {
      const r = await compatRequest(srv, x.request, { prefix: FIX.prefix, key: alice });
      assertExchange(r, x.response, x.name);
    }
    const none = await compatRequest(srv, FIX.exchanges[1].request, { prefix: FIX.prefix });
    assert.equal(none.status, 401, 'without the key');
    await req(B, 'POST', '/api/v1/worker/disconnect', { worker_id: 'fx' }, { authorization: `Bearer ${alice}` });
  });

  test('no key or a wrong one: 401 in the envelope; health and ready answer without one', async () => {
    let r = await req(B, 'POST', '/execute', { worker_id: 'w', action: 'bash:run', params: { command: 'true' } });
    assert.equal(r.status, 401);
    assert.equal(r.json.code, 4000);
    r = await req(B, 'POST', '/session/list', { worker_id: 'w' }, { authorization: 'Bearer mcpbox_wrong' });
    assert.equal(r.status, 401);
    assert.equal((await req(B, 'GET', '/tools')).json.status, 'error');
    assert.equal((await req(B, 'GET', '/health')).status, 200);
    const ready = await req(B, 'GET', '/ready');
    assert.equal(ready.json.total_sessions, 0);
  });

  test('each principal sees only its own sessions (same worker_id); MCP labels name them', async () => {
    const A = { authorization: `Bearer ${alice}` }, Bo = { 'x-api-key': bob };
    const c = await req(B, 'POST', '/session/create', { worker_id: 'same', resource_type: 'bash' }, A);
    assert.equal(c.status, 200);
    await req(B, 'POST', '/execute', { worker_id: 'same', action: 'bash:run', params: { command: 'echo secret > /workspace/s' } }, A);
    const bl = await req(B, 'POST', '/session/list', { worker_id: 'same' }, Bo);
    assert.equal(bl.json.data.count, 0, 'bob sees none of alice\'s sessions');
    const br = await req(B, 'POST', '/execute', { worker_id: 'same', action: 'bash:run', params: { command: 'cat /workspace/s' } }, Bo);
    assert.equal(br.json.meta.temporary_session, true, 'bob got a sandbox of his own');
    assert.notEqual(br.json.data.stdout, 'secret\n');
    const bd = await req(B, 'POST', '/session/destroy', { worker_id: 'same', resource_type: 'bash' }, Bo);
    assert.equal(bd.status, 404);
    assert.equal((await req(B, 'POST', '/session/list', { worker_id: 'same' }, A)).json.data.count, 1, 'alice\'s is still there');
  });

  test('shutdown: refused without an admin key; with one it answers, cleans up and the server exits 0', async () => {
    const r = await req(B, 'POST', '/api/v1/server/shutdown', {}, { authorization: `Bearer ${alice}` });
    assert.equal(r.status, 403);
    const ok = await req(B, 'POST', '/api/v1/server/shutdown', { cleanup_sessions: true }, { authorization: `Bearer ${admin}` });
    assert.equal(ok.status, 200);
    assert.equal(ok.json.message, 'Server shutdown initiated');
    assert.equal(ok.json.sessions_cleaned, 1, 'alice\'s session');
    const exit = await srv.waitExit(15000);
    assert.equal(exit.code, 0);
  });
});
