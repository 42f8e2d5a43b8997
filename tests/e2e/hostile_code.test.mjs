// Large code given to execute: the server holds it once and only until the program has read it, and
// what a key's programs have not read yet is bounded (quota.code, 256 MiB by default).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startServe, wsClient, createKey, httpRequest, sleep, UNDER_ASAN } from './helpers.mjs';

const status = (pid) => fs.readFileSync(`/proc/${pid}/status`, 'utf8');
const kbOf = (pid, field) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status(pid))[1]);

// make asan's allocator keeps freed memory in its quarantine on purpose: the bound is glibc's
test('a burst of executes with 30 MB of code each: the right output, and the server never holds their code at once', { timeout: 240000, skip: UNDER_ASAN }, async () => {
  const srv = await startServe();
  const a = await wsClient(srv, { key: createKey(srv.dataDir, { name: 'burst' }).key });
  try {
    // each program keeps its 30 MB of source while it runs: room for all of them at once
    const sid = (await a.call('session_create', { memory_mb: 6144 })).structuredContent.session_id;
    const base = kbOf(srv.pid, 'VmRSS') / 1024;
    const tail = '#' + 'x'.repeat(30e6) + '\n';
    const n = 16;
    const calls = [];
    for (let i = 0; i < n; i++) {
      calls.push(a.call('execute', { session_id: sid, language: 'python', timeout_s: 120,
        code: `import time\ntime.sleep(25)\nprint('ran', ${i})\n` + tail }, { timeout: 230000 }));
    }
    const results = await Promise.all(calls);
    const peak = kbOf(srv.pid, 'VmHWM') / 1024;
    results.forEach((r, i) => {
      assert.equal(r.structuredContent?.stdout, `ran ${i}\n`, JSON.stringify(r).slice(0, 400));
      assert.equal(r.structuredContent.exit_code, 0);
    });
    // the programs overlapped (each sleeps 25 s, longer than the burst takes to arrive)
    const longest = Math.max(...results.map((r) => r.structuredContent.duration_ms));
    assert.ok(longest < 60000, `durations up to ${longest} ms`);
    console.log(`# peak RSS ${peak | 0} MB (${base | 0} MB before), ${n} x 30 MB of code`);
    // before: the call's arguments and the run's copy held every program's code until it ended,
    // 2 x 16 x 30 MB: a peak near 1 GB. Now each is freed once its program has read it; what is
    // left is what waits to be received and parsed (the transport's bounds).
    assert.ok(peak < base + 400, `peak RSS ${peak | 0} MB (${base | 0} MB before the burst)`);
  } finally {
    await a.close();
    await srv.close();
  }
});

test('code its programs have not read is bounded per key (quota.code): refused past it, another key unaffected', { timeout: 180000 }, async () => {
  const srv = await startServe();
  const a = await wsClient(srv, { key: createKey(srv.dataDir, { name: 'holder' }).key });
  const b = await wsClient(srv, { key: createKey(srv.dataDir, { name: 'bystander' }).key });
  try {
    const sid = (await a.call('session_create', {})).structuredContent.session_id;
    // bash reads a script as it runs it: the 30 MB after the sleep stay unread, held by the server
    const tail = '#' + 'y'.repeat(30e6) + '\n';
    const held = [];
    for (let i = 0; i < 8; i++) {
      held.push(a.call('execute', { session_id: sid, language: 'shell', timeout_s: 120,
        code: `sleep 100\necho ${i}\n` + tail }, { timeout: 170000 }));
    }
    // 8 x 30 MB = 240 MB are held; a ninth would pass 256 MiB
    const refused = await a.call('execute', { session_id: sid, language: 'shell', code: 'echo 9\n' + tail });
    assert.equal(refused.isError, true, JSON.stringify(refused).slice(0, 400));
    assert.match(refused.content[0].text, /quota: this key's executions hold 228 MiB of code that their programs have not read yet; this execution's 30000009 bytes would pass its quota of 256 MiB \(quota\.code\)/);
    // small code still runs for it: the bound is on bytes
    assert.equal((await a.call('execute', { session_id: sid, language: 'shell', code: 'echo small' })).structuredContent?.stdout, 'small\n');
    // another key gives 30 MB of code and gets its output
    // (python: bash reads a script byte by byte from a pipe, 15 s for 30 MB)
    const other = await b.call('execute', { language: 'python', code: 'print("other")\n' + tail });
    assert.equal(other.structuredContent?.stdout, 'other\n', JSON.stringify(other).slice(0, 400));
    // the held ones end with their session; their code is no longer counted
    assert.equal((await a.call('session_destroy', { session_id: sid })).isError, undefined);
    for (const r of await Promise.all(held)) assert.equal(r.structuredContent?.session_ended, 'destroyed', JSON.stringify(r).slice(0, 300));
    const again = await a.call('execute', { language: 'python', code: 'print("again")\n' + tail });
    assert.equal(again.structuredContent?.stdout, 'again\n', JSON.stringify(again).slice(0, 400));
  } finally {
    await a.close();
    await b.close();
    await srv.close();
  }
});

// The executor dialect (POST /execute) kept its request body and the value parsed from it until it answered:
// two copies of each request's code for the whole execution.
test("the executor dialect holds no copy of a request's large code while the program runs", { timeout: 240000, skip: UNDER_ASAN }, async () => {
  const srv = await startServe();
  const key = createKey(srv.dataDir, { name: 'executor' }).key;
  try {
    const pad = '#' + 'z'.repeat(30e6) + '\n';
    const post = (i) => httpRequest(srv, { path: '/compat/executor/execute', timeout: 230000,
      headers: { 'Content-Type': 'application/json', 'X-API-Key': key },
      body: Buffer.from(JSON.stringify({ execution_id: `big${i}`, session_id: 'held', language: 'python', timeout: 120,
        code: 'import time\ndef handler(event):\n    time.sleep(20)\n    return ' + i + '\n' + pad })) });
    const warm = await httpRequest(srv, { path: '/compat/executor/execute', headers: { 'Content-Type': 'application/json', 'X-API-Key': key },
      body: { execution_id: 'warm', session_id: 'held', language: 'python', code: 'def handler(event):\n    return 0\n' } });
    assert.equal(warm.status, 200, warm.text.slice(0, 300));
    const base = kbOf(srv.pid, 'VmRSS') / 1024;
    const n = 6;
    const answers = [];
    for (let i = 0; i < n; i++) answers.push(post(i));
    // every program has read its code and sleeps: what the server holds now is what it kept of the requests
    await sleep(14000);
    const during = kbOf(srv.pid, 'VmRSS') / 1024;
    const got = await Promise.all(answers);
    got.forEach((r, i) => {
      assert.equal(r.status, 200, r.text.slice(0, 300));
      assert.equal(r.json.status, 'completed', r.text.slice(0, 300));
      assert.equal(r.json.return_value, i, r.text.slice(0, 300));
    });
    console.log(`# RSS ${during | 0} MB while ${n} programs of 30 MB run (${base | 0} MB before)`);
    // before: 2 x 30 MB per request (the body and the value parsed from it), 358 MB for six
    assert.ok(during < base + 150, `RSS ${during | 0} MB while the programs ran (${base | 0} MB before)`);
  } finally {
    await srv.close();
  }
});
