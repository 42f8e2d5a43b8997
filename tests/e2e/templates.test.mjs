// Session templates (tools/template_tools.c, server/base/template.c): presets from the config and by tool,
// session_create {template} applying limits, env and files under the call's own arguments, image names
// mapped to the template of their language, per-key visibility, and templates kept across a restart.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServe, createKey, wsClient, textOf } from './helpers.mjs';

const CONFIG = {
  pool_size: 1,
  templates: {
    small: {
      description: 'a small python box', memory_mb: 256, timeout_s: 7, language: 'python',
      env: { GREETING: 'hello', KEEP: 'kept' },
      files: { 'hello.py': "print('hi from template')\n", 'conf/app.ini': 'x=1\n' },
    },
  },
};

const ok = (r, what) => { assert.ok(!r.isError, `${what}: ${textOf(r)}`); return r.structuredContent; };
const fails = (r, re, what) => { assert.equal(r.isError, true, `${what}: expected an error, got ${textOf(r)}`); assert.match(textOf(r), re, what); };

describe('session templates', () => {
  let srv, a, b, ca, cb;
  before(async () => {
    srv = await startServe({ config: CONFIG });
    a = createKey(srv.dataDir, { name: 'tmpl-a' }).key;
    b = createKey(srv.dataDir, { name: 'tmpl-b' }).key;
    ca = await wsClient(srv, { key: a });
    cb = await wsClient(srv, { key: b });
  });
  after(async () => { await ca?.close(); await cb?.close(); await srv?.close(); });

  test('template_list: the built-in ones and the config\'s', async () => {
    const list = ok(await ca.call('template_list'), 'template_list').templates;
    const by = Object.fromEntries(list.map((t) => [t.name, t]));
    for (const n of ['basic', 'basic-python', 'basic-javascript']) assert.equal(by[n]?.source, 'builtin', n);
    assert.equal(by.small.source, 'config');
    assert.equal(by.small.memory_mb, 256);
    assert.deepEqual(by.small.files, { 'hello.py': 26, 'conf/app.ini': 4 }, 'files listed with their sizes');
    const info = ok(await ca.call('template_info', { name: 'small' }), 'template_info');
    assert.equal(info.files['hello.py'], "print('hi from template')\n");
    assert.equal(info.env.GREETING, 'hello');
  });

  test('session_create {template}: limits, env and files of the preset', async () => {
    const s = ok(await ca.call('session_create', { template: 'small' }), 'create');
    assert.equal(s.template, 'small');
    assert.equal(s.language, 'python');
    assert.equal(s.limits.memory_mb, 256);
    assert.equal(s.limits.timeout_s, 7);
    const r = ok(await ca.call('execute', { session_id: s.session_id, language: 'shell',
      code: 'echo "$GREETING $KEEP"; python3 hello.py; cat conf/app.ini' }), 'execute');
    assert.equal(r.stdout, 'hello kept\nhi from template\nx=1\n');
    ok(await ca.call('session_destroy', { session_id: s.session_id }), 'destroy');
  });

  test('explicit arguments override the preset; env is merged name by name', async () => {
    const s = ok(await ca.call('session_create', { template: 'small', memory_mb: 300, env: { GREETING: 'bye', OTHER: '1' } }), 'create');
    assert.equal(s.limits.memory_mb, 300);
    assert.equal(s.limits.timeout_s, 7, 'what the call does not say comes from the template');
    const r = ok(await ca.call('execute', { session_id: s.session_id, language: 'shell', code: 'echo "$GREETING $KEEP $OTHER"' }), 'execute');
    assert.equal(r.stdout, 'bye kept 1\n');
    ok(await ca.call('session_destroy', { session_id: s.session_id }), 'destroy');
  });

  test('image names map to the template of their language; an unknown one lists the templates', async () => {
    const p = ok(await ca.call('session_create', { template: 'python:3.11-slim' }), 'python image');
    assert.equal(p.template, 'basic-python');
    assert.equal(p.image, 'python:3.11-slim');
    assert.equal(p.language, 'python');
    const n = ok(await ca.call('session_create', { template: 'node:20' }), 'node image');
    assert.equal(n.template, 'basic-javascript');
    assert.equal(n.language, 'javascript');
    const info = ok(await ca.call('template_info', { name: 'library/ubuntu:22.04' }), 'distro image');
    assert.equal(info.name, 'basic');
    for (const s of [p, n]) ok(await ca.call('session_destroy', { session_id: s.session_id }), 'destroy');
    const unknown = await ca.call('session_create', { template: 'nosuchimage:1.0' });
    fails(unknown, /template "nosuchimage:1.0" not found.*\(available: /, 'unknown image');
    for (const n of ['basic', 'basic-python', 'basic-javascript', 'small']) assert.match(textOf(unknown), new RegExp(`available: .*\\b${n}\\b`), n);
    fails(await ca.call('session_create', { template: 'nope' }), /template "nope" not found/, 'unknown template');
  });

  test('template_create: a key\'s own templates are invisible to another key', async () => {
    const made = ok(await ca.call('template_create', { name: 'mine', memory_mb: 128, env: { WHO: 'a' }, files: { 'note.txt': 'A' } }), 'create');
    assert.equal(made.source, 'own');
    assert.ok(ok(await ca.call('template_list'), 'list').templates.some((t) => t.name === 'mine' && t.source === 'own'));
    assert.ok(!ok(await cb.call('template_list'), 'list b').templates.some((t) => t.name === 'mine'), 'b does not see a\'s template');
    fails(await cb.call('session_create', { template: 'mine' }), /not found/, 'b cannot use it');
    fails(await cb.call('template_info', { name: 'mine' }), /not found/, 'b cannot read it');
    fails(await cb.call('template_delete', { name: 'mine' }), /not found/, 'b cannot delete it');
    const s = ok(await ca.call('session_create', { template: 'mine' }), 'a uses it');
    assert.equal(s.limits.memory_mb, 128);
    const r = ok(await ca.call('execute', { session_id: s.session_id, language: 'shell', code: 'echo $WHO; cat note.txt' }), 'execute');
    assert.equal(r.stdout, 'a\nA');
    ok(await ca.call('session_destroy', { session_id: s.session_id }), 'destroy');
    fails(await ca.call('template_create', { name: 'mine', memory_mb: 64 }), /exists already/, 'same name again');
    fails(await ca.call('template_create', { name: 'basic' }), /exists already/, 'a built-in name');
    fails(await ca.call('template_create', { name: 'bad', files: { '../escape': 'x' } }), /inside \/workspace/, 'a file outside the workspace');
    fails(await ca.call('template_create', { name: 'bad', language: 'cobol' }), /language "cobol"/, 'an unknown language');
    fails(await ca.call('template_create', { name: 'x', global: true }), /administrator/, 'global needs an admin');
    fails(await ca.call('template_delete', { name: 'small' }), /config/, 'the config\'s cannot be deleted');
  });

  test('a template with a snapshot starts from its workspace, its files written over it', async () => {
    const src = ok(await ca.call('session_create', {}), 'source session');
    ok(await ca.call('execute', { session_id: src.session_id, language: 'shell', code: 'echo from-snapshot > base.txt; echo old > note.txt' }), 'fill');
    const snap = ok(await ca.call('session_snapshot', { session_id: src.session_id }), 'snapshot');
    ok(await ca.call('template_create', { name: 'from-snap', snapshot_id: snap.snapshot_id, files: { 'note.txt': 'new\n' } }), 'template');
    fails(await cb.call('template_create', { name: 'steal', snapshot_id: snap.snapshot_id }), /snapshot .* not found/, 'another key\'s snapshot');
    const s = ok(await ca.call('session_create', { template: 'from-snap' }), 'create from it');
    assert.equal(s.source_snapshot, snap.snapshot_id);
    const r = ok(await ca.call('execute', { session_id: s.session_id, language: 'shell', code: 'cat base.txt note.txt' }), 'read');
    assert.equal(r.stdout, 'from-snapshot\nnew\n');
    for (const id of [src.session_id, s.session_id]) ok(await ca.call('session_destroy', { session_id: id }), 'destroy');
    ok(await ca.call('template_delete', { name: 'from-snap' }), 'delete');
  });

  test('administrators make templates for everyone; stored templates survive a restart', async () => {
    const admin = await wsClient(srv);
    try {
      ok(await admin.call('template_create', { name: 'shared', timeout_s: 9, global: true, description: 'for all' }), 'global');
    } finally { await admin.close(); }
    const seen = ok(await cb.call('template_list'), 'b list').templates.find((t) => t.name === 'shared');
    assert.equal(seen?.source, 'global');
    await ca.close(); await cb.close();
    const dir = srv.dataDir;
    await srv.close({ keepData: true });
    srv = await startServe({ dataDir: dir, config: CONFIG });
    ca = await wsClient(srv, { key: a });
    cb = await wsClient(srv, { key: b });
    const la = ok(await ca.call('template_list'), 'a list after restart').templates;
    assert.equal(la.find((t) => t.name === 'mine')?.memory_mb, 128, 'a\'s template was kept');
    assert.equal(la.find((t) => t.name === 'shared')?.timeout_s, 9, 'the global one was kept');
    assert.ok(!ok(await cb.call('template_list'), 'b').templates.some((t) => t.name === 'mine'));
    ok(await ca.call('template_delete', { name: 'mine' }), 'a deletes its own');
    fails(await ca.call('template_info', { name: 'mine' }), /not found/, 'gone');
  });
});

describe('session templates: bounds per key', () => {
  // each template may hold 1 MiB of files and 8 MiB of env, and the only bound per key was 100 of
  // them: one key kept 900 MiB in the server's memory and its store. Now a key (with the keys it
  // made) holds at most quota.templates (100) and quota.template_bytes (16 MiB), and nothing that
  // another key's templates use counts against it.
  test('a key that fills quota.templates and quota.template_bytes is refused; its own keys share them; another key still creates', { timeout: 120000 }, async () => {
    const srv = await startServe({ config: { pool_size: 0 } });
    const a = await wsClient(srv, { key: createKey(srv.dataDir, { name: 'tmpl-quota-a' }).key });
    const b = await wsClient(srv, { key: createKey(srv.dataDir, { name: 'tmpl-quota-b' }).key });
    let sub;
    try {
      // 256 variables of 32 KiB and 1 MiB of files: the most one template may hold, about 9.4 MiB
      const env = Object.fromEntries(Array.from({ length: 256 }, (_, i) => [`V${i}`, 'e'.repeat(32768)]));
      const big = { env, files: { 'blob.txt': 'f'.repeat(1 << 20) } };
      ok(await a.call('template_create', { name: 'big1', ...big }), 'a: first big template');
      fails(await a.call('template_create', { name: 'big2', ...big }),
        /quota: this key may hold 16384 KiB of template settings; its templates hold 9\d{3} KiB and this one takes 9\d{3} KiB/, 'a: past 16 MiB');
      // a key made by a is counted for a, so minting keys does not multiply the bound
      const made = ok(await a.call('key_create', { name: 'tmpl-sub' }), 'key_create');
      sub = await wsClient(srv, { key: made.key });
      fails(await sub.call('template_create', { name: 'big2', ...big }), /quota: this key may hold 16384 KiB/, 'a\'s key: same quota');
      ok(await b.call('template_create', { name: 'big1', ...big }), 'b: its own 16 MiB');
      ok(await b.call('template_create', { name: 'b-small', timeout_s: 5 }), 'b: a small one');
      ok(await a.call('template_delete', { name: 'big1' }), 'a frees its bytes');
      ok(await sub.call('template_create', { name: 'big2', ...big }), 'a\'s key: room again');
      // the count: 100 small templates, the first made above
      for (let i = 1; i < 100; i++) ok(await a.call('template_create', { name: `t${i}`, timeout_s: 5 }), `a: template ${i}`);
      fails(await a.call('template_create', { name: 't100', timeout_s: 5 }), /quota: this key may hold 100 templates and holds 100/, 'a: the 101st');
      ok(await b.call('template_create', { name: 'b-more', timeout_s: 5 }), 'b still creates');
      assert.equal(ok(await b.call('template_list'), 'b list').templates.filter((t) => t.source === 'own').length, 3);
    } finally {
      await sub?.close();
      await a.close();
      await b.close();
      await srv.close();
    }
  });
});
