// MCP resources with the official SDK client: the files of a session's workspace and its screen
// (mcpbox://sessions/{id}/files/{path}, mcpbox://sessions/{id}/screen), list with pages, templates,
// reads as text or blob, confinement, other keys' sessions refused, subscriptions (inotify) with
// coalescing, unsubscribe, and the watches gone with the session. Over stdio, Streamable HTTP and WebSocket.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { ResourceUpdatedNotificationSchema, ResourceListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import {
  startClient, startServe, httpClient, wsClient, createKey, bareDataDir, makeDataDir, textOf, sleep, poll, IS_ROOT,
} from './helpers.mjs';

const closers = [];
after(async () => { for (const c of closers.reverse()) await c.close().catch(() => {}); });

function ok(r, what = '') {
  assert.ok(!r.isError, `${what} unexpectedly failed: ${textOf(r)}`);
  return r.structuredContent;
}

async function sh(c, sid, code) {
  const r = ok(await c.call('execute', { language: 'shell', session_id: sid, code }), code);
  assert.equal(r.exit_code, 0, `${code}: ${r.stderr}`);
  return r;
}

const fileUri = (sid, p) => `mcpbox://sessions/${sid}/files/${p}`;

/** Collect notifications/resources/updated on a client. */
function updates(client) {
  const got = [];
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => got.push({ uri: n.params.uri, t: Date.now() }));
  return got;
}

/** A serve process with two keys and an HTTP client of each. */
async function twoKeys() {
  const dataDir = makeDataDir();
  const srv = await startServe({ dataDir });
  closers.push(srv);
  const k1 = createKey(dataDir, { name: 'one' });
  const k2 = createKey(dataDir, { name: 'two' });
  const a = await httpClient(srv, { key: k1.key });
  closers.push(a);
  const b = await httpClient(srv, { key: k2.key });
  closers.push(b);
  return { srv, k1, a, b };
}

async function rejects(p, code, re) {
  await assert.rejects(p, (e) => {
    assert.equal(e.code, code, `code of ${e.message}`);
    if (re) assert.match(e.message, re);
    return true;
  });
}

/** inotify watches the process holds (from /proc/PID/fdinfo). */
function inotifyWatches(pid) {
  let n = 0;
  for (const fd of fs.readdirSync(`/proc/${pid}/fdinfo`)) {
    try { n += (fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8').match(/^inotify wd:/mg) || []).length; } catch { /* closed */ }
  }
  return n;
}

test('stdio: list, templates, read text / blob / screen, confinement, errors', async () => {
  const c = await startClient({ dataDir: bareDataDir() });
  closers.push(c);
  const caps = c.client.getServerCapabilities();
  assert.deepEqual(caps.resources, { subscribe: true, listChanged: true });

  // nothing yet: no session of ours
  assert.deepEqual((await c.client.listResources()).resources, []);
  const sid = ok(await c.call('session_create', {})).session_id;
  await sh(c, sid, `printf 'hello\\n' > hello.txt; printf 'x = 1\\n' > script.py; printf 'plain words' > README;
    mkdir -p sub; printf '# deep\\n' > sub/deep.md; printf 'sp' > 'a b%.txt';
    python3 -c "import sys; sys.stdout.buffer.write(bytes(range(256)))" > data.bin;
    ln -s /etc/passwd escape; ln -s hello.txt link.txt`);

  const list = await c.client.listResources();
  const byName = Object.fromEntries(list.resources.map((r) => [r.name, r]));
  assert.deepEqual(Object.keys(byName).sort(), ['README', 'a b%.txt', 'data.bin', 'hello.txt', 'script.py'],
    'the regular files at the top; no directories, no symlinks, no deeper files');
  assert.equal(byName['hello.txt'].uri, fileUri(sid, 'hello.txt'));
  assert.equal(byName['hello.txt'].mimeType, 'text/plain');
  assert.equal(byName['hello.txt'].size, 6);
  assert.equal(byName['script.py'].mimeType, 'text/x-python');
  assert.equal(byName['a b%.txt'].uri, fileUri(sid, 'a%20b%25.txt'));
  assert.equal(list.nextCursor, undefined);

  const tpl = (await c.client.listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate);
  assert.deepEqual(tpl, ['mcpbox://sessions/{session_id}/files/{+path}', 'mcpbox://sessions/{session_id}/screen']);

  const read = async (p) => (await c.client.readResource({ uri: fileUri(sid, p) })).contents;
  assert.deepEqual(await read('hello.txt'), [{ uri: fileUri(sid, 'hello.txt'), mimeType: 'text/plain', text: 'hello\n' }]);
  assert.deepEqual(await read('README'), [{ uri: fileUri(sid, 'README'), mimeType: 'text/plain', text: 'plain words' }]);
  assert.equal((await read('sub/deep.md'))[0].text, '# deep\n');
  assert.equal((await read('sub/deep.md'))[0].mimeType, 'text/markdown');
  assert.equal((await read('a%20b%25.txt'))[0].text, 'sp');
  const bin = (await read('data.bin'))[0];
  assert.equal(bin.mimeType, 'application/octet-stream');
  assert.equal(bin.text, undefined);
  assert.deepEqual([...Buffer.from(bin.blob, 'base64')], [...Array(256).keys()]);
  // a symlink inside the workspace is followed beneath it
  assert.equal((await read('link.txt'))[0].text, 'hello\n');

  // the screen: a PNG (the display starts for it), then listed while it runs
  const screen = (await c.client.readResource({ uri: `mcpbox://sessions/${sid}/screen` })).contents[0];
  assert.equal(screen.mimeType, 'image/png');
  assert.deepEqual([...Buffer.from(screen.blob, 'base64').subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10]);
  assert.ok((await c.client.listResources()).resources.some((r) => r.uri === `mcpbox://sessions/${sid}/screen` &&
    r.mimeType === 'image/png'));

  // refused: out of the workspace, missing, not ours, not a file, malformed
  await rejects(read('../../etc/passwd'), -32602, /outside|above|workspace/);
  await rejects(read('%2e%2e/%2e%2e/etc/passwd'), -32602);
  await rejects(read('escape'), -32602);
  await rejects(read('/etc/passwd'), -32602);
  await rejects(read('nope.txt'), -32002);
  await rejects(read('sub'), -32602, /directory/);
  await rejects(read('bad%zz'), -32602, /percent/);
  await rejects(c.client.readResource({ uri: fileUri('ses_000000000000000000000000', 'hello.txt') }), -32002);
  await rejects(c.client.readResource({ uri: 'file:///etc/passwd' }), -32002);
  await rejects(c.client.readResource({ uri: `mcpbox://sessions/${sid}/other` }), -32002);
  await rejects(c.client.request({ method: 'resources/read', params: {} },
    (await import('@modelcontextprotocol/sdk/types.js')).ReadResourceResultSchema), -32602);
  await rejects(c.client.listResources({ cursor: 'not-a-cursor!' }), -32602, /cursor/);
});

test('stdio: pages of 100 across sessions, in a stable order without repeats', async () => {
  const c = await startClient();
  closers.push(c);
  const a = ok(await c.call('session_create', {})).session_id;
  const b = ok(await c.call('session_create', {})).session_id;
  await sh(c, a, 'for i in $(seq 1 130); do echo $i > f$i.txt; done');
  await sh(c, b, 'for i in $(seq 1 30); do echo $i > g$i.txt; done');
  const seen = [];
  let cursor;
  let pages = 0;
  do {
    const page = await c.client.listResources(cursor ? { cursor } : {});
    assert.ok(page.resources.length <= 100);
    seen.push(...page.resources.map((r) => r.uri));
    cursor = page.nextCursor;
    pages++;
  } while (cursor);
  assert.equal(pages, 2);
  assert.equal(seen.length, 160);
  assert.equal(new Set(seen).size, 160);
  for (let i = 1; i <= 130; i++) assert.ok(seen.includes(fileUri(a, `f${i}.txt`)));
  for (let i = 1; i <= 30; i++) assert.ok(seen.includes(fileUri(b, `g${i}.txt`)));
});

test('stdio: subscribe, a change by execute notifies, a flood is coalesced, unsubscribe stops, destroy cleans up', async () => {
  const c = await startClient();
  closers.push(c);
  const got = updates(c.client);
  const sid = ok(await c.call('session_create', {})).session_id;
  await sh(c, sid, 'echo one > watched.txt; mkdir d');
  const uri = fileUri(sid, 'watched.txt');
  await c.client.subscribeResource({ uri });
  await sleep(150);
  assert.equal(got.length, 0, 'nothing before a change');

  await sh(c, sid, 'echo two >> watched.txt');
  await poll(() => got.length >= 1, { timeout: 3000 });
  assert.equal(got[0].uri, uri);
  assert.equal((await c.client.readResource({ uri })).contents[0].text, 'one\ntwo\n');

  // another file of the same directory changes: nothing for this URI
  await sleep(150);
  got.length = 0;
  await sh(c, sid, 'echo x > other.txt; echo y > d/watched.txt');
  await sleep(300);
  assert.equal(got.length, 0, `unrelated writes notified: ${JSON.stringify(got)}`);

  // a flood: 400 appends over ~1 s give about one notification per 100 ms
  const t0 = Date.now();
  await sh(c, sid, 'python3 -c "\nimport time\nf = open(\'watched.txt\', \'a\')\nfor i in range(400):\n    f.write(str(i)); f.flush(); time.sleep(0.0025)\n"');
  const span = Date.now() - t0;
  await sleep(250);
  const n = got.length;
  assert.ok(n >= 3, `a flood of ${span} ms notified ${n} times`);
  assert.ok(n <= Math.ceil(span / 100) + 2, `a flood of ${span} ms notified ${n} times (at most one per 100 ms)`);
  // (their arrival times are not checked one by one: a loaded client reads its pipe in bursts)

  // a file that does not exist yet, replaced by a rename, then deleted
  const later = fileUri(sid, 'd/later.json');
  await c.client.subscribeResource({ uri: later });
  got.length = 0;
  await sh(c, sid, 'echo "{}" > d/tmp && mv d/tmp d/later.json');
  await poll(() => got.some((g) => g.uri === later), { timeout: 3000 });
  await sleep(150);
  got.length = 0;
  await sh(c, sid, 'rm d/later.json');
  await poll(() => got.some((g) => g.uri === later), { timeout: 3000 });

  // unsubscribe: no more
  await c.client.unsubscribeResource({ uri });
  await c.client.unsubscribeResource({ uri: later });
  await sleep(150);
  got.length = 0;
  await sh(c, sid, 'echo three >> watched.txt; echo "{}" > d/later.json');
  await sleep(400);
  assert.deepEqual(got, []);
  assert.equal(inotifyWatches(c.pid), 0, 'no watch left after unsubscribing');

  // errors: a missing directory, the screen, the workspace itself, out of the workspace
  await rejects(c.client.subscribeResource({ uri: fileUri(sid, 'no/such/dir.txt') }), -32002);
  await rejects(c.client.subscribeResource({ uri: `mcpbox://sessions/${sid}/screen` }), -32602, /screen/);
  await rejects(c.client.subscribeResource({ uri: fileUri(sid, '.') }), -32602);
  await rejects(c.client.subscribeResource({ uri: fileUri(sid, '../x') }), -32602);

  // the session goes: one last notification, and its watches with it
  await c.client.subscribeResource({ uri });
  await c.client.subscribeResource({ uri: fileUri(sid, 'd/a') });
  assert.equal(inotifyWatches(c.pid), 2);
  got.length = 0;
  ok(await c.call('session_destroy', { session_id: sid }));
  await poll(() => got.length >= 2, { timeout: 3000 });
  assert.deepEqual(got.map((g) => g.uri).sort(), [fileUri(sid, 'd/a'), uri]);
  assert.equal(inotifyWatches(c.pid), 0, 'the watches went with the session');
  await rejects(c.client.readResource({ uri }), -32002);
});

test('stdio: subscriptions are bounded per connection', async () => {
  const c = await startClient();
  closers.push(c);
  const sid = ok(await c.call('session_create', {})).session_id;
  for (let i = 0; i < 128; i++) await c.client.subscribeResource({ uri: fileUri(sid, `f${i}`) });
  assert.equal(inotifyWatches(c.pid), 1, 'one inotify watch for the directory they share');
  await rejects(c.client.subscribeResource({ uri: fileUri(sid, 'f128') }), -32602, /128 subscriptions/);
  await c.client.subscribeResource({ uri: fileUri(sid, 'f0') }); // again: already subscribed, fine
  await c.client.unsubscribeResource({ uri: fileUri(sid, 'f0') });
  await c.client.subscribeResource({ uri: fileUri(sid, 'f128') });
  assert.equal(inotifyWatches(c.pid), 1);
});

test('serve: two keys over HTTP, and WebSocket; another key\'s session is not there', async () => {
  const { srv, k1, a, b } = await twoKeys();
  const sid = ok(await a.call('session_create', {})).session_id;
  await sh(a, sid, 'echo secret > mine.txt');
  const uri = fileUri(sid, 'mine.txt');

  assert.deepEqual((await a.client.listResources()).resources.map((r) => r.uri), [uri]);
  assert.equal((await a.client.readResource({ uri })).contents[0].text, 'secret\n');
  assert.deepEqual((await b.client.listResources()).resources, []);
  await rejects(b.client.readResource({ uri }), -32002);
  await rejects(b.client.subscribeResource({ uri }), -32002);
  await rejects(b.client.readResource({ uri: `mcpbox://sessions/${sid}/screen` }), -32002);

  // a notification over HTTP (the GET stream)
  const got = updates(a.client);
  await a.client.subscribeResource({ uri });
  await sh(a, sid, 'echo more >> mine.txt');
  await poll(() => got.length >= 1, { timeout: 3000 });
  assert.equal(got[0].uri, uri);
  assert.equal(inotifyWatches(srv.pid), 1);
  await a.transport.terminateSession(); // DELETE /mcp: the MCP session ends
  await a.close();
  await poll(() => inotifyWatches(srv.pid) === 0, { timeout: 3000 });
  assert.equal(inotifyWatches(srv.pid), 0, 'a connection that ends drops its watches');

  // WebSocket, same key: read, subscribe, notified
  const w = await wsClient(srv, { key: k1.key });
  closers.push(w);
  assert.equal((await w.client.readResource({ uri })).contents[0].text, 'secret\nmore\n');
  const wgot = updates(w.client);
  await w.client.subscribeResource({ uri });
  await sh(w, sid, 'echo again >> mine.txt');
  await poll(() => wgot.length >= 1, { timeout: 3000 });
  assert.equal(wgot[0].uri, uri);
});

test('list_changed: a listing client hears of its own sessions created and destroyed, not of another key\'s', async () => {
  const { srv, a, b } = await twoKeys();
  assert.equal(a.client.getServerCapabilities().resources.listChanged, true);
  // an admin key's listing shows every session: it hears of them all
  const admin = await httpClient(srv, { key: createKey(srv.dataDir, { name: 'root', admin: true }).key });
  closers.push(admin);
  const heard = { a: 0, b: 0, admin: 0 };
  a.client.setNotificationHandler(ResourceListChangedNotificationSchema, () => { heard.a++; });
  b.client.setNotificationHandler(ResourceListChangedNotificationSchema, () => { heard.b++; });
  admin.client.setNotificationHandler(ResourceListChangedNotificationSchema, () => { heard.admin++; });
  await a.client.listResources();
  await b.client.listResources();
  await admin.client.listResources();
  const sid = ok(await a.call('session_create', {})).session_id;
  await poll(() => heard.a >= 1, { timeout: 3000 });
  assert.equal(heard.a, 1, 'one notification for one new session');
  ok(await a.call('file_write', { session_id: sid, path: 'new.txt', content: 'x' }));
  assert.deepEqual((await a.client.listResources()).resources.map((r) => r.uri), [fileUri(sid, 'new.txt')]);
  ok(await a.call('session_destroy', { session_id: sid }));
  await poll(() => heard.a >= 2, { timeout: 3000 });
  await sleep(200);
  assert.equal(heard.b, 0, 'another key\'s client hears nothing of these sessions');
  const own = ok(await b.call('session_create', {})).session_id;
  await poll(() => heard.b >= 1, { timeout: 3000 });
  assert.equal(heard.a, 2);
  ok(await b.call('session_destroy', { session_id: own }));
  await poll(() => heard.admin >= 4, { timeout: 3000 });
  assert.equal(heard.admin, 4, 'the admin heard of both keys\' sessions, created and destroyed');
});

test('a session made from a snapshot (an overlay workspace as root) notifies too', async () => {
  const c = await startClient();
  closers.push(c);
  const got = updates(c.client);
  const base = ok(await c.call('session_create', {})).session_id;
  await sh(c, base, 'echo base > kept.txt');
  const snap = ok(await c.call('session_snapshot', { session_id: base })).snapshot_id;
  const sid = ok(await c.call('session_create', { snapshot_id: snap })).session_id;
  const uri = fileUri(sid, 'kept.txt');
  if (IS_ROOT) {
    const mounts = fs.readFileSync(`/proc/${c.pid}/mountinfo`, 'utf8').split('\n');
    assert.ok(mounts.some((l) => l.includes(`/workspaces/${sid} `) && / - overlay /.test(l)), 'the workspace is an overlay');
  }
  assert.equal((await c.client.readResource({ uri })).contents[0].text, 'base\n');
  await c.client.subscribeResource({ uri });
  await sh(c, sid, 'echo changed >> kept.txt');
  await poll(() => got.length >= 1, { timeout: 3000 });
  assert.equal(got[0].uri, uri);
});
