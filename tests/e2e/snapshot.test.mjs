// Snapshots: exact restore (checked with a recursive walk of the host workspace, not with git),
// sessions created from a snapshot, diffs, deletion, and other principals kept out.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, makeDataDir, startRaw, startServe, createKey, httpClient } from './helpers.mjs';

/** path -> {type, mode, content|target} of a tree, without following symlinks. */
function walk(root) {
  const out = {};
  const visit = (rel) => {
    const abs = path.join(root, rel);
    for (const name of fs.readdirSync(abs).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const st = fs.lstatSync(path.join(root, r));
      if (st.isSymbolicLink()) out[r] = { type: 'link', target: fs.readlinkSync(path.join(root, r)) };
      else if (st.isDirectory()) { out[r] = { type: 'dir' }; visit(r); }
      else out[r] = { type: 'file', exec: (st.mode & 0o100) !== 0, content: fs.readFileSync(path.join(root, r)).toString('base64') };
    }
  };
  visit('');
  return out;
}

let seq = 0;
const call = (raw, name, args) => raw.callTool(name, args, `s${++seq}`).then((r) => r.result);

describe('snapshots', () => {
  let raw, dir, sid;
  before(async () => {
    dir = makeDataDir();
    raw = await startRaw({ dataDir: dir });
    await raw.handshake();
  });
  after(() => raw.close());

  test('restore brings back exactly the snapshot: contents, exec bits, symlinks, empty dirs', async () => {
    sid = (await call(raw, 'session_create', {})).structuredContent.session_id;
    const ws = path.join(dir, 'workspaces', sid);
    const setup = await call(raw, 'execute', { session_id: sid, language: 'shell', code: [
      'mkdir -p src/lib empty/inner nested/.git',
      'printf "alpha\\n" > src/a.txt; printf "beta\\n" > src/lib/b.txt',
      'head -c 70000 /dev/urandom > blob.bin',
      'printf "#!/bin/sh\\necho run\\n" > run.sh; chmod 755 run.sh',
      'ln -s src/a.txt link; ln -s /etc/passwd abslink',
      'echo "ref: refs/heads/main" > nested/.git/HEAD; echo "*.txt" > .gitignore',
    ].join('\n') });
    assert.equal(setup.structuredContent.exit_code, 0, JSON.stringify(setup));
    const before = walk(ws);
    const snap = await call(raw, 'session_snapshot', { session_id: sid, name: 'base', labels: { kind: 'test' } });
    assert.ok(snap.structuredContent?.snapshot_id, JSON.stringify(snap));
    const sn = snap.structuredContent.snapshot_id;

    const change = await call(raw, 'execute', { session_id: sid, language: 'shell', code: [
      'echo changed >> src/a.txt; rm src/lib/b.txt; echo new > new.txt; chmod 644 run.sh',
      'rmdir empty/inner; rm link; ln -s blob.bin link; mkdir added-dir; rm -r nested',
    ].join('\n') });
    assert.equal(change.structuredContent.exit_code, 0);
    assert.notDeepEqual(walk(ws), before);

    const diff = await call(raw, 'snapshot_diff', { from: sn, session_id: sid });
    const paths = (k) => diff.structuredContent[k].map((e) => e.path);
    assert.ok(paths('added').includes('new.txt'), JSON.stringify(diff.structuredContent));
    assert.ok(paths('deleted').includes('src/lib/b.txt'));
    assert.ok(paths('modified').includes('src/a.txt'));

    const r = await call(raw, 'session_restore', { session_id: sid, snapshot_id: sn });
    assert.equal(r.structuredContent?.status, 'running', JSON.stringify(r));
    assert.deepEqual(walk(ws), before, 'byte-for-byte and mode-for-mode the snapshot');
    const inside = await call(raw, 'execute', { session_id: sid, language: 'shell', code: 'cat src/a.txt; ./run.sh; test -d empty/inner && echo dir' });
    assert.equal(inside.structuredContent.stdout, 'alpha\nrun\ndir\n');
  });

  // a sparse file is small on disk and in the store but large once inflated: its apparent size counts
  // against the workspace limit (1 GiB), and a restore writes its holes back as holes
  test('sparse files: restored sparse (holes kept), diffed as binary; apparent sizes over the limit refused', async () => {
    const s = (await call(raw, 'session_create', { memory_mb: 512 })).structuredContent.session_id;
    const ws = path.join(dir, 'workspaces', s);
    const mk = await call(raw, 'execute', { session_id: s, language: 'shell',
      code: 'truncate -s 200M sparse.bin; printf tail >> sparse.bin; truncate -s 900M too-big.bin' });
    assert.equal(mk.structuredContent.exit_code, 0);
    const refused = await call(raw, 'session_snapshot', { session_id: s });
    assert.equal(refused.isError, true);
    assert.match(refused.content[0].text, /the workspace holds more than the 1073741824 bytes a snapshot may hold/);
    await call(raw, 'file_delete', { session_id: s, path: 'too-big.bin' });
    const snap = await call(raw, 'session_snapshot', { session_id: s });
    assert.ok(snap.structuredContent?.snapshot_id, JSON.stringify(snap));
    await call(raw, 'file_delete', { session_id: s, path: 'sparse.bin' });
    const diff = await call(raw, 'snapshot_diff', { from: snap.structuredContent.snapshot_id, session_id: s });
    assert.deepEqual(diff.structuredContent.deleted.map((e) => [e.path, e.binary]), [['sparse.bin', true]]);
    const rss = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${raw.pid}/status`, 'utf8'))[1]) >> 10;
    const r = await call(raw, 'session_restore', { session_id: s, snapshot_id: snap.structuredContent.snapshot_id });
    assert.equal(r.structuredContent?.status, 'running', JSON.stringify(r));
    const st = fs.statSync(path.join(ws, 'sparse.bin'));
    assert.equal(st.size, 200 * 1024 * 1024 + 4);
    assert.ok(st.blocks * 512 < 1024 * 1024, `restored sparse: ${st.blocks * 512} bytes allocated for ${st.size}`);
    assert.ok(rss() < 900, `server RSS ${rss()} MiB after the restore`);
    const tail = await call(raw, 'execute', { session_id: s, language: 'shell', code: 'tail -c 4 sparse.bin' });
    assert.equal(tail.structuredContent.stdout, 'tail');
  });

  test('a session created from a snapshot sees the snapshot while the source keeps changing', async () => {
    const sn = (await call(raw, 'snapshot_list', { session_id: sid })).structuredContent.snapshots[0].snapshot_id;
    await call(raw, 'execute', { session_id: sid, language: 'shell', code: 'echo later > src/a.txt; echo more > more.txt' });
    const c = await call(raw, 'session_create', { snapshot_id: sn });
    const other = c.structuredContent.session_id;
    assert.equal(c.structuredContent.source_snapshot, sn);
    const seen = await call(raw, 'execute', { session_id: other, language: 'shell', code: 'cat src/a.txt; ls more.txt 2>&1 | head -1' });
    assert.match(seen.structuredContent.stdout, /^alpha\n.*No such file/s);
    // and the two are independent from now on
    await call(raw, 'execute', { session_id: other, language: 'shell', code: 'echo mine > src/a.txt' });
    const src = await call(raw, 'execute', { session_id: sid, language: 'shell', code: 'cat src/a.txt' });
    assert.equal(src.structuredContent.stdout, 'later\n');
  });

  test('many sessions from a new snapshot at once all get it', async () => {
    // enough files that the first materializations of the tree overlap
    await call(raw, 'execute', { session_id: sid, language: 'shell', code: 'mkdir -p many; for i in $(seq 3000); do echo $i > many/f$i; done' });
    const sn = (await call(raw, 'session_snapshot', { session_id: sid })).structuredContent.snapshot_id;
    const created = await Promise.all(Array.from({ length: 8 }, () => call(raw, 'session_create', { snapshot_id: sn })));
    for (const c of created) assert.equal(c.isError, undefined, JSON.stringify(c));
    const seen = await Promise.all(created.map((c) =>
      call(raw, 'execute', { session_id: c.structuredContent.session_id, language: 'shell', code: 'cat src/a.txt' })));
    for (const r of seen) assert.equal(r.structuredContent.stdout, 'later\n');
    for (const c of created) await call(raw, 'session_destroy', { session_id: c.structuredContent.session_id });
    await call(raw, 'snapshot_delete', { snapshot_id: sn });
    await call(raw, 'execute', { session_id: sid, language: 'shell', code: 'rm -r many' });
  });

  test('list by labels, info, delete; a deleted snapshot is gone', async () => {
    const list = await call(raw, 'snapshot_list', { labels: { kind: 'test' } });
    assert.equal(list.structuredContent.snapshots.length, 1);
    const none = await call(raw, 'snapshot_list', { labels: { kind: 'other' } });
    assert.equal(none.structuredContent.snapshots.length, 0);
    const sn = list.structuredContent.snapshots[0].snapshot_id;
    const info = await call(raw, 'snapshot_info', { snapshot_id: sn });
    assert.equal(info.structuredContent.name, 'base');
    assert.ok(info.structuredContent.files >= 6);
    const del = await call(raw, 'snapshot_delete', { snapshot_id: sn });
    assert.equal(del.structuredContent.deleted, true);
    const gone = await call(raw, 'snapshot_info', { snapshot_id: sn });
    assert.equal(gone.isError, true);
    assert.match(gone.content[0].text, /not found/);
  });

  test('snapshots survive a restart', async () => {
    const snap = await call(raw, 'session_snapshot', { session_id: sid, name: 'kept' });
    const sn = snap.structuredContent.snapshot_id;
    await raw.close();
    const mounts = fs.readFileSync('/proc/self/mounts', 'utf8').split('\n').filter((l) => l.includes(dir));
    assert.deepEqual(mounts, [], 'no overlay of a stopped session outlives the server');
    raw = await startRaw({ dataDir: dir });
    await raw.handshake();
    const info = await call(raw, 'snapshot_info', { snapshot_id: sn });
    assert.equal(info.structuredContent?.name, 'kept', JSON.stringify(info));
    const c = await call(raw, 'session_create', { snapshot_id: sn });
    const seen = await call(raw, 'execute', { session_id: c.structuredContent.session_id, language: 'shell', code: 'cat src/a.txt' });
    assert.equal(seen.structuredContent.stdout, 'later\n');
    // sessions made from a snapshot before the restart come back with their files (overlay remounted)
    const old = (await call(raw, 'session_list', {})).structuredContent.sessions.filter((x) => x.source_snapshot && x.status === 'stopped');
    assert.ok(old.length >= 1, 'a stopped session made from a snapshot');
    await call(raw, 'session_start', { session_id: old[0].session_id });
    const mine = await call(raw, 'execute', { session_id: old[0].session_id, language: 'shell', code: 'cat src/a.txt' });
    assert.equal(mine.structuredContent.stdout, 'mine\n');
  });
});

describe('snapshots of other principals', () => {
  test('cannot be listed, read, restored from, diffed or deleted', async () => {
    const srv = await startServe();
    after(() => srv.close());
    const bob = createKey(srv.dataDir, { name: 'bob' });
    const alice = await httpClient(srv);
    const mallory = await httpClient(srv, { key: bob.key });
    after(() => alice.close());
    after(() => mallory.close());
    const sid = (await alice.call('session_create', {})).structuredContent.session_id;
    await alice.call('execute', { session_id: sid, language: 'shell', code: 'echo secret > s' });
    const sn = (await alice.call('session_snapshot', { session_id: sid })).structuredContent.snapshot_id;
    const msid = (await mallory.call('session_create', {})).structuredContent.session_id;

    assert.equal((await mallory.call('snapshot_list', {})).structuredContent.snapshots.length, 0);
    for (const [name, args] of [
      ['snapshot_info', { snapshot_id: sn }],
      ['snapshot_diff', { from: sn, session_id: msid }],
      ['session_restore', { session_id: msid, snapshot_id: sn }],
      ['session_create', { snapshot_id: sn }],
      ['snapshot_delete', { snapshot_id: sn }],
    ]) {
      const r = await mallory.call(name, args);
      assert.equal(r.isError, true, `${name}: ${JSON.stringify(r)}`);
      assert.match(r.content[0].text, /not found/, name);
    }
    const still = await alice.call('snapshot_info', { snapshot_id: sn });
    assert.equal(still.structuredContent.snapshot_id, sn, 'the owner still has it');
    // alice's key is the first one, an administrator's: she sees bob's session and snapshots too
    const all = (await alice.call('session_list', {})).structuredContent.sessions.map((x) => x.session_id);
    assert.ok(all.includes(msid), 'an administrator lists every session');
    const info = await alice.call('session_info', { session_id: msid });
    assert.equal(info.structuredContent?.session_id, msid, JSON.stringify(info));
    const bobs = (await mallory.call('session_list', {})).structuredContent.sessions.map((x) => x.session_id);
    assert.ok(!bobs.includes(sid), 'a non-administrator lists only its own');
  });
});

describe('snapshot module missing', () => {
  // The snapshot engine is a module beside the binary (server/module.h): without it every
  // other tool works and snapshot tools fail with a clear error, never a crash.
  let raw, dir, copy;
  before(async () => {
    dir = makeDataDir();
    copy = fs.mkdtempSync(path.join(dir, 'bin-'));
    fs.chmodSync(copy, 0o755);
    fs.copyFileSync(BIN, path.join(copy, 'mcpbox'));
    fs.chmodSync(path.join(copy, 'mcpbox'), 0o755);
    raw = await startRaw({ dataDir: dir, bin: path.join(copy, 'mcpbox') });
    await raw.handshake();
  });
  after(() => raw.close());

  test('snapshot tools say the module is missing; execute still works', async () => {
    const sid = (await call(raw, 'session_create', {})).structuredContent.session_id;
    const r = await call(raw, 'session_snapshot', { session_id: sid });
    assert.equal(r.isError, true, JSON.stringify(r));
    assert.match(r.content[0].text, /snapshots are not available: module mcpbox-snapshot\.so could not be loaded/);
    assert.doesNotMatch(r.content[0].text, new RegExp(copy), 'no host path in the client error');
    const again = await call(raw, 'snapshot_list', {});
    assert.ok(again, 'server still answers');
    const e = await call(raw, 'execute', { session_id: sid, language: 'shell', code: 'echo ok' });
    assert.equal(e.structuredContent.exit_code, 0);
    assert.match(raw.stderr(), /module snapshot: .*mcpbox-snapshot\.so/, 'the operator log says where it looked');
  });
});
