// API keys with rights (server/auth.h, server/base/rights.h): keys made by a user with key_create act on the
// user's sessions and never hold more than the user; permissions (execute, sandbox_read, sandbox_write) and
// per-session grants (viewer/editor/owner, read/write/admin) are enforced on every tool call, whatever the
// transport (the SDK client over Streamable HTTP, and over WebSocket); expired and revoked keys are refused,
// also on a connection opened before (each POST and WebSocket message is authenticated); a viewer's key never gets a control token for the session's display.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startServe, httpClient, wsClient, httpRequest, textOf, okResult, errResult, keyCli, BIN, sleep } from './helpers.mjs';

function addUser(dataDir, name, password, ...flags) {
  const r = spawnSync(BIN, ['user', 'add', name, ...flags, '--password-stdin', '--data', dataDir],
    { input: `${password}\n`, encoding: 'utf8', timeout: 20000 });
  assert.equal(r.status, 0, `user add ${name}: ${r.stderr}`);
}

async function loginToken(srv, username, password) {
  const r = await httpRequest(srv, { path: '/auth/login', headers: { 'Content-Type': 'application/json' }, body: { username, password } });
  assert.equal(r.status, 200, r.text);
  return r.json.access_token;
}

describe('API keys with rights', () => {
  let srv, alice, admin, sidA, sidB;
  const clients = [];
  const open = async (key, how = httpClient) => { const c = await how(srv, { key }); clients.push(c); return c; };
  /** alice's key_create; returns {key, id, info}. */
  const mint = async (args, as = alice) => {
    const sc = okResult(await as.call('key_create', args), 'key_create');
    assert.match(sc.key, /^mcpbox_[\w-]{43}$/);
    return { key: sc.key, id: sc.id, info: sc };
  };

  before(async () => {
    srv = await startServe();
    addUser(srv.dataDir, 'alice', 'alice-password-1');
    alice = await open(await loginToken(srv, 'alice', 'alice-password-1'));
    admin = await open(srv.key);
    sidA = okResult(await alice.call('session_create', { name: 'A' }), 'create A').session_id;
    sidB = okResult(await alice.call('session_create', { name: 'B' }), 'create B').session_id;
    okResult(await alice.call('file_write', { session_id: sidA, path: 'notes.txt', content: 'in A\n' }));
    okResult(await alice.call('file_write', { session_id: sidB, path: 'notes.txt', content: 'in B\n' }));
  });
  after(async () => {
    for (const c of clients) await c.close().catch(() => {});
    await srv?.close();
  });

  test("a key alice makes acts on alice's sessions, and lists with its description", async () => {
    const k = await mint({ name: 'ci', description: 'CI pipeline key' });
    assert.deepEqual(k.info.permissions, ['execute', 'sandbox_read', 'sandbox_write'], 'all alice holds by default');
    assert.equal(k.info.owner, 'user:alice');
    const c = await open(k.key);
    const ids = okResult(await c.call('session_list', {})).sessions.map((s) => s.session_id).sort();
    assert.deepEqual(ids, [sidA, sidB].sort(), "it sees alice's two sessions");
    assert.match(textOf(await c.call('file_read', { session_id: sidB, path: 'notes.txt' })), /in B/);
    const mine = okResult(await alice.call('key_list', {})).keys.find((x) => x.id === k.id);
    assert.equal(mine.description, 'CI pipeline key');
    assert.ok(mine.last_used_at, 'last_used_at is recorded once the key is used');
    // a session it makes is alice's
    const sid = okResult(await c.call('session_create', {})).session_id;
    const seen = okResult(await alice.call('session_list', {})).sessions.map((s) => s.session_id);
    assert.ok(seen.includes(sid), 'alice sees the session her key made');
    okResult(await alice.call('session_destroy', { session_id: sid }));
  });

  test('a sandbox_read key reads files but cannot write, execute or create sessions', async () => {
    const k = await mint({ name: 'reader', permissions: ['sandbox_read'] });
    const c = await open(k.key);
    assert.match(textOf(await c.call('file_read', { session_id: sidA, path: 'notes.txt' })), /in A/);
    errResult(await c.call('file_write', { session_id: sidA, path: 'x.txt', content: 'no' }), 'permission denied', 'sandbox_write');
    errResult(await c.call('execute', { session_id: sidA, language: 'bash', code: 'echo hi' }), 'permission denied', 'execute');
    errResult(await c.call('session_create', {}), 'sandbox_write');
    errResult(await c.call('file_read', { path: 'notes.txt' }), 'may not create sessions');
    const r = await alice.call('file_read', { session_id: sidA, path: 'x.txt' });
    assert.equal(r.isError, true, 'nothing was written');
  });

  test('tools/list offers what the key can call: a reader gets no execute, a scoped key no session_create', async () => {
    const names = async (key) => (await (await open(key)).client.listTools()).tools.map((t) => t.name);
    const full = await names((await mint({ name: 'all' })).key);
    for (const n of ['execute', 'file_write', 'file_read', 'session_create', 'session_destroy', 'template_create'])
      assert.ok(full.includes(n), `a full key is offered ${n}`);
    const reader = await names((await mint({ name: 'list-reader', permissions: ['sandbox_read'] })).key);
    for (const n of ['file_read', 'session_list', 'screenshot', 'grep']) assert.ok(reader.includes(n), `a reader is offered ${n}`);
    for (const n of ['execute', 'file_write', 'input', 'session_create', 'terminal_open']) assert.ok(!reader.includes(n), `a reader is not offered ${n}`);
    const viewer = await names((await mint({ sessions: [{ session_id: sidA, level: 'viewer' }] })).key);
    assert.ok(viewer.includes('file_read') && !viewer.includes('file_write') && !viewer.includes('session_create'), viewer.join());
    const editor = await names((await mint({ sessions: [{ session_id: sidA, level: 'editor' }] })).key);
    assert.ok(editor.includes('execute') && editor.includes('file_write'), editor.join());
    assert.ok(!editor.includes('session_destroy') && !editor.includes('session_create') && !editor.includes('template_create'), editor.join());
  });

  test('a viewer (read) key of session A reads it but cannot execute or write there', async () => {
    const k = await mint({ sessions: [{ session_id: sidA, level: 'read' }] });
    assert.deepEqual(k.info.sessions, [{ session_id: sidA, level: 'viewer' }], 'read is stored as viewer');
    const c = await open(k.key, wsClient);
    assert.match(textOf(await c.call('file_read', { session_id: sidA, path: 'notes.txt' })), /in A/);
    errResult(await c.call('execute', { session_id: sidA, language: 'bash', code: 'echo hi' }), 'permission denied', 'viewer');
    errResult(await c.call('file_write', { session_id: sidA, path: 'notes.txt', content: 'x' }), 'viewer');
    errResult(await c.call('session_destroy', { session_id: sidA }), 'viewer');
    const info = okResult(await c.call('session_info', { session_id: sidA }));
    assert.equal(info.mcp_url, undefined, 'no session endpoint token (it would act as alice)');
  });

  test("a key scoped to session A cannot touch session B, nor see it", async () => {
    const k = await mint({ sessions: [{ session_id: sidA, level: 'editor' }] });
    const c = await open(k.key);
    const run = okResult(await c.call('execute', { session_id: sidA, language: 'bash', code: 'echo scoped-ok' }));
    assert.match(JSON.stringify(run), /scoped-ok/, 'an editor of A executes in A');
    errResult(await c.call('file_read', { session_id: sidB, path: 'notes.txt' }), 'permission denied', sidB);
    errResult(await c.call('execute', { session_id: sidB, language: 'bash', code: 'echo no' }), 'permission denied', sidB);
    const ids = okResult(await c.call('session_list', {})).sessions.map((s) => s.session_id);
    assert.deepEqual(ids, [sidA], 'its listing has A only');
    // and only A's snapshots, though alice sees both
    const snapA = okResult(await alice.call('session_snapshot', { session_id: sidA })).snapshot_id;
    const snapB = okResult(await alice.call('session_snapshot', { session_id: sidB })).snapshot_id;
    const mine = okResult(await alice.call('snapshot_list', {})).snapshots.map((s) => s.snapshot_id);
    assert.ok(mine.includes(snapA) && mine.includes(snapB), 'alice lists both snapshots');
    const scoped = okResult(await c.call('snapshot_list', {})).snapshots.map((s) => s.snapshot_id);
    assert.ok(scoped.includes(snapA) && !scoped.includes(snapB), `the scoped key lists A's snapshot only: ${scoped}`);
    errResult(await c.call('snapshot_info', { snapshot_id: snapB }), snapB);
    errResult(await c.call('session_create', {}), 'may not create sessions');
    errResult(await c.call('execute', { language: 'bash', code: 'echo implicit' }), 'give session_id');
    // nor can it grant itself more
    errResult(await c.call('key_create', { sessions: [{ session_id: sidB, level: 'viewer' }] }), sidB);
    errResult(await c.call('key_create', { sessions: [{ session_id: sidA, level: 'owner' }] }), 'editor');
  });

  test("a viewer's key gets a view token for the display, never a control token", async () => {
    const viewer = await mint({ sessions: [{ session_id: sidA, level: 'viewer' }] });
    const editor = await mint({ sessions: [{ session_id: sidA, level: 'editor' }] });
    const page = (key) => httpRequest(srv, { method: 'GET', path: `/sessions/${sidA}/view`, headers: { Authorization: `Bearer ${key}` } });
    const v = await page(viewer.key);
    assert.equal(v.status, 200, v.text);
    assert.match(v.text, /view_only=true/, 'the viewer gets a view-only page');
    const e = await page(editor.key);
    assert.equal(e.status, 200, e.text);
    assert.doesNotMatch(e.text, /view_only=true/, 'the editor gets control');
    const other = await mint({ sessions: [{ session_id: sidB, level: 'owner' }] });
    assert.equal((await page(other.key)).status, 403, 'a key of B gets nothing of A');
  });

  test('an expired key is refused, also on a connection opened before', async () => {
    const k = await mint({ expires_at: '2s' });
    assert.ok(k.info.expires_at, 'it has an expiry');
    const ws = await open(k.key, wsClient);	// the key is checked again at every message
    const http = await open(k.key);		// and at every POST
    okResult(await ws.call('file_list', { session_id: sidA }));
    okResult(await http.call('file_list', { session_id: sidA }));
    await sleep(2200);
    await assert.rejects(ws.call('file_list', { session_id: sidA }), /closed/i, 'the WebSocket is closed at its next message');
    await assert.rejects(http.call('file_list', { session_id: sidA }), (e) => e.code === 401, 'the next POST is refused');
    await assert.rejects(httpClient(srv, { key: k.key }), (e) => e.code === 401, 'a new connection with it is refused');
  });

  test('a revoked key is refused at once', async () => {
    const k = await mint({ name: 'to revoke' });
    const ws = await open(k.key, wsClient);
    const http = await open(k.key);
    okResult(await ws.call('file_list', { session_id: sidA }));
    okResult(await http.call('file_list', { session_id: sidA }));
    okResult(await alice.call('key_revoke', { id: k.id }));
    await assert.rejects(ws.call('file_list', { session_id: sidA }), /closed/i, 'the WebSocket is closed at its next message');
    await assert.rejects(http.call('file_list', { session_id: sidA }), (e) => e.code === 401, 'the next POST is refused');
    await assert.rejects(httpClient(srv, { key: k.key }), (e) => e.code === 401, 'a new connection with it is refused');
    const listed = okResult(await alice.call('key_list', {})).keys.find((x) => x.id === k.id);
    assert.ok(listed.revoked_at, 'listed as revoked');
  });

  test('a non-admin cannot mint an admin key; an administrator can; users see only their keys', async () => {
    errResult(await alice.call('key_create', { admin: true }), 'only an administrator');
    const k = await mint({ admin: true, name: 'ops' }, admin);
    assert.equal(k.info.admin, true);
    const c = await open(k.key);
    const ids = okResult(await c.call('session_list', {})).sessions.map((s) => s.session_id);
    assert.ok(ids.includes(sidA) && ids.includes(sidB), "an admin key sees alice's sessions");
    const aliceKeys = okResult(await alice.call('key_list', {})).keys;
    assert.ok(!aliceKeys.some((x) => x.id === k.id), "alice does not see the administrator's key");
    errResult(await alice.call('key_revoke', { id: k.id }), 'no key');
    const all = okResult(await admin.call('key_list', {})).keys;
    assert.ok(all.some((x) => x.owner === 'user:alice'), "the administrator sees alice's keys");
  });

  test('mcpbox key create takes the new options and refuses bad ones', () => {
    let r = keyCli(srv.dataDir, 'create', '--name', 'cli-reader', '--description', 'read only',
      '--permissions', 'sandbox_read', '--session', `${sidA}:read`, '--expires', '30d');
    assert.equal(r.status, 0, r.stderr);
    r = keyCli(srv.dataDir, 'list');
    assert.match(r.stdout, new RegExp(`cli-reader\\s.*sandbox_read ${sidA}:viewer`));
    // the owner and description columns: keys made by alice name her; the description is shown
    assert.match(r.stdout, /^ID\s.*\sOWNER\s+DESCRIPTION$/m);
    assert.match(r.stdout, /^key_\w+\s.*\suser:alice\s/m, r.stdout);
    assert.match(r.stdout, /^key_\w+\s+cli-reader\s.*\s-\s+read only$/m, r.stdout);
    r = keyCli(srv.dataDir, 'create', '--permissions', 'sandbox_fly');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /sandbox_fly/);
    r = keyCli(srv.dataDir, 'create', '--session', `${sidA}:boss`);
    assert.equal(r.status, 2);
  });

  // last: it disables alice
  test("a disabled user's keys stop with her tokens", async () => {
    const k = await mint({ name: 'before disable' });
    okResult(await (await open(k.key)).call('file_list', { session_id: sidA }));
    const r = spawnSync(BIN, ['user', 'disable', 'alice', '--data', srv.dataDir], { encoding: 'utf8', timeout: 20000 });
    assert.equal(r.status, 0, r.stderr);
    await assert.rejects(httpClient(srv, { key: k.key }), (e) => e.code === 401, "alice's key is refused");
  });
});
