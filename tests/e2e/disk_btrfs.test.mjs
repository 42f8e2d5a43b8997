// Disk limits the kernel enforces (sessions/btrfs.c): with the data directory on btrfs and quotas
// enabled, each workspace is a subvolume whose qgroup limit is the session's disk_mb, so a writer gets
// EDQUOT at the limit at once (no scan runs here to stop it); session_update moves the limit; destroy
// removes the subvolume. On any other filesystem the mode is "measured" (disk_limit.test.mjs).
// Root only: it makes and loop-mounts a btrfs image.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { startServe, wsClient, createKey, poll } from './helpers.mjs';

const MiB = 1 << 20;
const dd = (file) => `dd if=/dev/zero of=${file} bs=1M count=60 2>&1; echo rc=$?`;
const run = (cmd, ...args) => spawnSync(cmd, args, { encoding: 'utf8', timeout: 60000 });

function whyNot() {
  if (process.getuid() !== 0) return 'needs root (mount, btrfs quotas)';
  if (!fs.existsSync('/dev/loop-control')) return 'no /dev/loop-control (loop devices)';
  if (run('mkfs.btrfs', '--version').status !== 0) return 'no mkfs.btrfs (btrfs-progs)';
  return null;
}

describe('disk limits enforced by btrfs qgroups', () => {
  let skip = whyNot();
  let dir, mnt, srv, a;

  before(async () => {
    if (skip) return;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'e2e-btrfs-'));
    mnt = path.join(dir, 'mnt');
    fs.mkdirSync(mnt);
    const img = path.join(dir, 'b.img');
    fs.writeFileSync(img, '');
    fs.truncateSync(img, 400 * MiB);
    const mk = run('mkfs.btrfs', '-q', img);
    assert.equal(mk.status, 0, mk.stderr);
    const m = run('mount', '-o', 'loop', img, mnt);
    if (m.status !== 0) { skip = `cannot loop-mount a btrfs image: ${m.stderr.trim()}`; return; }
    const q = run('btrfs', 'quota', 'enable', mnt);
    assert.equal(q.status, 0, q.stderr);
    const data = path.join(mnt, 'data');
    fs.mkdirSync(data);
    fs.writeFileSync(path.join(data, 'config.json'), JSON.stringify({
      quota: { disk: '30M', disk_scan: '10m', disk_scan_busy: '10m' }, limits: { disk: { max: '1G' } },
    }));
    srv = await startServe({ dataDir: data });
    a = await wsClient(srv);
  });

  after(async () => {
    if (a) await a.close().catch(() => {});
    if (srv) await srv.close({ keepData: true }).catch(() => {});
    if (mnt) {
      run('umount', mnt);
      if (run('mountpoint', '-q', mnt).status === 0) run('umount', '-l', mnt);
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('disk_mb 20: a 60 MB writer gets EDQUOT at 20 MiB; update to 40 lets it reach 40; a session of a key is bound by its quota.disk; destroy removes the subvolume', { timeout: 120000 }, async (t) => {
    if (skip) { t.skip(skip); return; }
    assert.match(srv.stderr(), /disk limits: enforced by btrfs qgroups/);
    const subvols = () => run('btrfs', 'subvolume', 'list', mnt).stdout;
    const made = (await a.call('session_create', { disk_mb: 20 })).structuredContent;
    const sid = made.session_id;
    assert.equal(made.limits.disk_mb, 20);
    assert.match(subvols(), new RegExp(`path data/workspaces/${sid}\\n`), 'the workspace is a subvolume');
    const ws = path.join(srv.dataDir, 'workspaces', sid);
    const sizeOf = (n) => fs.statSync(path.join(ws, n)).size;

    const t0 = Date.now();
    const r = await a.call('execute', { session_id: sid, language: 'shell', timeout_s: 60, code: dd('a.bin') });
    const out = r.structuredContent.stdout;
    assert.match(out, /Disk quota exceeded/, JSON.stringify(r.structuredContent).slice(0, 400));
    assert.match(out, /rc=1/);
    const first = sizeOf('a.bin');
    assert.ok(first > 15 * MiB && first <= 20 * MiB, `the writer stopped at ${first} bytes (20 MiB is the limit)`);
    assert.ok(Date.now() - t0 < 30000);

    const up = await a.call('session_update', { session_id: sid, disk_mb: 40 });
    assert.equal(up.structuredContent.limits.disk_mb, 40);
    const r2 = await a.call('execute', { session_id: sid, language: 'shell', timeout_s: 60, code: dd('b.bin') });
    assert.match(r2.structuredContent.stdout, /Disk quota exceeded/, JSON.stringify(r2.structuredContent).slice(0, 400));
    const total = sizeOf('a.bin') + sizeOf('b.bin');
    assert.ok(total > 35 * MiB && total <= 40 * MiB, `both files take ${total} bytes (40 MiB is the limit now)`);

    // a subvolume or snapshot made inside would be a quota group of its own, outside the limit: the filter refuses them
    const sv = await a.call('execute', { session_id: sid, language: 'shell', code:
      'btrfs subvolume create /workspace/sv 2>&1; echo rc=$?; btrfs subvolume snapshot /workspace /workspace/snap 2>&1; echo rc=$?; ls' });
    assert.match(sv.structuredContent.stdout, /Operation not permitted[^]*rc=1[^]*Operation not permitted[^]*rc=1/, JSON.stringify(sv.structuredContent).slice(0, 600));
    assert.doesNotMatch(sv.structuredContent.stdout, /^(sv|snap)$/m);
    // deleting frees the space at once: a write below the limit goes through again
    const r3 = await a.call('execute', { session_id: sid, language: 'shell', code: 'rm b.bin && sync && dd if=/dev/zero of=c.bin bs=1M count=10 2>&1; echo rc=$?' });
    assert.match(r3.structuredContent.stdout, /rc=0/, JSON.stringify(r3.structuredContent).slice(0, 400));

    // a session without disk_mb has no kernel limit (an admin key has no quota): 60 MB go through
    const free = (await a.call('session_create', {})).structuredContent.session_id;
    const r4 = await a.call('execute', { session_id: free, language: 'shell', timeout_s: 60, code: dd('big.bin') });
    assert.match(r4.structuredContent.stdout, /rc=0/, JSON.stringify(r4.structuredContent).slice(0, 400));

    for (const id of [sid, free]) assert.equal((await a.call('session_destroy', { session_id: id })).isError, undefined);
    // removed on the thread pool, after the reply
    const gone = new RegExp(`workspaces/(${sid}|${free})\\n`);
    await poll(() => !gone.test(subvols()) || null, { timeout: 10000, interval: 50 });
    assert.doesNotMatch(subvols(), gone, 'the subvolumes are gone');
    assert.equal(fs.existsSync(ws), false);
    assert.doesNotMatch(subvols(), /mcpbox-qgroup-probe/, 'the start-up probe left nothing');
    // a key's session without disk_mb is bounded by the key's whole quota.disk (30 MiB)
    const k = await wsClient(srv, { key: createKey(srv.dataDir, { name: 'tenant' }).key });
    try {
      const kid = (await k.call('session_create', {})).structuredContent.session_id;
      const r5 = await k.call('execute', { session_id: kid, language: 'shell', timeout_s: 60, code: dd('k.bin') });
      assert.match(r5.structuredContent.stdout, /Disk quota exceeded/, JSON.stringify(r5.structuredContent).slice(0, 400));
      const kb = fs.statSync(path.join(srv.dataDir, 'workspaces', kid, 'k.bin')).size;
      assert.ok(kb > 25 * MiB && kb <= 30 * MiB, `the key's writer stopped at ${kb} bytes (its quota is 30 MiB)`);
      assert.equal((await k.call('session_destroy', { session_id: kid })).isError, undefined);
    } finally {
      await k.close();
    }

    // the warm pool's workspaces (subvolumes in the instance directory) go with the server
    assert.match(subvols(), /path data\/instances\//);
    await a.close();
    a = null;
    await srv.close({ keepData: true });
    srv = null;
    assert.equal(subvols().trim(), '', 'no subvolume outlives the server');
  });

  test('a restart sets the limits again: a session adopted after quota.disk went from 30M to 10M is bound by 10 MiB', { timeout: 120000 }, async (t) => {
    if (skip) { t.skip(skip); return; }
    const data = path.join(mnt, 'data2');
    fs.mkdirSync(data);
    const config = (disk) => fs.writeFileSync(path.join(data, 'config.json'),
      JSON.stringify({ quota: { disk, disk_scan: '10m', disk_scan_busy: '10m' } }));
    config('30M');
    srv = await startServe({ dataDir: data });
    const { key } = createKey(data, { name: 'tenant' });
    let k = await wsClient(srv, { key });
    const sid = (await k.call('session_create', {})).structuredContent.session_id;
    await k.close();
    await srv.close({ keepData: true });
    srv = null;

    config('10M');
    srv = await startServe({ dataDir: data });
    k = await wsClient(srv, { key });
    try {
      const r = await k.call('execute', { session_id: sid, language: 'shell', timeout_s: 60, code: dd('k.bin') });
      assert.match(r.structuredContent.stdout, /Disk quota exceeded/, JSON.stringify(r.structuredContent).slice(0, 400));
      const size = fs.statSync(path.join(data, 'workspaces', sid, 'k.bin')).size;
      assert.ok(size > 5 * MiB && size <= 10 * MiB, `the writer stopped at ${size} bytes (the quota is 10 MiB now)`);
    } finally {
      await k.close();
      await srv.close({ keepData: true });
      srv = null;
    }
  });

  test('overlay workspaces (sessions from a snapshot) keep their files after a restart; their writable layer is a subvolume bound by the limit', { timeout: 120000 }, async (t) => {
    if (skip) { t.skip(skip); return; }
    const data = path.join(mnt, 'data3');
    fs.mkdirSync(data);
    srv = await startServe({ dataDir: data });
    a = await wsClient(srv);
    const base = (await a.call('session_create', {})).structuredContent.session_id;
    await a.call('execute', { session_id: base, language: 'shell', code: 'echo kept > f.txt' });
    const snap = (await a.call('session_snapshot', { session_id: base })).structuredContent.snapshot_id;
    const sid = (await a.call('session_create', { snapshot_id: snap })).structuredContent.session_id;
    const mounts = fs.readFileSync(`/proc/${srv.pid}/mountinfo`, 'utf8');
    assert.match(mounts, new RegExp(`/workspaces/${sid} .* - overlay `), 'the workspace is an overlay');
    assert.doesNotMatch(run('btrfs', 'subvolume', 'list', mnt).stdout, new RegExp(`workspaces/${sid}\\n`),
      'its mount point is a plain directory');
    const cat = () => a.call('execute', { session_id: sid, language: 'shell', code: 'cat f.txt' });
    assert.equal((await cat()).structuredContent.stdout, 'kept\n');
    // what the session writes lands in its overlay's upper layer: that is the subvolume, limited
    assert.match(run('btrfs', 'subvolume', 'list', mnt).stdout, new RegExp(`path data3/overlays/${sid}\\n`),
      'the overlay\'s directory is a subvolume');
    const small = (await a.call('session_create', { snapshot_id: snap, disk_mb: 20 })).structuredContent.session_id;
    const w = await a.call('execute', { session_id: small, language: 'shell', timeout_s: 60, code: dd('o.bin') });
    assert.match(w.structuredContent.stdout, /Disk quota exceeded/, JSON.stringify(w.structuredContent).slice(0, 400));
    const o = fs.statSync(path.join(data, 'overlays', small, 'upper', 'o.bin')).size;
    assert.ok(o > 15 * MiB && o <= 20 * MiB, `the overlay's writer stopped at ${o} bytes (20 MiB is the limit)`);
    assert.equal((await a.call('session_destroy', { session_id: small })).isError, undefined);
    await poll(() => !new RegExp(`overlays/${small}\\n`).test(run('btrfs', 'subvolume', 'list', mnt).stdout) || null,
      { timeout: 10000, interval: 50 });
    assert.doesNotMatch(run('btrfs', 'subvolume', 'list', mnt).stdout, new RegExp(`overlays/${small}\\n`), 'destroyed with the session');
    await a.close();
    const key = srv.key;
    await srv.close({ keepData: true });
    srv = await startServe({ dataDir: data, key });
    a = await wsClient(srv);
    await a.call('session_start', { session_id: sid });
    const again = await cat();
    assert.equal(again.structuredContent.stdout, 'kept\n', JSON.stringify(again.structuredContent).slice(0, 300));
    await a.close();
    a = null;
    await srv.close({ keepData: true });
    srv = null;
  });
});

test('on another filesystem disk limits are measured, and the log says so', { timeout: 30000 }, async () => {
  const srv = await startServe({});
  try {
    assert.match(srv.stderr(), /disk limits: measured \(workspaces not on btrfs\)/);
  } finally {
    await srv.close();
  }
});
