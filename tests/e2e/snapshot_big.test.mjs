// Large and sparse files through snapshots, measured from the server's side: a 200 MB file of
// random data (it does not compress) and a 1000 MiB sparse file are snapshotted, diffed and
// restored while the server's peak RSS (VmHWM, reset before each step through clear_refs) is
// read from /proc. Nothing may hold a whole file: growth stays far under the file's size.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { makeDataDir, startRaw, peakGrowth, fmtMiB as mb, MiB } from './helpers.mjs';

let seq = 0;
const call = (raw, name, args) => raw.callTool(name, args, `b${++seq}`).then((r) => r.result);
// the bound asserted: a file's size would show as hundreds of MiB
const MAX_GROWTH = 64 * MiB;

describe('snapshots of large files do not grow the server', () => {
  let raw, dir;
  const seen = {};
  before(async () => {
    dir = makeDataDir();
    raw = await startRaw({ dataDir: dir });
    await raw.handshake();
  });
  after(async () => {
    await raw.close();
    console.log(`# peak RSS growth: ${Object.entries(seen).map(([k, v]) => `${k} ${mb(v)}`).join(', ')}`);
  });

  test('200 MB of random data: snapshot, diff, restore', async () => {
    const sid = (await call(raw, 'session_create', {})).structuredContent.session_id;
    const sh = async (code) => {
      const r = await call(raw, 'execute', { session_id: sid, language: 'shell', code, timeout_s: 120 });
      assert.equal(r.structuredContent?.exit_code, 0, JSON.stringify(r));
      return r.structuredContent.stdout;
    };
    await sh('head -c 200000000 /dev/urandom > big.bin; printf "one\\ntwo\\n" > small.txt');
    const sum = await sh('sha256sum big.bin');

    const snap = await peakGrowth(raw.pid, () => call(raw, 'session_snapshot', { session_id: sid }));
    const sn = snap.out.structuredContent?.snapshot_id;
    assert.ok(sn, JSON.stringify(snap.out));
    seen['random snapshot'] = snap.growth;
    assert.ok(snap.growth < MAX_GROWTH, `snapshot of 200 MB grew the server by ${mb(snap.growth)}`);

    // change one byte in the middle: same size, other content
    await sh('printf X | dd of=big.bin bs=1 seek=100000000 conv=notrunc 2>/dev/null; echo three >> small.txt');
    const diff = await peakGrowth(raw.pid, () => call(raw, 'snapshot_diff', { from: sn, session_id: sid }));
    seen['random diff'] = diff.growth;
    const mod = diff.out.structuredContent?.modified;
    assert.deepEqual(mod?.map((e) => [e.path, !!e.binary]), [['big.bin', true], ['small.txt', false]], JSON.stringify(diff.out));
    assert.equal(mod[1].added_lines, 1);
    assert.ok(diff.growth < MAX_GROWTH, `diff grew the server by ${mb(diff.growth)}`);

    // a second snapshot, then a diff between the two stored snapshots
    const sn2 = (await call(raw, 'session_snapshot', { session_id: sid })).structuredContent.snapshot_id;
    const d2 = await peakGrowth(raw.pid, () => call(raw, 'snapshot_diff', { from: sn, to: sn2 }));
    seen['random diff of snapshots'] = d2.growth;
    assert.deepEqual(d2.out.structuredContent.modified.map((e) => [e.path, !!e.binary]), [['big.bin', true], ['small.txt', false]]);
    assert.ok(d2.growth < MAX_GROWTH, `diff of two snapshots grew the server by ${mb(d2.growth)}`);

    const rs = await peakGrowth(raw.pid, () => call(raw, 'session_restore', { session_id: sid, snapshot_id: sn }));
    seen['random restore'] = rs.growth;
    assert.equal(rs.out.structuredContent?.status, 'running', JSON.stringify(rs.out));
    assert.equal(await sh('sha256sum big.bin'), sum, 'restored byte for byte');
    assert.ok(rs.growth < MAX_GROWTH, `restore grew the server by ${mb(rs.growth)}`);

    const mat = await peakGrowth(raw.pid, () => call(raw, 'session_create', { snapshot_id: sn }));
    seen['random session from snapshot'] = mat.growth;
    const other = mat.out.structuredContent?.session_id;
    assert.ok(other, JSON.stringify(mat.out));
    const r = await call(raw, 'execute', { session_id: other, language: 'shell', code: 'sha256sum big.bin' });
    assert.equal(r.structuredContent.stdout, sum);
    assert.ok(mat.growth < MAX_GROWTH, `a session from the snapshot grew the server by ${mb(mat.growth)}`);
    await call(raw, 'session_destroy', { session_id: other });
    await call(raw, 'session_destroy', { session_id: sid });
  });

  test('1000 MiB sparse file: snapshot, diff, restore keep it sparse and small', async () => {
    const sid = (await call(raw, 'session_create', {})).structuredContent.session_id;
    const ws = path.join(dir, 'workspaces', sid);
    const sh = async (code) => {
      const r = await call(raw, 'execute', { session_id: sid, language: 'shell', code, timeout_s: 120 });
      assert.equal(r.structuredContent?.exit_code, 0, JSON.stringify(r));
      return r.structuredContent.stdout;
    };
    await sh('printf head > sparse.bin; truncate -s 1000M sparse.bin; printf tail >> sparse.bin');
    const snap = await peakGrowth(raw.pid, () => call(raw, 'session_snapshot', { session_id: sid }));
    const sn = snap.out.structuredContent?.snapshot_id;
    assert.ok(sn, JSON.stringify(snap.out));
    seen['sparse snapshot'] = snap.growth;
    assert.ok(snap.growth < MAX_GROWTH, `snapshot grew the server by ${mb(snap.growth)}`);

    await sh('rm sparse.bin');
    const diff = await peakGrowth(raw.pid, () => call(raw, 'snapshot_diff', { from: sn, session_id: sid }));
    seen['sparse diff'] = diff.growth;
    assert.deepEqual(diff.out.structuredContent?.deleted.map((e) => [e.path, e.binary]), [['sparse.bin', true]]);
    assert.ok(diff.growth < MAX_GROWTH, `diff grew the server by ${mb(diff.growth)}`);

    const rs = await peakGrowth(raw.pid, () => call(raw, 'session_restore', { session_id: sid, snapshot_id: sn }));
    seen['sparse restore'] = rs.growth;
    assert.equal(rs.out.structuredContent?.status, 'running', JSON.stringify(rs.out));
    const st = fs.statSync(path.join(ws, 'sparse.bin'));
    assert.equal(st.size, 1000 * MiB + 4);
    assert.ok(st.blocks * 512 < MiB, `restored sparse: ${st.blocks * 512} bytes allocated for ${st.size}`);
    assert.equal(await sh('head -c 4 sparse.bin; tail -c 4 sparse.bin'), 'headtail');
    assert.ok(rs.growth < MAX_GROWTH, `restore grew the server by ${mb(rs.growth)}`);

    // the apparent size counts against the workspace limit (1 GiB): a second such file is refused
    await sh('truncate -s 100M more.bin');
    const over = await call(raw, 'session_snapshot', { session_id: sid });
    assert.equal(over.isError, true, JSON.stringify(over));
    assert.match(over.content[0].text, /more than the \d+ bytes a snapshot may hold/);
    await call(raw, 'session_destroy', { session_id: sid });
  });
});
