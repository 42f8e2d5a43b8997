// The tool surface, through the official SDK client.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { startClient, textOf, exec, makeDataDir, sleep } from './helpers.mjs';
import path from 'node:path';

const TOOLS = ['execute', 'file_read', 'file_write', 'file_list', 'file_delete',
  'session_create', 'session_list', 'session_info', 'session_destroy'];
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

let srv;
before(async () => {
  srv = await startClient();
  // listTools first: the SDK then validates every structuredContent against the tool's outputSchema
  await srv.client.listTools();
});
after(async () => { await srv?.close(); });

function assertOk(r, what = '') {
  assert.ok(!r.isError, `${what} unexpectedly failed: ${textOf(r)} ${JSON.stringify(r.structuredContent ?? {}).slice(0, 500)}`);
}
function assertErr(r, ...mentions) {
  assert.equal(r.isError, true, `expected isError, got ${JSON.stringify(r).slice(0, 500)}`);
  const t = textOf(r);
  assert.ok(t.length > 0, 'error result must carry a text message');
  for (const m of mentions) assert.ok(t.includes(m), `error text should mention ${JSON.stringify(m)}: ${t}`);
}
const norm = (p) => p.replace(/^\/workspace\//, '').replace(/^\.\//, '');

describe('tools/list', () => {
  let tools;
  before(async () => { tools = (await srv.client.listTools()).tools; });

  test('has every tool with an object inputSchema', () => {
    const names = tools.map((t) => t.name);
    for (const n of TOOLS) assert.ok(names.includes(n), `missing tool ${n}; have ${names}`);
    for (const t of tools) {
      assert.equal(t.inputSchema?.type, 'object', `${t.name} inputSchema`);
      assert.match(t.name, /^[A-Za-z0-9_.-]{1,64}$/);
      assert.equal(typeof t.description, 'string');
      assert.ok(t.description.length > 0, `${t.name} has no description`);
    }
  });

  test('annotations and schemas', () => {
    const by = Object.fromEntries(tools.map((t) => [t.name, t]));
    assert.equal(by.execute.outputSchema?.type, 'object');
    assert.equal(by.execute.annotations?.destructiveHint, true);
    assert.equal(by.file_read.annotations?.readOnlyHint, true);
    assert.deepEqual([...by.execute.inputSchema.required].sort(), ['code', 'language']);
    assert.deepEqual([...by.execute.inputSchema.properties.language.enum].sort(),
      ['bash', 'c', 'c++', 'cpp', 'go', 'golang', 'java', 'javascript', 'js', 'node', 'nodejs', 'py', 'python', 'python3',
        'rb', 'rs', 'ruby', 'rust', 'sh', 'shell', 'ts', 'typescript']);
  });

  test('order is deterministic', async () => {
    const again = (await srv.client.listTools()).tools.map((t) => t.name);
    assert.deepEqual(again, tools.map((t) => t.name));
  });
});

describe('execute', () => {
  test('python print(1+1)', async () => {
    const r = await exec(srv, 'python', 'print(1+1)');
    assertOk(r);
    assert.equal(r.sc.stdout, '2\n');
    assert.equal(r.sc.stderr, '');
    assert.equal(r.sc.exit_code, 0);
    assert.equal(r.sc.timed_out, false);
    assert.equal(r.sc.oom_killed, false);
    assert.equal(r.sc.truncated, false);
    assert.equal(typeof r.sc.duration_ms, 'number');
    assert.equal(typeof r.sc.cpu_ms, 'number');
    assert.equal(typeof r.sc.max_rss_kb, 'number');
    assert.ok(!('signal' in r.sc), 'signal only when killed');
    assert.ok(textOf(r).includes('2'), textOf(r));
    assert.match(textOf(r), /exit_code 0/);
  });

  test('javascript console.log(6*7)', async () => {
    const r = await exec(srv, 'javascript', 'console.log(6*7)');
    assertOk(r);
    assert.equal(r.sc.stdout, '42\n');
    assert.equal(r.sc.exit_code, 0);
  });

  test('shell: stdout, stderr, exit status', async () => {
    const r = await exec(srv, 'shell', 'echo hi; echo err >&2; exit 3');
    assert.equal(r.isError, true);
    assert.equal(r.sc.exit_code, 3);
    assert.equal(r.sc.stdout, 'hi\n');
    assert.equal(r.sc.stderr, 'err\n');
    assert.equal(r.sc.timed_out, false);
    const t = textOf(r);
    assert.ok(t.includes('hi'), t);
    assert.ok(t.includes('err'), t);
    assert.match(t, /exit_code 3/);
    assert.ok(t.indexOf('hi') < t.indexOf('err'), 'stdout first, then stderr');
  });

  test('stdin is fed to the program', async () => {
    const r = await exec(srv, 'python', 'import sys; print(sys.stdin.read().upper(), end="")', { stdin: 'hello\nworld\n' });
    assertOk(r);
    assert.equal(r.sc.stdout, 'HELLO\nWORLD\n');
  });

  test('without stdin the program reads EOF at once', async () => {
    const t0 = Date.now();
    const r = await exec(srv, 'shell', 'cat; echo done', { timeout_s: 5 });
    assertOk(r);
    assert.equal(r.sc.stdout, 'done\n');
    assert.ok(Date.now() - t0 < 3000);
  });

  test('env is visible', async () => {
    const r = await exec(srv, 'shell', 'echo "$FOO|$BAR_2"', { env: { FOO: 'bar baz', BAR_2: 'x=y' } });
    assertOk(r);
    assert.equal(r.sc.stdout, 'bar baz|x=y\n');
  });

  test('python event handler', async () => {
    const r = await exec(srv, 'python', 'def handler(event):\n    return {"m": event["x"]*2}\n', { event: { x: 21 } });
    assertOk(r);
    assert.deepEqual(r.sc.result, { m: 42 });
  });

  test('javascript event handler (async)', async () => {
    const r = await exec(srv, 'javascript', 'module.exports.handler = async (e) => ({m: e.x+1})', { event: { x: 41 } });
    assertOk(r);
    assert.deepEqual(r.sc.result, { m: 42 });
  });

  test('handler(event, context): Python and a global JavaScript function (the executor twin\'s style)', async () => {
    const py = await exec(srv, 'python', 'def handler(event, context):\n    return [event["x"], context]\n', { event: { x: 1 } });
    assertOk(py);
    assert.deepEqual(py.sc.result, [1, {}]);
    const js = await exec(srv, 'javascript', 'function handler(event, context) { return [event.x, typeof context]; }', { event: { x: 2 } });
    assertOk(js);
    assert.deepEqual(js.sc.result, [2, 'object']);
    const none = await exec(srv, 'javascript', 'const x = 1; // no handler', { event: {} });
    assert.equal(none.isError, true);
    assert.match(none.sc.stderr, /defines no handler/);
  });

  test('handler output on stdout is kept separate from the result', async () => {
    const r = await exec(srv, 'python', 'def handler(event):\n    print("log line")\n    return [event, None, "s"]\n', { event: 'e' });
    assertOk(r);
    assert.deepEqual(r.sc.result, ['e', null, 's']);
    assert.ok(r.sc.stdout.includes('log line'), JSON.stringify(r.sc));
  });

  test('timeout_s:1 on sleep 5 -> timed_out', async () => {
    const t0 = Date.now();
    const r = await exec(srv, 'shell', 'sleep 5', { timeout_s: 1 });
    const el = Date.now() - t0;
    assert.equal(r.isError, true);
    assert.equal(r.sc.timed_out, true);
    assert.equal(r.sc.signal, 'SIGKILL');
    assert.equal(r.sc.exit_code, 137);
    assert.match(textOf(r), /timed out/);
    assert.ok(el >= 900 && el < 2000, `took ${el} ms`);
  });

  test('output flood is truncated at 1 MiB', async () => {
    const r = await exec(srv, 'shell', 'yes | head -c 5000000', { timeout_s: 30 });
    assert.equal(r.sc.truncated, true);
    const n = Buffer.byteLength(r.sc.stdout);
    assert.ok(n > 0 && n <= 1024 * 1024, `stdout is ${n} bytes`);
    assert.ok(/^(y\n)+y?\n?$/.test(r.sc.stdout.slice(0, 4096)), 'stdout should be the beginning of the output');
  });

  test('bad arguments are isError results naming the argument', async () => {
    assertErr(await srv.call('execute', { language: 'python' }), 'code');
    assertErr(await srv.call('execute', { code: 'print(1)' }), 'language');
    assertErr(await srv.call('execute', { code: 'x', language: 'cobol' }), 'language');
    assertErr(await srv.call('execute', { code: 'true', language: 'shell', timeout_s: 0 }), 'timeout_s');
    assertErr(await srv.call('execute', { code: 'true', language: 'shell', timeout_s: 3601 }), 'timeout_s');
    assertErr(await srv.call('execute', { code: 'true', language: 'shell', timeout_s: 'ten' }), 'timeout_s');
    assertErr(await srv.call('execute', { code: 42, language: 'shell' }), 'code');
    assertErr(await srv.call('execute', { code: 'true', language: 'shell', env: { A: 1 } }), 'env');
  });
});

describe('files', () => {
  test('utf8 roundtrip', async () => {
    const content = 'héllo wörld ✓\nline 2\n';
    const w = await srv.call('file_write', { path: 'dir/a/hello.txt', content });
    assertOk(w, 'file_write');
    assert.equal(w.structuredContent.bytes, Buffer.byteLength(content));
    assert.equal(w.structuredContent.size, Buffer.byteLength(content));
    const r = await srv.call('file_read', { path: 'dir/a/hello.txt' });
    assertOk(r, 'file_read');
    assert.equal(r.structuredContent.content, content);
    assert.equal(r.structuredContent.size, Buffer.byteLength(content));
    assert.equal(r.structuredContent.encoding, 'utf8');
    assert.equal(r.structuredContent.truncated, false);
    assert.equal(textOf(r), content);
  });

  test('base64 roundtrip with every byte value', async () => {
    const bytes = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), crypto.randomBytes(4096)]);
    const w = await srv.call('file_write', { path: 'bin.dat', content: bytes.toString('base64'), encoding: 'base64' });
    assertOk(w, 'file_write');
    assert.equal(w.structuredContent.size, bytes.length);
    const r = await srv.call('file_read', { path: 'bin.dat', encoding: 'base64' });
    assertOk(r, 'file_read');
    assert.equal(r.structuredContent.encoding, 'base64');
    assert.equal(r.structuredContent.size, bytes.length);
    assert.ok(Buffer.from(r.structuredContent.content, 'base64').equals(bytes), 'bytes differ');
    // and the sandbox sees the same bytes
    const sum = await exec(srv, 'shell', 'sha256sum bin.dat');
    assert.equal(sum.sc.stdout.split(' ')[0], crypto.createHash('sha256').update(bytes).digest('hex'));
  });

  test('large windows (read on the thread pool): text, a cut character, base64, a bad byte, a surrogate', async () => {
    const line = 'héllo wörld — ✓ 𝄞\n'; // 1-, 2-, 3- and 4-byte characters
    const text = line.repeat(Math.ceil((3 << 20) / Buffer.byteLength(line)));
    const bytes = Buffer.from(text);
    assertOk(await srv.call('file_write', { path: 'big.txt', content: text }), 'file_write');
    let r = await srv.call('file_read', { path: 'big.txt', length: 2 << 20 });
    assertOk(r, 'file_read');
    const sc = r.structuredContent;
    assert.equal(sc.size, bytes.length);
    assert.ok(sc.bytes <= 2 << 20 && sc.bytes > (2 << 20) - 4, `${sc.bytes}`);
    assert.equal(Buffer.from(sc.content).length, sc.bytes);
    assert.ok(bytes.subarray(0, sc.bytes).equals(Buffer.from(sc.content)), 'the window is the file\'s first bytes, no character split');
    const rand = crypto.randomBytes(1 << 20);
    assertOk(await srv.call('file_write', { path: 'big.bin', content: rand.toString('base64'), encoding: 'base64' }));
    r = await srv.call('file_read', { path: 'big.bin', encoding: 'base64', offset: 1000 });
    assertOk(r);
    assert.ok(Buffer.from(r.structuredContent.content, 'base64').equals(rand.subarray(1000)));
    const bad = Buffer.concat([Buffer.from(text.slice(0, 600000)), Buffer.from([0xff])]);
    assertOk(await srv.call('file_write', { path: 'bad.txt', content: bad.toString('base64'), encoding: 'base64' }));
    assertErr(await srv.call('file_read', { path: 'bad.txt' }), `offset ${bad.length - 1}`);
    // a UTF-16 surrogate in UTF-8 form is not text either, in a small window and a large one
    const sur = Buffer.concat([Buffer.from('ok '), Buffer.from([0xed, 0xa0, 0x80])]);
    assertOk(await srv.call('file_write', { path: 'sur.txt', content: sur.toString('base64'), encoding: 'base64' }));
    assertErr(await srv.call('file_read', { path: 'sur.txt' }), 'invalid byte at offset 3');
    const big = Buffer.concat([Buffer.alloc(400000, 0x61), sur]);
    assertOk(await srv.call('file_write', { path: 'sur2.txt', content: big.toString('base64'), encoding: 'base64' }));
    assertErr(await srv.call('file_read', { path: 'sur2.txt' }), 'invalid byte at offset 400003');
  });

  test('offset and length', async () => {
    await srv.call('file_write', { path: 'digits.txt', content: '0123456789' });
    const r = await srv.call('file_read', { path: 'digits.txt', offset: 3, length: 4 });
    assertOk(r);
    assert.equal(r.structuredContent.content, '3456');
    assert.equal(r.structuredContent.offset, 3);
    assert.equal(r.structuredContent.bytes, 4);
    assert.equal(r.structuredContent.size, 10);
    const tailR = await srv.call('file_read', { path: 'digits.txt', offset: 8 });
    assert.equal(tailR.structuredContent.content, '89');
  });

  test('append and mode', async () => {
    await srv.call('file_write', { path: 'app.txt', content: 'a' });
    const w = await srv.call('file_write', { path: 'app.txt', content: 'b', append: true });
    assertOk(w);
    assert.equal(w.structuredContent.size, 2);
    const r = await srv.call('file_read', { path: 'app.txt' });
    assert.equal(r.structuredContent.content, 'ab');
    const s = await srv.call('file_write', { path: 'run.sh', content: '#!/bin/sh\necho ran\n', mode: '0755' });
    assertOk(s);
    const x = await exec(srv, 'shell', './run.sh && stat -c %a run.sh');
    assertOk(x);
    assert.equal(x.sc.stdout, 'ran\n755\n');
  });

  test('file_list, flat and recursive', async () => {
    await srv.call('file_write', { path: 'lst/one.txt', content: '1' });
    await srv.call('file_write', { path: 'lst/sub/two.txt', content: '22' });
    const l = await srv.call('file_list', { path: 'lst' });
    assertOk(l);
    const es = l.structuredContent.entries;
    assert.deepEqual(es.map((e) => e.name).sort(), ['one.txt', 'sub']);
    for (const e of es) {
      for (const k of ['name', 'path', 'type', 'size', 'mtime']) assert.ok(k in e, `entry lacks ${k}: ${JSON.stringify(e)}`);
      assert.match(e.mtime, ISO_UTC);
      assert.ok(Math.abs(Date.parse(e.mtime) - Date.now()) < 10 * 60 * 1000, `mtime ${e.mtime} is not now`);
    }
    const one = es.find((e) => e.name === 'one.txt');
    assert.equal(one.type, 'file');
    assert.equal(one.size, 1);
    assert.equal(norm(one.path), 'lst/one.txt');
    assert.equal(es.find((e) => e.name === 'sub').type, 'directory');
    assert.equal(l.structuredContent.truncated, false);

    const rl = await srv.call('file_list', { path: 'lst', recursive: true });
    assertOk(rl);
    const paths = rl.structuredContent.entries.map((e) => norm(e.path)).sort();
    assert.deepEqual(paths, ['lst/one.txt', 'lst/sub', 'lst/sub/two.txt']);
    assert.equal(rl.structuredContent.entries.find((e) => e.name === 'two.txt').size, 2);

    const root = await srv.call('file_list', {});
    assertOk(root);
    assert.ok(root.structuredContent.entries.some((e) => e.name === 'lst'));
  });

  test('file_list shows symlinks as symlinks', async () => {
    await exec(srv, 'shell', 'mkdir -p lnk && ln -sf /etc lnk/etc_link');
    const l = await srv.call('file_list', { path: 'lnk' });
    assertOk(l);
    assert.equal(l.structuredContent.entries.find((e) => e.name === 'etc_link')?.type, 'symlink');
  });

  test('file_delete', async () => {
    await srv.call('file_write', { path: 'del/f.txt', content: 'x' });
    await srv.call('file_write', { path: 'del/d/g.txt', content: 'y' });
    const d = await srv.call('file_delete', { path: 'del/f.txt' });
    assertOk(d);
    assert.equal(d.structuredContent.deleted, true);
    assertErr(await srv.call('file_read', { path: 'del/f.txt' }), 'del/f.txt');
    assertErr(await srv.call('file_delete', { path: 'del' }), 'del');
    assertOk(await srv.call('file_read', { path: 'del/d/g.txt' }), 'non-recursive delete must not remove anything');
    const rd = await srv.call('file_delete', { path: 'del', recursive: true });
    assertOk(rd);
    const after = await srv.call('file_list', {});
    assert.ok(!after.structuredContent.entries.some((e) => e.name === 'del'));
    assertErr(await srv.call('file_delete', { path: 'del' }), 'del');
  });

  test('file_read of a missing file is an error naming it', async () => {
    assertErr(await srv.call('file_read', { path: 'no/such/file.txt' }), 'no/such/file.txt');
  });

  test('bad arguments name the argument', async () => {
    assertErr(await srv.call('file_read', {}), 'path');
    assertErr(await srv.call('file_write', { path: 'x.txt' }), 'content');
    assertErr(await srv.call('file_write', { path: 'x.txt', content: '!!!', encoding: 'rot13' }), 'encoding');
    assertErr(await srv.call('file_read', { path: 'digits.txt', offset: -1 }), 'offset');
  });

  test('path escapes are refused', async () => {
    assertErr(await srv.call('file_read', { path: '../etc/passwd' }), '../etc/passwd');
    assertErr(await srv.call('file_read', { path: '/etc/passwd' }), '/etc/passwd');
    assertErr(await srv.call('file_read', { path: 'a/../../../../etc/passwd' }), 'passwd');
    assertErr(await srv.call('file_write', { path: '../escape.txt', content: 'x' }), '../escape.txt');
    assertErr(await srv.call('file_delete', { path: '..', recursive: true }), '..');
    assertErr(await srv.call('file_list', { path: '/etc' }), '/etc');
  });

  test('symlink escapes are refused', async () => {
    const x = await exec(srv, 'shell', 'ln -sfn /etc /workspace/out && ls out/passwd');
    assertOk(x, 'ln -s');
    assertErr(await srv.call('file_read', { path: 'out/passwd' }), 'out/passwd');
    const marker = `mcpbox-e2e-${process.pid}-${Date.now()}`;
    assertErr(await srv.call('file_write', { path: `out/${marker}`, content: 'pwned' }), marker);
    assert.ok(!fs.existsSync(`/etc/${marker}`), 'file_write through a symlink reached the host /etc');
    assertErr(await srv.call('file_list', { path: 'out' }), 'out');
    // a symlink to a file outside
    await exec(srv, 'shell', 'ln -sf /etc/hostname /workspace/hn');
    assertErr(await srv.call('file_read', { path: 'hn' }), 'hn');
  });

  test('absolute /workspace paths are accepted', async () => {
    const w = await srv.call('file_write', { path: '/workspace/abs.txt', content: 'abs' });
    assertOk(w);
    const r = await srv.call('file_read', { path: 'abs.txt' });
    assert.equal(r.structuredContent.content, 'abs');
    const r2 = await srv.call('file_read', { path: '/workspace/abs.txt' });
    assert.equal(r2.structuredContent.content, 'abs');
  });

  test('files are shared between file tools and execute', async () => {
    await srv.call('file_write', { path: 'x', content: 'from file_write\n' });
    const c = await exec(srv, 'shell', 'cat x; pwd');
    assertOk(c);
    assert.equal(c.sc.stdout, 'from file_write\n/workspace\n');
    await exec(srv, 'python', 'open("y.txt","w").write("from execute")');
    const r = await srv.call('file_read', { path: 'y.txt' });
    assertOk(r);
    assert.equal(r.structuredContent.content, 'from execute');
  });
});

describe('sessions', () => {
  let s1, s2;
  test('session_create', async () => {
    const r = await srv.call('session_create', { name: 'alpha', labels: { team: 'e2e' } });
    assertOk(r);
    const sc = r.structuredContent;
    assert.equal(typeof sc.session_id, 'string');
    assert.ok(sc.session_id.length > 0);
    assert.equal(sc.status, 'running');
    assert.equal(sc.name, 'alpha');
    assert.deepEqual(sc.labels, { team: 'e2e' });
    assert.equal(typeof sc.network, 'boolean');
    for (const k of ['memory_mb', 'max_pids', 'cpu_s', 'file_mb', 'timeout_s']) assert.equal(typeof sc.limits?.[k], 'number', `limits.${k}`);
    assert.match(sc.created_at, ISO_UTC);
    s1 = sc.session_id;
    s2 = (await srv.call('session_create', {})).structuredContent.session_id;
    assert.notEqual(s1, s2);
  });

  test('labels and env are bounded: count, name and value sizes (they live in every record and listing)', async () => {
    const many = Object.fromEntries([...Array(33).keys()].map((i) => [`k${i}`, 'v']));
    const cases = [
      [{ labels: many }, /labels" must not have more than 32 entries/],
      [{ labels: { ['n'.repeat(65)]: 'v' } }, /longer than 64 characters/],
      [{ labels: { k: 'v'.repeat(257) } }, /must not be longer than 256 characters/],
      [{ env: { K: 'v'.repeat(32769) } }, /must not be longer than 32768 characters/],
    ];
    for (const [args, re] of cases) {
      const r = await srv.call('session_create', args);
      assert.equal(r.isError, true, JSON.stringify(args).slice(0, 80));
      assert.match(r.content[0].text, re);
    }
    const snap = await srv.call('session_snapshot', { labels: many });
    assert.equal(snap.isError, true);
    assert.match(snap.content[0].text, /more than 32 entries/);
  });

  test('session_create honours limits', async () => {
    const r = await srv.call('session_create', { memory_mb: 300, timeout_s: 7 });
    assertOk(r);
    assert.equal(r.structuredContent.limits.memory_mb, 300);
    assert.equal(r.structuredContent.limits.timeout_s, 7);
    await srv.call('session_destroy', { session_id: r.structuredContent.session_id });
    assertErr(await srv.call('session_create', { memory_mb: -1 }), 'memory_mb');
  });

  test('execute and files in an explicit session', async () => {
    assertOk(await srv.call('file_write', { session_id: s1, path: 'secret.txt', content: 's1 only' }));
    const r = await exec(srv, 'shell', 'cat secret.txt', { session_id: s1 });
    assertOk(r);
    assert.equal(r.sc.stdout, 's1 only');
    // not in s2, not in the implicit session
    assertErr(await srv.call('file_read', { session_id: s2, path: 'secret.txt' }), 'secret.txt');
    assertErr(await srv.call('file_read', { path: 'secret.txt' }), 'secret.txt');
    const l2 = await exec(srv, 'shell', 'ls -A /workspace; cat /workspace/secret.txt', { session_id: s2 });
    assert.ok(!l2.sc.stdout.includes('secret'), l2.sc.stdout);
    assert.notEqual(l2.sc.exit_code, 0);
  });

  test('session env is set at creation', async () => {
    const r = await srv.call('session_create', { env: { SESS_VAR: 'from-session' } });
    const id = r.structuredContent.session_id;
    const x = await exec(srv, 'shell', 'echo $SESS_VAR', { session_id: id });
    assert.equal(x.sc.stdout, 'from-session\n');
    await srv.call('session_destroy', { session_id: id });
  });

  test('session_list', async () => {
    const r = await srv.call('session_list', {});
    assertOk(r);
    const ss = r.structuredContent.sessions;
    const a = ss.find((s) => s.session_id === s1);
    assert.ok(a, `s1 missing from ${JSON.stringify(ss)}`);
    assert.equal(a.name, 'alpha');
    assert.deepEqual(a.labels, { team: 'e2e' });
    assert.equal(a.status, 'running');
    assert.equal(a.implicit, false);
    assert.match(a.created_at, ISO_UTC);
    assert.match(a.last_active, ISO_UTC);
    assert.ok(ss.some((s) => s.session_id === s2));
    assert.ok(ss.some((s) => s.implicit === true), 'the implicit session (used above) should be listed');
  });

  test('session_list filters by labels (every one given must match)', async () => {
    let r = await srv.call('session_list', { labels: { team: 'e2e' } });
    assertOk(r);
    assert.deepEqual(r.structuredContent.sessions.map((s) => s.session_id), [s1]);
    r = await srv.call('session_list', { labels: { team: 'e2e', other: 'x' } });
    assertOk(r);
    assert.deepEqual(r.structuredContent.sessions, []);
    r = await srv.call('session_list', { labels: { team: 'nobody' } });
    assert.deepEqual(r.structuredContent.sessions, []);
    r = await srv.call('session_list', { labels: { team: 5 } });
    assert.equal(r.isError, true);
  });

  test('session_info', async () => {
    const r = await srv.call('session_info', { session_id: s1 });
    assertOk(r);
    const sc = r.structuredContent;
    assert.equal(sc.session_id, s1);
    assert.equal(sc.status, 'running');
    assert.match(sc.created_at, ISO_UTC);
    assert.match(sc.last_active, ISO_UTC);
    assert.equal(typeof sc.network, 'boolean');
    assert.equal(typeof sc.limits?.memory_mb, 'number');
    for (const k of ['memory_bytes', 'pids', 'executions', 'cpu_ms']) assert.equal(typeof sc.usage?.[k], 'number', `usage.${k}`);
    assert.ok(sc.usage.executions >= 1, `executions ${sc.usage.executions}`);
    assert.equal(sc.implicit, false);
    const imp = await srv.call('session_info', {});
    assertOk(imp);
    assert.equal(imp.structuredContent.implicit, true);
  });

  test('session_destroy', async () => {
    const d = await srv.call('session_destroy', { session_id: s1 });
    assertOk(d);
    assert.equal(d.structuredContent.session_id, s1);
    assert.equal(d.structuredContent.destroyed, true);
    assertErr(await exec(srv, 'shell', 'true', { session_id: s1 }), 'not found');
    assertErr(await srv.call('file_read', { session_id: s1, path: 'secret.txt' }), 'not found');
    assertErr(await srv.call('session_info', { session_id: s1 }), 'not found');
    assertErr(await srv.call('session_destroy', { session_id: s1 }), 'not found');
    const l = await srv.call('session_list', {});
    assert.ok(!l.structuredContent.sessions.some((s) => s.session_id === s1));
    await srv.call('session_destroy', { session_id: s2 });
  });

  test('unknown session_id', async () => {
    assertErr(await exec(srv, 'shell', 'true', { session_id: 'no-such-session' }), 'not found');
    assertErr(await srv.call('session_info', { session_id: 'no-such-session' }), 'not found');
    assertErr(await srv.call('session_destroy', {}), 'session_id');
  });
});

// Prestarting (sessions/run.h): once a session runs the same kind of program twice, the next one is
// started ahead. Seen from inside: the process that runs the third call is older than the call.
const AGE = 's=$(cut -d" " -f22 /proc/$$/stat); u=$(cut -d" " -f1 /proc/uptime); echo "$$ $u $s $(getconf CLK_TCK) $V"';
function ageOf(r) {
  const [pid, up, start, tck, v] = r.sc.stdout.trim().split(' ');
  return { pid: Number(pid), age: Number(up) - Number(start) / Number(tck), v };
}

describe('prestart', () => {
  test('the third call of the same kind runs in a process started ahead; each call still gets a fresh one', async () => {
    const srv = await startClient();
    try {
      const seen = [];
      for (let i = 0; i < 4; i++) {
        const r = await exec(srv, 'shell', AGE, { env: { V: 'a' } });
        assert.equal(r.sc.exit_code, 0, JSON.stringify(r.sc));
        seen.push(ageOf(r));
        await sleep(700);
      }
      assert.ok(seen[0].age < 0.5 && seen[1].age < 0.5, `first two start cold: ${JSON.stringify(seen)}`);
      assert.ok(seen[2].age >= 0.5 && seen[3].age >= 0.5, `later ones were started ahead: ${JSON.stringify(seen)}`);
      assert.equal(new Set(seen.map((x) => x.pid)).size, 4, 'a new process every time');
      // another environment is another kind of start: cold, and it sees its own value
      const other = ageOf(await exec(srv, 'shell', AGE, { env: { V: 'b' } }));
      assert.equal(other.v, 'b');
      assert.ok(other.age < 0.5, `a different env never takes the spare: ${JSON.stringify(other)}`);
      // python too, and its output is only its own
      for (let i = 0; i < 3; i++) await exec(srv, 'python', 'print(1)');
      await sleep(300);
      const py = await exec(srv, 'python', 'import sys; print("py", len(sys.argv))');
      assert.equal(py.sc.stdout, 'py 1\n');
      assert.equal(py.sc.stderr, '');
    } finally {
      await srv.close();
    }
  });

  test('back-to-back calls start the next program while one runs; slow-paced calls only after it ended', async () => {
    // other processes in the sandbox besides its init and this shell, counted with builtins only
    const OTHERS = 'n=0; for p in /proc/[0-9]*; do p=${p#/proc/}; [ "$p" = 1 ] || [ "$p" = $$ ] || n=$((n+1)); done; echo $n';
    const srv = await startClient();
    try {
      // (a call the test runner or a busy host delays by more than 10 ms counts as slow-paced: the
      // calls go on, up to 30, until enough were seen with the next one beside them; never more than one)
      const fast = [];
      const need = process.env.ASAN_OPTIONS ? 1 : 2;
      const beside = () => fast.slice(2).filter((n) => n === 1).length;
      while (fast.length < 6 || (beside() < need && fast.length < 30))
        fast.push(Number((await exec(srv, 'shell', OTHERS)).sc.stdout));
      assert.ok(fast.every((n) => n <= 1) && beside() >= need,
        `back to back: the next one waits beside the running call: ${fast}`);
      const slow = [];
      for (let i = 0; i < 3; i++) {
        await sleep(100);
        slow.push(Number((await exec(srv, 'shell', OTHERS)).sc.stdout));
      }
      assert.deepEqual(slow, [0, 0, 0], `slow pace: nothing starts while a call runs: ${slow}`);
    } finally {
      await srv.close();
    }
  });

  test('a python started ahead is not used once the user site-packages changed (pip install --user)', async () => {
    const srv = await startClient();
    try {
      for (let i = 0; i < 2; i++) await exec(srv, 'python', 'pass');
      // back to back, so the next python starts while this one runs, before the directory exists
      const mk = await exec(srv, 'python', 'import site, os, time\ntime.sleep(0.5)\nos.makedirs(site.USER_SITE)\n' +
        'open(site.USER_SITE + "/mod_a.py", "w").write("X = 1")');
      assert.equal(mk.sc.exit_code, 0, JSON.stringify(mk.sc));
      const a = await exec(srv, 'python', 'import mod_a; print(mod_a.X)');
      assert.equal(a.sc.stdout, '1\n', `a new user site is on sys.path: ${JSON.stringify(a.sc)}`);
      // a .pth file added to it later (what editable installs do) is read too
      const pth = await exec(srv, 'python', 'import site, os, time\ntime.sleep(0.5)\nos.makedirs("/workspace/lib_b")\n' +
        'open("/workspace/lib_b/mod_b.py", "w").write("Y = 2")\nopen(site.USER_SITE + "/b.pth", "w").write("/workspace/lib_b\\n")');
      assert.equal(pth.sc.exit_code, 0, JSON.stringify(pth.sc));
      const b = await exec(srv, 'python', 'import mod_b; print(mod_b.Y)');
      assert.equal(b.sc.stdout, '2\n', `a new .pth file is processed: ${JSON.stringify(b.sc)}`);
      // and so is one edited in place (an append leaves the directory as it was)
      const edit = await exec(srv, 'python', 'import site, os, time\ntime.sleep(0.5)\nos.makedirs("/workspace/lib_c")\n' +
        'open("/workspace/lib_c/mod_c.py", "w").write("Z = 3")\nopen(site.USER_SITE + "/b.pth", "a").write("/workspace/lib_c\\n")');
      assert.equal(edit.sc.exit_code, 0, JSON.stringify(edit.sc));
      const c = await exec(srv, 'python', 'import mod_c; print(mod_c.Z)');
      assert.equal(c.sc.stdout, '3\n', `a .pth file edited in place is processed: ${JSON.stringify(c.sc)}`);
    } finally {
      await srv.close();
    }
  });

  test('config prestart: false starts every program on demand', async () => {
    const dataDir = makeDataDir();
    fs.writeFileSync(path.join(dataDir, 'config.json'), JSON.stringify({ prestart: false }));
    const srv = await startClient({ dataDir });
    try {
      const seen = [];
      for (let i = 0; i < 3; i++) {
        seen.push(ageOf(await exec(srv, 'shell', AGE)));
        await sleep(700);
      }
      assert.ok(seen.every((x) => x.age < 0.5), `all cold: ${JSON.stringify(seen)}`);
    } finally {
      await srv.close();
    }
  });
});
