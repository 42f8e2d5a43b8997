// Background jobs (execute background / wait_s, job_status, job_wait, job_write, job_cancel, job_list),
// through the official SDK client over stdio, with a small per-job output cap and job count.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { okResult, errResult, startClient, textOf, makeDataDir, poll, hostPidsMatching, uniqueSleepSeconds } from './helpers.mjs';

let srv;
let sid;
before(async () => {
  const dataDir = makeDataDir();
  fs.writeFileSync(path.join(dataDir, 'config.json'), JSON.stringify({ job_output: '64k', jobs_per_session: 3 }));
  srv = await startClient({ dataDir });
  // listTools first: the SDK then validates every structuredContent against the tool's outputSchema
  await srv.client.listTools();
  const r = await srv.call('session_create', {});
  sid = r.structuredContent.session_id;
});
after(async () => { await srv?.close(); });

const ok = okResult;
const err = errResult;
const bg = (code, extra = {}) => srv.call('execute', { language: 'shell', code, background: true, session_id: sid, ...extra });
const status = (job_id, extra = {}) => srv.call('job_status', { job_id, ...extra });
async function finishAll() { // keep the session under its job limit between tests
  const list = ok(await srv.call('job_list', { session_id: sid })).jobs;
  for (const j of list) if (j.running) ok(await srv.call('job_cancel', { job_id: j.job_id }));
}

describe('background jobs', () => {
  test('execute background answers at once with a job_id; job_status follows its output by offset', async () => {
    const t0 = Date.now();
    const r = ok(await bg('echo first; sleep 1; echo second; echo oops >&2; sleep 0.5; exit 3'));
    assert.ok(Date.now() - t0 < 1000, 'answered before the program ended');
    assert.equal(r.running, true);
    assert.match(r.job_id, /^job_/);
    assert.equal(r.session_id, sid);
    const first = await poll(async () => {
      const s = ok(await status(r.job_id));
      return s.stdout.includes('first') ? s : null;
    }, { timeout: 3000 });
    assert.ok(first, 'first line seen while running');
    assert.equal(first.state, 'running');
    const done = await poll(async () => {
      const s = ok(await status(r.job_id, { since_offset: first.next_offset }));
      return s.state !== 'running' ? s : null;
    }, { timeout: 5000, interval: 100 });
    assert.equal(done.state, 'exited');
    assert.equal(done.exit_code, 3);
    assert.equal(done.stdout, 'second\n', 'only what came after next_offset');
    assert.equal(done.stderr, 'oops\n');
    assert.equal(done.since_offset, first.next_offset);
    assert.equal(done.next_offset, done.total_bytes);
    assert.equal(done.dropped_bytes, 0);
    const all = ok(await status(r.job_id));
    assert.equal(all.stdout, 'first\nsecond\n');
    assert.match(textOf(await status(r.job_id)), /exit_code 3/);
  });

  test('output beyond the cap drops the oldest and says so', async () => {
    // 200 lines of 1000 bytes = 200 kB through a 64 kB cap
    const r = ok(await bg('for i in $(seq 1 200); do printf "%04d%0996d\\n" $i 0; done'));
    const w = ok(await srv.call('job_wait', { job_id: r.job_id, timeout_s: 20, since_offset: 0 }));
    assert.equal(w.exit_code, 0);
    assert.ok(w.dropped_bytes > 100000, `dropped ${w.dropped_bytes}`);
    assert.ok(w.stdout.length <= 65536 && w.stdout.length > 30000, `kept ${w.stdout.length}`);
    assert.ok(w.stdout.endsWith('0200' + '0'.repeat(996) + '\n'), 'the newest line is kept');
    assert.ok(!w.stdout.includes('\n0001'), 'the oldest are gone');
    const s = ok(await status(r.job_id));
    assert.equal(s.total_bytes, 200 * 1001);
    assert.equal(s.since_offset, s.total_bytes - s.stdout.length);
    assert.match(textOf(await status(r.job_id)), /bytes of older output were dropped/);
  });

  test('job_write feeds a program that reads its stdin; eof closes it', async () => {
    const r = ok(await bg('while read -r line; do echo "got $line"; done; echo "stdin closed"'));
    let w = ok(await srv.call('job_write', { job_id: r.job_id, data: 'alpha\n' }));
    assert.equal(w.written, 6);
    const s = await poll(async () => {
      const x = ok(await status(r.job_id));
      return x.stdout.includes('got alpha') ? x : null;
    }, { timeout: 3000 });
    assert.ok(s && s.stdin_open, 'answered while stdin is open');
    w = ok(await srv.call('job_write', { job_id: r.job_id, data: 'beta\n', eof: true }));
    assert.equal(w.stdin_open, false);
    const end = ok(await srv.call('job_wait', { job_id: r.job_id, timeout_s: 5 }));
    assert.equal(end.stdout, 'got alpha\ngot beta\nstdin closed\n');
    err(await srv.call('job_write', { job_id: r.job_id, data: 'late\n' }), 'has ended');
  });

  test('job_wait times out with running: true, then returns like execute', async () => {
    const r = ok(await bg('echo start; sleep 3.5; echo end; exit 7'));
    const t0 = Date.now();
    const w1 = ok(await srv.call('job_wait', { job_id: r.job_id, timeout_s: 1 }));
    const took = Date.now() - t0;
    assert.ok(took >= 900 && took < 1900, `waited ${took} ms`);
    assert.equal(w1.running, true);
    assert.equal(w1.stdout, 'start\n');
    const progress = [];
    const w2 = await srv.call('job_wait', { job_id: r.job_id, timeout_s: 10, since_offset: w1.next_offset },
      { onprogress: (p) => progress.push(p) });
    assert.equal(w2.isError, true, 'a non-zero exit is an error, as for execute');
    assert.equal(w2.structuredContent.exit_code, 7);
    assert.equal(w2.structuredContent.stdout, 'end\n');
    assert.equal(w2.structuredContent.running, false);
    assert.match(textOf(w2), /\[exit_code 7\]/);
    assert.ok(progress.length >= 1, 'progress while waiting');
  });

  test('job_cancel kills the whole tree', async () => {
    const r = ok(await bg('sleep 301 & bash -c "sleep 302 & sleep 303" & (sleep 304; echo never) & echo started; wait'));
    await poll(async () => ok(await status(r.job_id)).stdout.includes('started'), { timeout: 3000 });
    const c = await srv.call('job_cancel', { job_id: r.job_id });
    assert.equal(c.structuredContent.state, 'cancelled');
    assert.equal(c.structuredContent.signal, 'SIGKILL');
    assert.match(textOf(c), /cancelled/);
    const ps = ok(await srv.call('execute', { language: 'shell', session_id: sid,
      code: 'for p in /proc/[0-9]*; do tr "\\0" " " < $p/cmdline 2>/dev/null; echo; done | grep -c "^sleep 30[1-4]" || true' }));
    assert.equal(ps.stdout.trim(), '0', 'no process of the job is left');
    const again = ok(await srv.call('job_cancel', { job_id: r.job_id }));
    assert.equal(again.state, 'cancelled', 'cancelling an ended job is harmless');
  });

  test('job_list shows the session\'s jobs; the job limit is a clear error', async () => {
    await finishAll();
    const a = ok(await bg('sleep 30'));
    const b = ok(await bg('sleep 30'));
    const c = ok(await bg('sleep 30'));
    const list = ok(await srv.call('job_list', { session_id: sid })).jobs;
    const ids = list.map((j) => j.job_id);
    for (const j of [a, b, c]) assert.ok(ids.includes(j.job_id), `${j.job_id} listed`);
    assert.equal(list.length, 3, 'older finished jobs were pushed out by the limit of 3');
    const running = list.filter((j) => j.running);
    assert.equal(running.length, 3);
    assert.equal(running[0].command, 'sleep 30');
    err(await bg('sleep 1'), 'already runs 3 jobs');
    const all = ok(await srv.call('job_list', {})).jobs;
    assert.ok(all.length >= 3, 'without session_id: every session of the caller');
    err(await srv.call('job_list', { session_id: 'nope' }), 'not found');
    await finishAll();
    ok(await bg('true'), 'a finished job makes room');
  });

  test('handler mode (event) in the background: job_wait returns the handler\'s result', async () => {
    await finishAll();
    const started = ok(await srv.call('execute', { language: 'python', session_id: sid, background: true, event: { a: 21 },
      code: 'def handler(event):\n    print("working")\n    return {"doubled": event["a"] * 2}' }));
    const end = await srv.call('job_wait', { job_id: started.job_id, timeout_s: 20 });
    assert.deepEqual(ok(end, 'job_wait').result, { doubled: 42 }, JSON.stringify(end));
    assert.equal(end.structuredContent.stdout, 'working\n');
    assert.match(textOf(end), /\[result\] \{"doubled":42\}/);
  });

  test('unknown jobs and bad arguments', async () => {
    err(await status('job_nope'), 'not found');
    err(await srv.call('job_wait', { job_id: 'job_nope' }), 'not found');
    err(await srv.call('job_cancel', { job_id: 'job_nope' }), 'not found');
    err(await srv.call('job_write', { job_id: 'job_nope', data: 'x' }), 'not found');
    err(await srv.call('job_status', {}), 'job_id');
    err(await srv.call('execute', { language: 'shell', code: 'true', wait_s: 0 }), 'wait_s');
  });

  test('wait_s: a long foreground execute answers in time with a job_id (client with a hard 4 s limit)', async () => {
    await finishAll();
    const t0 = Date.now();
    // the SDK's request timeout does not reset on progress by default: a hard limit, as in most clients
    const r = await srv.call('execute', { language: 'shell', session_id: sid, wait_s: 2,
      code: 'echo before; sleep 4; echo after; exit 5' }, { timeout: 4000 });
    const took = Date.now() - t0;
    assert.ok(took >= 1900 && took < 3500, `answered after ${took} ms`);
    const sc = ok(r);
    assert.equal(sc.running, true);
    assert.equal(sc.stdout, 'before\n');
    assert.ok(sc.exit_code === undefined, 'no exit code yet');
    assert.match(textOf(r), /still running after 2 s/);
    assert.match(textOf(r), /running for 2 s/, 'the two times agree (the run started a few ms after the call)');
    const end = await srv.call('job_wait', { job_id: sc.job_id, timeout_s: 3, since_offset: sc.next_offset }, { timeout: 4000 });
    assert.equal(end.structuredContent.exit_code, 5);
    assert.equal(end.structuredContent.stdout, 'after\n');
  });

  test('wait_s: timeout_s still applies to the job', async () => {
    const r = ok(await srv.call('execute', { language: 'shell', session_id: sid, wait_s: 1, timeout_s: 2,
      code: 'sleep 10' }));
    assert.equal(r.running, true);
    const end = await srv.call('job_wait', { job_id: r.job_id, timeout_s: 5 });
    assert.equal(end.structuredContent.timed_out, true);
    assert.equal(end.structuredContent.state, 'timed_out');
    assert.match(textOf(end), /timed out after 2 s/);
  });

  test('a short foreground execute is unchanged by wait_s', async () => {
    const r = ok(await srv.call('execute', { language: 'python', session_id: sid, code: 'print(6*7)' }));
    assert.equal(r.stdout, '42\n');
    assert.equal(r.exit_code, 0);
    assert.equal(r.running, undefined);
  });

  test('background jobs in the connection\'s own session (no session_id) work and die with it', async () => {
    const r = ok(await srv.call('execute', { language: 'shell', code: 'echo implicit', background: true }));
    const w = ok(await srv.call('job_wait', { job_id: r.job_id, timeout_s: 5 }));
    assert.equal(w.stdout, 'implicit\n');
  });

  test('session_stop ends its jobs as cancelled, saying so; a foreground execute is told too', async () => {
    const s3 = ok(await srv.call('session_create', {})).session_id;
    const secs = uniqueSleepSeconds(306);
    const r = ok(await srv.call('execute', { language: 'shell', session_id: s3, background: true,
      code: `sleep ${secs}` }));
    const fg = srv.call('execute', { language: 'shell', session_id: s3, code: `sleep ${secs + 1}` });
    assert.ok(await poll(() => hostPidsMatching(`sleep ${secs + 1}`).length > 0, { timeout: 5000, interval: 50 }), 'both sleeps started');
    ok(await srv.call('session_stop', { session_id: s3 }));
    const f = await fg;
    assert.equal(f.structuredContent.session_ended, 'stopped');
    assert.match(textOf(f), /\[killed: its session was stopped\]/);
    const s = ok(await status(r.job_id)); // a stopped session keeps its jobs
    assert.equal(s.state, 'cancelled');
    assert.equal(s.running, false);
    const w = await srv.call('job_wait', { job_id: r.job_id, timeout_s: 1 });
    assert.equal(w.structuredContent.session_ended, 'stopped');
    assert.match(textOf(w), /\[killed: its session was stopped\]/);
    ok(await srv.call('session_destroy', { session_id: s3 }));
  });

  test('session_destroy kills its jobs and forgets them', async () => {
    const s2 = ok(await srv.call('session_create', {})).session_id;
    // a number of seconds no other suite on the host uses; the sleep is seen running before the destroy
    const secs = uniqueSleepSeconds(305);
    const r = ok(await srv.call('execute', { language: 'shell', session_id: s2, background: true,
      code: `sleep ${secs}` }));
    const waiting = srv.call('job_wait', { job_id: r.job_id, timeout_s: 20 });
    assert.ok(await poll(() => hostPidsMatching(`sleep ${secs}`).length > 0, { timeout: 5000, interval: 50 }), 'the sleep started');
    ok(await srv.call('session_destroy', { session_id: s2 }));
    const w = await waiting;
    assert.equal(w.structuredContent.signal, 'SIGKILL', 'the waiter is told the job was killed');
    assert.equal(w.structuredContent.state, 'cancelled');
    assert.equal(w.structuredContent.session_ended, 'destroyed');
    assert.match(textOf(w), /\[killed: its session was destroyed\]/);
    err(await status(r.job_id), 'not found');
    const gone = await poll(() => hostPidsMatching(`sleep ${secs}`).length === 0, { timeout: 5000, interval: 50 });
    assert.ok(gone, `no sleep ${secs} left on the host`);
  });
});

describe('session_logs', () => {
  test('every execution\'s output, foreground and job, with time, stream and program; tail and since', async () => {
    const s3 = ok(await srv.call('session_create', {})).session_id;
    ok(await srv.call('execute', { language: 'shell', session_id: s3, code: 'echo fg-one; echo fg-err >&2' }));
    const j = ok(await srv.call('execute', { language: 'shell', session_id: s3, background: true,
      code: 'printf "job-a\\njob-b\\njob-c\\n"' }));
    ok(await srv.call('job_wait', { job_id: j.job_id, timeout_s: 5 }));
    const all = ok(await srv.call('session_logs', { session_id: s3 }));
    const texts = all.entries.map((e) => `${e.stream}:${e.text}`);
    assert.ok(texts.includes('stdout:fg-one\n'), JSON.stringify(texts));
    assert.ok(texts.includes('stderr:fg-err\n'), JSON.stringify(texts));
    const jobEntry = all.entries.find((e) => e.job_id === j.job_id);
    assert.equal(jobEntry?.text, 'job-a\njob-b\njob-c\n');
    for (const e of all.entries) assert.match(e.time, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/);
    assert.equal(all.next_offset, all.total_bytes);
    const txt = textOf(await srv.call('session_logs', { session_id: s3 }));
    assert.match(txt, new RegExp(`stdout ${j.job_id}: job-a`));
    const tail = ok(await srv.call('session_logs', { session_id: s3, tail: 2 }));
    assert.deepEqual(tail.entries.map((e) => e.text), ['job-b\njob-c\n']);
    ok(await srv.call('execute', { language: 'shell', session_id: s3, code: 'echo later' }));
    const since = ok(await srv.call('session_logs', { session_id: s3, since: all.next_offset }));
    assert.deepEqual(since.entries.map((e) => e.text), ['later\n']);
    err(await srv.call('session_logs', { session_id: 'nope' }), 'not found');
  });

  test('the session log is bounded: a flood keeps the newest and says what was dropped', async () => {
    const s4 = ok(await srv.call('session_create', {})).session_id;
    // 3 MB through the default 1 MiB log
    ok(await srv.call('execute', { language: 'python', session_id: s4,
      code: 'import sys\nfor i in range(3000): sys.stdout.write("%06d" % i + "x" * 993 + "\\n")' }));
    const r = ok(await srv.call('session_logs', { session_id: s4, max_bytes: 67108864 }));
    const kept = r.entries.reduce((n, e) => n + e.text.length, 0);
    assert.ok(kept <= 1 << 20 && kept > 500000, `kept ${kept}`);
    assert.equal(r.total_bytes, 3000 * 1000);
    assert.ok(r.entries.at(-1).text.endsWith('002999' + 'x'.repeat(993) + '\n'));
    const r0 = ok(await srv.call('session_logs', { session_id: s4, since: 0, max_bytes: 10 }));
    assert.ok(r0.dropped_bytes > 1000000, `dropped ${r0.dropped_bytes}`);
    ok(await srv.call('session_destroy', { session_id: s4 }));
  });
});
