// file_list (recursive), glob and grep answer with paths the sandbox chose: 20,000 files under 15
// directories of 250-byte names (paths of about 4 KB) made one recursive file_list grow the server
// by 166 MiB although it lists at most 10,000 entries, and a grep with context repeats the path on
// every line it shows. A listing now stops at 4 MiB of paths, glob at 4 MiB of paths and grep at
// 4 MiB of paths and lines (what their text shows); each says truncated and why. The server's peak
// RSS (VmHWM, reset before each call through clear_refs) stays far under what the old build reached.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeDataDir, startRaw, peakGrowth, fmtMiB as mb, MiB, UNDER_ASAN } from './helpers.mjs';

let seq = 0;
const call = (raw, name, args) => raw.callTool(name, args, `l${++seq}`).then((r) => r.result);
// 4 MiB of paths held as JSON and as text, then the answer written out; asan's allocator adds redzones
const MAX_GROWTH = (UNDER_ASAN ? 96 : 48) * MiB;
const BOUND = 4194304;

describe('answers built from long workspace paths are bounded', () => {
  let raw, sid, paths;
  const seen = {};
  before(async () => {
    raw = await startRaw({ dataDir: makeDataDir() });
    await raw.handshake();
    sid = (await call(raw, 'session_create', {})).structuredContent.session_id;
    // 20,000 x ~3,970 bytes: 79 MB of paths, each file 41 lines holding "needle"
    const code = "import os\nn = 'x' * 250\nfor i in range(15):\n    os.mkdir(n)\n    os.chdir(n)\n" +
      "body = 'needle\\n' * 41\nfor i in range(20000):\n    with open('f' * 200 + '%05d' % i, 'w') as f:\n" +
      "        f.write(body)\nprint(len(os.getcwd()) - len('/workspace/'))";
    const r = await call(raw, 'execute', { session_id: sid, language: 'python', code, timeout_s: 120 });
    assert.equal(r.structuredContent?.exit_code, 0, JSON.stringify(r).slice(0, 500));
    paths = Number(r.structuredContent.stdout) + 1 + 205;	// a file's path
    assert.ok(paths > 3900, `${paths}`);
  });
  after(async () => {
    await raw.close();
    console.log(`# peak RSS growth: ${Object.entries(seen).map(([k, v]) => `${k} ${mb(v)}`).join(', ')}`);
  });

  test('file_list recursive stops at 4 MiB of paths and says so', async () => {
    const r = await peakGrowth(raw.pid, () => call(raw, 'file_list', { session_id: sid, recursive: true }));
    seen['file_list'] = r.growth;
    const sc = r.out.structuredContent;
    assert.equal(sc?.truncated, true, JSON.stringify(r.out).slice(0, 300));
    const total = sc.entries.reduce((n, e) => n + Buffer.byteLength(e.path), 0);
    assert.ok(total <= BOUND && total > BOUND - paths, `${total} bytes of paths`);
    assert.match(r.out.content[0].text, new RegExp(`^\\[truncated at ${sc.entries.length} entries: a listing holds at most ${BOUND} bytes of paths; list a subdirectory\\]$`, 'm'));
    assert.equal(sc.entries[0].type, 'directory');
    assert.ok(r.growth < MAX_GROWTH, `file_list grew the server by ${mb(r.growth)}`);
  });

  for (const sort of ['name', 'mtime']) {
    test(`glob sorted by ${sort} stops at 4 MiB of paths and says so`, async () => {
      const r = await peakGrowth(raw.pid, () => call(raw, 'glob', { session_id: sid, pattern: '**/f*', max_results: 10000, sort }));
      seen[`glob by ${sort}`] = r.growth;
      const sc = r.out.structuredContent;
      assert.equal(sc?.truncated, true, JSON.stringify(r.out).slice(0, 300));
      assert.equal(sc.reason, 'bytes');
      assert.equal(sc.count, sc.matches.length);
      const total = sc.matches.reduce((n, e) => n + Buffer.byteLength(e.path), 0);
      assert.ok(total <= BOUND && total > BOUND - paths, `${total} bytes of paths`);
      assert.ok(sc.matches.every((m) => m.type === 'file'));
      assert.match(r.out.content[0].text, new RegExp(`^\\[truncated: first ${sc.count} results shown: a result holds at most ${BOUND} bytes of paths \\(and grep's lines\\); narrow the path or the pattern\\]$`, 'm'));
      assert.ok(r.growth < MAX_GROWTH, `glob grew the server by ${mb(r.growth)}`);
    });
  }

  test('grep with context stops at 4 MiB of paths and lines and says so', async () => {
    const r = await peakGrowth(raw.pid, () => call(raw, 'grep', { session_id: sid, pattern: 'needle', max_results: 2000, context: 20 }));
    seen['grep'] = r.growth;
    const sc = r.out.structuredContent;
    assert.equal(sc?.truncated, true, JSON.stringify(r.out).slice(0, 300));
    assert.equal(sc.reason, 'bytes');
    assert.ok(sc.count > 0 && sc.count < 2000, `${sc.count}`);
    assert.equal(sc.matches[0].line, 1);
    assert.equal(sc.matches[0].text, 'needle');
    assert.deepEqual(sc.matches[0].after, Array(20).fill('needle'));
    assert.match(r.out.content[0].text, new RegExp(`^\\[truncated: first ${sc.count} results shown: a result holds at most ${BOUND} bytes of paths \\(and grep's lines\\); narrow the path or the pattern\\]$`, 'm'));
    assert.ok(Buffer.byteLength(r.out.content[0].text) < BOUND + 2 * MiB);
    assert.ok(r.growth < MAX_GROWTH, `grep grew the server by ${mb(r.growth)}`);
  });

  test('a listing of short paths is as before', async () => {
    await call(raw, 'execute', { session_id: sid, language: 'shell', code: 'rm -rf x* && mkdir -p a/b && echo needle > a/b/c.txt' });
    const l = await call(raw, 'file_list', { session_id: sid, recursive: true });
    assert.deepEqual(l.structuredContent.entries.map((e) => e.path), ['a', 'a/b', 'a/b/c.txt']);
    assert.equal(l.structuredContent.truncated, false);
    const g = await call(raw, 'glob', { session_id: sid, pattern: '**/*.txt', sort: 'mtime' });
    assert.deepEqual(g.structuredContent.matches.map((e) => e.path), ['a/b/c.txt']);
    assert.equal(g.structuredContent.truncated, false);
    const s = await call(raw, 'grep', { session_id: sid, pattern: 'needle' });
    assert.deepEqual(s.structuredContent.matches, [{ path: 'a/b/c.txt', line: 1, text: 'needle' }]);
    assert.equal(s.structuredContent.truncated, false);
  });
});
