// snapshot_diff of files that sandbox code chose: a modified file of millions of unique short
// lines once cost libgit2 about 160 bytes per line (579 MiB for two 16 MB versions). A line diff
// now takes at most diff_memory (64 MiB by default): such a file is listed as changed, with its
// sizes and why it has no line counts, while the server's peak RSS (VmHWM, reset before each step
// through clear_refs) stays far under what the old build reached. Small files keep their counts.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeDataDir, startRaw, peakGrowth, fmtMiB as mb, MiB, UNDER_ASAN } from './helpers.mjs';

let seq = 0;
const call = (raw, name, args) => raw.callTool(name, args, `d${++seq}`).then((r) => r.result);
// a diff within the default diff_memory (64 MiB) and room for the rest of the call; make asan's
// allocator adds redzones to each of libgit2's allocations and keeps freed ones (107 MiB measured)
const MAX_GROWTH = (UNDER_ASAN ? 192 : 96) * MiB;
// the attack: about 3 MiB now (reading stops early; 20 MiB under asan), 579 MiB on the build before the bound
const ATTACK_GROWTH = (UNDER_ASAN ? 64 : 32) * MiB;

describe('snapshot_diff of a large file of unique lines is bounded', () => {
  let raw, sid, sh;
  const seen = {};
  before(async () => {
    raw = await startRaw({ dataDir: makeDataDir() });
    await raw.handshake();
    sid = (await call(raw, 'session_create', {})).structuredContent.session_id;
    sh = async (code) => {
      const r = await call(raw, 'execute', { session_id: sid, language: 'shell', code, timeout_s: 120 });
      assert.equal(r.structuredContent?.exit_code, 0, JSON.stringify(r));
      return r.structuredContent.stdout;
    };
  });
  after(async () => {
    await raw.close();
    console.log(`# peak RSS growth: ${Object.entries(seen).map(([k, v]) => `${k} ${mb(v)}`).join(', ')}`);
  });

  // the entry of a modified file too large for a line diff, and the small one that still has one
  const checkDiff = (res, oldSize, newSize) => {
    const mod = res.structuredContent?.modified;
    assert.deepEqual(mod?.map((e) => e.path), ['big.txt', 'small.txt'], JSON.stringify(res).slice(0, 2000));
    const big = mod[0];
    assert.equal(big.too_large, true, JSON.stringify(big));
    assert.equal(big.old_size, oldSize);
    assert.equal(big.new_size, newSize);
    assert.match(big.reason, /^too large for a line diff: \d+ and \d+ bytes .* more than the 67108864 bytes a line diff may use \(diff_memory\)$/);
    assert.equal(big.added_lines, undefined, 'no line counts for it');
    assert.equal(big.binary, undefined, 'not called binary');
    assert.equal(mod[1].added_lines, 1);
    assert.equal(mod[1].deleted_lines, 0);
    assert.match(res.content[0].text, /^M big\.txt \(too large for a line diff\)$/m);
    assert.match(res.content[0].text, /^M small\.txt$/m);
  };

  test('a modified 16 MB file of unique lines: changed, too large for a line diff, server grows little', async () => {
    await sh('seq 1 2000000 > big.txt; printf "one\\ntwo\\n" > small.txt');
    const oldSize = Number(await sh('stat -c %s big.txt'));
    const sn = (await call(raw, 'session_snapshot', { session_id: sid })).structuredContent?.snapshot_id;
    assert.ok(sn);
    // every line changes; an added file of 1.5 million lines has them counted, streamed
    await sh('seq 2000001 4000000 > big.txt; echo three >> small.txt; seq 1 1500000 > added.txt');
    const sum = await sh('sha256sum big.txt');
    const newSize = Number(await sh('stat -c %s big.txt'));
    assert.ok(newSize < 32 * MiB && newSize > 15 * MiB, `${newSize}`);

    const diff = await peakGrowth(raw.pid, () => call(raw, 'snapshot_diff', { from: sn, session_id: sid }));
    seen['diff with the workspace'] = diff.growth;
    assert.ok(diff.growth < ATTACK_GROWTH, `the diff grew the server by ${mb(diff.growth)}`);
    checkDiff(diff.out, oldSize, newSize);
    assert.deepEqual(diff.out.structuredContent.added, [{ path: 'added.txt', lines: 1500000 }]);

    const sn2 = (await call(raw, 'session_snapshot', { session_id: sid })).structuredContent?.snapshot_id;
    const d2 = await peakGrowth(raw.pid, () => call(raw, 'snapshot_diff', { from: sn, to: sn2 }));
    seen['diff of two snapshots'] = d2.growth;
    assert.ok(d2.growth < ATTACK_GROWTH, `the diff of two snapshots grew the server by ${mb(d2.growth)}`);
    checkDiff(d2.out, oldSize, newSize);

    // reading the blobs back (restore) is streamed too
    const rs = await peakGrowth(raw.pid, () => call(raw, 'session_restore', { session_id: sid, snapshot_id: sn }));
    seen['restore'] = rs.growth;
    assert.equal(rs.out.structuredContent?.status, 'running', JSON.stringify(rs.out));
    assert.equal(await sh('tail -n 1 big.txt; test ! -e added.txt && echo gone'), '2000000\ngone\n');
    assert.ok(rs.growth < ATTACK_GROWTH, `restore grew the server by ${mb(rs.growth)}`);
    const back = await peakGrowth(raw.pid, () => call(raw, 'session_restore', { session_id: sid, snapshot_id: sn2 }));
    seen['restore of the new version'] = back.growth;
    assert.equal(await sh('sha256sum big.txt'), sum);
    assert.ok(back.growth < ATTACK_GROWTH, `restore grew the server by ${mb(back.growth)}`);
  });

  test('a line diff just within diff_memory takes no more than it', async () => {
    // 2 x 160,000 unique lines: their bytes and 192 bytes per line come to just under 64 MiB
    await sh('rm -f big.txt added.txt; seq 1 160000 > within.txt');
    const sn = (await call(raw, 'session_snapshot', { session_id: sid })).structuredContent.snapshot_id;
    await sh('seq 160001 320000 > within.txt');
    const d = await peakGrowth(raw.pid, () => call(raw, 'snapshot_diff', { from: sn, session_id: sid }));
    seen['diff just within the bound'] = d.growth;
    assert.deepEqual(d.out.structuredContent.modified, [{ path: 'within.txt', added_lines: 160000, deleted_lines: 160000 }]);
    assert.ok(d.growth < MAX_GROWTH, `the diff grew the server by ${mb(d.growth)}`);
  });

  test('a diff lists at most 10,000 changes and counts them all', async () => {
    const sn = (await call(raw, 'session_snapshot', { session_id: sid })).structuredContent.snapshot_id;
    await sh('mkdir many && cd many && seq -w 1 10050 | xargs touch');
    const r = await call(raw, 'snapshot_diff', { from: sn, session_id: sid });
    const sc = r.structuredContent;
    assert.equal(sc.truncated, true, JSON.stringify(sc.total));
    assert.deepEqual(sc.total, { added: 10050, modified: 0, deleted: 0 });
    assert.equal(sc.added.length, 10000);
    assert.deepEqual(sc.added[0], { path: 'many/00001', lines: 0 });
    assert.match(r.content[0].text, /^\.\.\. 10050 changes in all, the first 10000 listed \(a diff lists at most 10000, with 1024 KiB of paths\)$/m);
    await sh('rm -rf many');
  });

  test('a small text change still has its line diff', async () => {
    await sh('rm -f within.txt; printf "a\\nb\\nc\\n" > s.txt');
    const sn = (await call(raw, 'session_snapshot', { session_id: sid })).structuredContent.snapshot_id;
    await sh('printf "a\\nB\\nc\\nd\\n" > s.txt');
    const r = await call(raw, 'snapshot_diff', { from: sn, session_id: sid });
    assert.deepEqual(r.structuredContent.modified, [{ path: 's.txt', added_lines: 2, deleted_lines: 1 }]);
    assert.match(r.content[0].text, /^M s\.txt$/m);
  });
});

// Every path of a snapshot is held whole (its stat cache, a diff's lists): 40,000 empty files under
// 15 directories of 250-byte names (4 KB each path) raised the server's peak RSS by 339 MiB for a
// snapshot and 327 MiB for a diff. The walk now stops once the paths total 64 MiB.
describe('long names nested deep', () => {
  let raw, sid;
  before(async () => {
    raw = await startRaw({ dataDir: makeDataDir() });
    await raw.handshake();
    sid = (await call(raw, 'session_create', {})).structuredContent.session_id;
  });
  after(() => raw.close());

  test('a snapshot or diff of paths totalling over 64 MiB is refused, the server grows little', async () => {
    const sn = (await call(raw, 'session_snapshot', { session_id: sid })).structuredContent?.snapshot_id;
    assert.ok(sn);
    // 20,000 x ~3,970 bytes: 79 MB of paths, no content
    const code = "import os\nn = 'x' * 250\nfor i in range(15):\n    os.mkdir(n)\n    os.chdir(n)\n" +
      "for i in range(20000):\n    open('f' * 200 + '%05d' % i, 'w').close()\nprint('made')";
    const r = await call(raw, 'execute', { session_id: sid, language: 'python', code, timeout_s: 120 });
    assert.equal(r.structuredContent?.stdout, 'made\n', JSON.stringify(r).slice(0, 500));
    const want = /the paths of the workspace's files and directories total more than 67108864 bytes, the most a snapshot takes/;

    const s = await peakGrowth(raw.pid, () => call(raw, 'session_snapshot', { session_id: sid }));
    assert.equal(s.out.isError, true, JSON.stringify(s.out).slice(0, 300));
    assert.match(s.out.content[0].text, want);
    assert.ok(s.growth < ATTACK_GROWTH, `the snapshot grew the server by ${mb(s.growth)}`);

    const d = await peakGrowth(raw.pid, () => call(raw, 'snapshot_diff', { from: sn, session_id: sid }));
    assert.equal(d.out.isError, true, JSON.stringify(d.out).slice(0, 300));
    assert.match(d.out.content[0].text, want);
    assert.ok(d.growth < ATTACK_GROWTH, `the diff grew the server by ${mb(d.growth)}`);
    console.log(`# peak RSS growth, long paths: snapshot ${mb(s.growth)}, diff ${mb(d.growth)}`);
  });
});
