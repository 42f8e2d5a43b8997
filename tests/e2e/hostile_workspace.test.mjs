// What a sandbox leaves in its workspace is read by the server: special files, hostile names,
// trees built to hide from or stall the server's walks. Written as the attacker would: sandbox
// code makes the tree, then the tools that read it are called. Each call must answer (no FIFO
// may hold a pool thread), never follow a link out, and the server must stay up for others.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeDataDir, startRaw, startServe, wsClient, createKey, sleep } from './helpers.mjs';

let seq = 0;
const call = (raw, name, args) => raw.callTool(name, args, `h${++seq}`).then((r) => r.result);

/** Resolve within ms or fail: a hang is what these tests look for. */
function within(ms, what, p) {
  let timer;
  return Promise.race([p, new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`${what}: no answer within ${ms} ms`)), ms); })])
    .finally(() => clearTimeout(timer));
}

describe('special files and hostile names in a workspace', () => {
  let raw, sid;
  const sh = async (code) => {
    const r = await call(raw, 'execute', { session_id: sid, language: 'shell', code });
    assert.equal(r.structuredContent?.exit_code, 0, JSON.stringify(r));
    return r.structuredContent.stdout;
  };
  before(async () => {
    raw = await startRaw({ dataDir: makeDataDir() });
    await raw.handshake();
    sid = (await call(raw, 'session_create', {})).structuredContent.session_id;
  });
  after(() => raw.close());

  test('FIFOs and sockets: every reading tool answers at once, none hangs a pool thread', async () => {
    // no writer ever opens these FIFOs: a blocking open for reading would wait forever
    await sh([
      'mkdir -p d/sub; mkfifo fifo d/fifo d/sub/fifo.txt',
      'python3 -c "import socket; s=socket.socket(socket.AF_UNIX); s.bind(\'d/sock\')"',
      'echo "needle here" > d/sub/text.txt; echo "needle" > plain.txt',
    ].join('\n'));
    const sn = await within(10000, 'snapshot', call(raw, 'session_snapshot', { session_id: sid }));
    assert.ok(sn.structuredContent?.snapshot_id, JSON.stringify(sn));
    const checks = [
      ['file_read', { path: 'fifo' }, /not a regular file/],
      ['file_read', { path: 'd/sock' }, /not a regular file|No such device|ENXIO/],
      ['file_write', { path: 'fifo', content: 'x' }, /not a regular file|No such device/],
      ['file_edit', { path: 'fifo', old_string: 'a', new_string: 'b' }, /not a regular file|special/],
      ['file_list', { path: 'fifo' }, /directory|Not a directory/],
    ];
    for (const [tool, args, re] of checks) {
      const r = await within(5000, tool, call(raw, tool, { session_id: sid, ...args }));
      assert.equal(r.isError, true, `${tool}: ${JSON.stringify(r)}`);
      assert.match(r.content[0].text, re, tool);
    }
    // tools that walk the tree skip them
    const g = await within(5000, 'grep', call(raw, 'grep', { session_id: sid, pattern: 'needle' }));
    assert.deepEqual(g.structuredContent.matches.map((m) => m.path).sort(), ['d/sub/text.txt', 'plain.txt']);
    const gf = await within(5000, 'grep of a FIFO', call(raw, 'grep', { session_id: sid, pattern: 'x', path: 'd/sub/fifo.txt' }));
    assert.deepEqual(gf.structuredContent?.matches ?? [], [], JSON.stringify(gf));
    const gl = await within(5000, 'glob', call(raw, 'glob', { session_id: sid, pattern: '**/*' }));
    assert.ok(gl.structuredContent.matches.some((m) => m.path === 'd/fifo'));
    const ls = await within(5000, 'file_list', call(raw, 'file_list', { session_id: sid, recursive: true }));
    assert.equal(ls.structuredContent.entries.find((e) => e.path === 'd/fifo')?.type, 'other');
    await sh('echo changed > plain.txt');
    const diff = await within(10000, 'diff', call(raw, 'snapshot_diff', { from: sn.structuredContent.snapshot_id, session_id: sid }));
    assert.deepEqual(diff.structuredContent.modified.map((e) => e.path), ['plain.txt']);
    const rs = await within(10000, 'restore', call(raw, 'session_restore', { session_id: sid, snapshot_id: sn.structuredContent.snapshot_id }));
    assert.equal(rs.structuredContent?.status, 'running', JSON.stringify(rs));
    assert.equal(await sh('cat plain.txt'), 'needle\n');
  });

  test('a file replaced by a FIFO or a link to /etc after it was hashed: diff fails or skips it, never reads outside', async () => {
    await sh('rm -rf ./*; echo one > a.txt');
    const sn = (await call(raw, 'session_snapshot', { session_id: sid })).structuredContent.snapshot_id;
    // swap a.txt for a link to a host file and for a FIFO, over and over, while the server diffs
    const swapper = call(raw, 'execute', { session_id: sid, language: 'shell', timeout_s: 30, code:
      'end=$(($(date +%s)+6)); while [ $(date +%s) -lt $end ]; do echo two > a.txt; rm -f a.txt; ln -s /etc/shadow a.txt; rm -f a.txt; mkfifo a.txt; rm -f a.txt; done; echo two > a.txt' });
    for (let i = 0; i < 20; i++) {
      const d = await within(5000, 'diff during swaps', call(raw, 'snapshot_diff', { from: sn, session_id: sid }));
      const text = JSON.stringify(d);
      assert.ok(!/root:|\$[0-9a-z]+\$/.test(text), 'nothing of /etc/shadow: ' + text.slice(0, 300));
      if (d.isError) assert.match(d.content[0].text, /changed|cannot read|retry|No such file/, text);
    }
    await swapper;
  });

  test('a restore removes a directory the sandbox filled with 70,000 junk entries (in bounded batches)', async () => {
    await sh('rm -rf ./*; mkdir junk; echo keep > junk/keep.txt');
    const sn = (await call(raw, 'session_snapshot', { session_id: sid })).structuredContent.snapshot_id;
    await sh('python3 -c "import os\nfor i in range(70000): os.close(os.open(\'junk/f%d\' % i, os.O_CREAT|os.O_WRONLY))"');
    const rs = await within(60000, 'restore', call(raw, 'session_restore', { session_id: sid, snapshot_id: sn }));
    assert.equal(rs.structuredContent?.status, 'running', JSON.stringify(rs));
    assert.equal(await sh('ls junk | wc -l; cat junk/keep.txt'), '1\nkeep\n');
  });

  test('names with newlines, invalid UTF-8 and control characters: listed, snapshotted, diffed, restored', async () => {
    await sh([
      'rm -rf ./*',
      "printf 'x\\n' > \"$(printf 'new\\nline')\"",
      "printf 'y\\n' > \"$(printf 'bad\\xff\\xfeutf8')\"",
      "printf 'z\\n' > \"$(printf 'ctl\\001\\033[31m')\"",
    ].join('\n'));
    const ls = await call(raw, 'file_list', { session_id: sid });
    assert.equal(ls.isError, undefined, JSON.stringify(ls));
    assert.equal(ls.structuredContent.entries.length, 3);
    const sn = await call(raw, 'session_snapshot', { session_id: sid });
    assert.ok(sn.structuredContent?.snapshot_id, JSON.stringify(sn));
    await sh("for f in *; do echo more >> \"$f\"; done; printf 'w\\n' > \"$(printf 'added\\xc3')\"");
    const d = await call(raw, 'snapshot_diff', { from: sn.structuredContent.snapshot_id, session_id: sid });
    assert.equal(d.isError, undefined, JSON.stringify(d));
    assert.equal(d.structuredContent.modified.length, 3, JSON.stringify(d.structuredContent));
    assert.equal(d.structuredContent.added.length, 1);
    const rs = await call(raw, 'session_restore', { session_id: sid, snapshot_id: sn.structuredContent.snapshot_id });
    assert.equal(rs.structuredContent?.status, 'running', JSON.stringify(rs));
    assert.equal(await sh('ls -q | wc -l; cat -- * | sort'), '3\nx\ny\nz\n', 'the added name is gone, the others have their old content');
  });
});

describe('trees built to hide from the disk quota', () => {
  test('data beneath directories nested deeper than the walk goes counts: the workspace is over quota until it is removed', { timeout: 90000 }, async () => {
    const srv = await startServe({ config: { quota: { disk: '20M', disk_scan: '1s', disk_scan_busy: '1s' } } });
    const a = await wsClient(srv, { key: createKey(srv.dataDir, { name: 'hider' }).key });
    const b = await wsClient(srv, { key: createKey(srv.dataDir, { name: 'bystander' }).key });
    try {
      const sid = (await a.call('session_create', {})).structuredContent.session_id;
      const mk = await a.call('execute', { session_id: sid, language: 'shell', code:
        'd=deep; for i in $(seq 300); do d=$d/d; done; mkdir -p $d; head -c 40000000 /dev/zero > $d/hidden.bin; echo ok' });
      // the busy scans (every 1 s) may see the data past the quota and stop the writer before it ends:
      // that too proves the nested data counts (more than the quota is there either way)
      const stopped = mk.structuredContent?.disk_quota_exceeded === true;
      assert.ok(mk.structuredContent?.stdout === 'ok\n' || stopped, JSON.stringify(mk).slice(0, 300));
      await sleep(3000); // measured by the scans
      const r = await a.call('execute', { session_id: sid, language: 'shell', code: 'true' });
      assert.equal(r.isError, true, 'a 40 MB file 300 levels down must not escape a 20 MB quota: ' + JSON.stringify(r).slice(0, 300));
      assert.match(r.content[0].text, /cannot be measured|quota: this key's workspaces take/);
      assert.equal((await b.call('execute', { language: 'shell', code: 'echo fine' })).structuredContent.stdout, 'fine\n', 'another key is unaffected');
      assert.equal((await a.call('file_delete', { session_id: sid, path: 'deep', recursive: true })).isError, undefined);
      await sleep(3000);
      const again = await a.call('execute', { session_id: sid, language: 'shell', code: 'true' });
      assert.equal(again.isError, undefined, 'room again: ' + JSON.stringify(again).slice(0, 300));
    } finally {
      await a.close();
      await b.close();
      await srv.close();
    }
  });
});

describe('grep patterns built to stall the server', () => {
  test('a regex costly to compile, back-references and lines slow to match: answered in bounded time, another key keeps its latency', { timeout: 120000 }, async () => {
    const srv = await startServe();
    const a = await wsClient(srv, { key: createKey(srv.dataDir, { name: 'attacker' }).key });
    const b = await wsClient(srv, { key: createKey(srv.dataDir, { name: 'bystander' }).key });
    let stop = false, maxPing = 0;
    const pinger = (async () => {
      while (!stop) {
        const t0 = Date.now();
        await b.client.ping({ timeout: 60000 });
        maxPing = Math.max(maxPing, Date.now() - t0);
        await sleep(50);
      }
    })();
    try {
      const sid = (await a.call('session_create', {})).structuredContent.session_id;
      const mk = await a.call('execute', { session_id: sid, language: 'shell', code:
        'python3 -c "print(\'a\' * 8000 + \'b\')" > one.txt; python3 -c "\nfor i in range(1000): print(\'a\' * 8190)" > slow.txt' });
      assert.equal(mk.structuredContent?.exit_code, 0, JSON.stringify(mk));
      // glibc's regcomp takes time and memory growing with the cube of such a pattern (4 KiB: 3 s, 100 MB;
      // 60 KiB: 7 GB): it is refused past 1 KiB, and what is allowed is compiled on the pool, not the loop
      const long = await within(10000, 'a 4 KiB pattern', a.call('grep', { session_id: sid, pattern: '(a*)*'.repeat(819) }));
      assert.equal(long.isError, true, JSON.stringify(long).slice(0, 300));
      assert.match(long.content[0].text, /pattern.*1024/);
      const most = await within(10000, 'a 1 KiB pattern', a.call('grep', { session_id: sid, path: 'one.txt', pattern: '(a*)*'.repeat(204) }));
      assert.equal(most.structuredContent?.count, 1, JSON.stringify(most).slice(0, 300));
      // back-references make regexec backtrack, exponentially in the line's length, past any deadline:
      // two of them held the key's two pool threads for hours, and the server's exit waited for them
      for (const pattern of ['(a|aa)*\\1\\1(c|d)', '^(a*)*\\1$']) {
        const r = await within(5000, `grep ${pattern}`, a.call('grep', { session_id: sid, pattern }));
        assert.equal(r.isError, true, JSON.stringify(r).slice(0, 300));
        assert.match(r.content[0].text, /back-references/);
      }
      const inBracket = await a.call('grep', { session_id: sid, path: 'one.txt', pattern: '[\\1]' });
      assert.equal(inBracket.isError, undefined, 'a backslash in a bracket is a byte: ' + JSON.stringify(inBracket).slice(0, 300));
      // every line costs regexec ~0.1 s (8 KiB, quadratic): the 20 s deadline is checked between lines, not files
      const t0 = Date.now();
      const slow = a.call('grep', { session_id: sid, path: 'slow.txt', pattern: '(a|aa)+(a|aa)+c' }, { timeout: 300000 });
      await sleep(1000);
      const other = await within(5000, 'the other key\'s grep meanwhile', b.call('grep', { pattern: 'x' }));
      assert.equal(other.isError, undefined, JSON.stringify(other));
      const s = (await within(40000, 'grep of slow lines', slow)).structuredContent;
      assert.equal(s?.reason, 'time', JSON.stringify(s));
      assert.ok(Date.now() - t0 < 30000, `stopped after ${Date.now() - t0} ms`);
      assert.ok(maxPing < 1000, `the other key's ping took up to ${maxPing} ms`);
      assert.equal((await b.call('execute', { language: 'shell', code: 'echo fine' })).structuredContent.stdout, 'fine\n');
    } finally {
      stop = true;
      await pinger;
      await a.close();
      await b.close();
      await srv.close();
    }
  });
});
