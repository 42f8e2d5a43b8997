// Kernel cells past wait_s (execute {kernel: true}): a cell still running answers with the output so far,
// running: true and a job_id, keeps running in the kernel, and job_wait / job_status / job_cancel /
// job_list follow it as they follow a program. The config's wait (2 s here) is the default wait_s.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { okResult, startClient, textOf, makeDataDir } from './helpers.mjs';

let srv;
let sid;
before(async () => {
  const dataDir = makeDataDir();
  fs.writeFileSync(path.join(dataDir, 'config.json'), JSON.stringify({ wait: '2s' }));
  srv = await startClient({ dataDir });
  // listTools first: the SDK then validates every structuredContent against the tool's outputSchema
  await srv.client.listTools();
  sid = (await srv.call('session_create', {})).structuredContent.session_id;
});
after(async () => { await srv?.close(); });

const ok = okResult;
// a hard 5 s limit per call, as clients with a fixed timeout have (progress does not extend it)
const cell = (code, extra = {}) =>
  srv.call('execute', { language: 'python', kernel: true, code, session_id: sid, ...extra }, { timeout: 5000 });
const wait = (job_id, extra = {}) => srv.call('job_wait', { job_id, timeout_s: 4, ...extra }, { timeout: 5000 });

describe('kernel cells as jobs', () => {
  test('a cell past wait_s answers with a job_id; job_wait ends it; its variables persist', async () => {
    ok(await cell('import time\nx = 0'));	// the kernel is up: the timings below are the cell's
    const t0 = Date.now();
    const r = await cell('import time\nx = 1\nprint("start", flush=True)\ntime.sleep(4)\nprint("done")\nx = 2',
      { wait_s: 1 });
    const took = Date.now() - t0;
    const sc = ok(r);
    assert.ok(took >= 900 && took < 2500, `answered after ${took} ms`);
    assert.equal(sc.running, true);
    assert.equal(sc.kind, 'kernel_cell');
    assert.match(sc.job_id, /^job_/);
    assert.equal(sc.stdout, 'start\n');
    assert.match(textOf(r), /still running after 1 s \(wait_s\)/);

    const list = ok(await srv.call('job_list', { session_id: sid })).jobs;
    const mine = list.find((j) => j.job_id === sc.job_id);
    assert.equal(mine?.running, true, JSON.stringify(list));
    assert.equal(mine.kind, 'kernel_cell');
    assert.match(mine.command, /x = 1/);

    const end = await wait(sc.job_id, { since_offset: sc.next_offset });
    assert.ok(!end.isError, textOf(end));
    const e = end.structuredContent;
    assert.equal(e.running, false);
    assert.equal(e.state, 'exited');
    assert.equal(e.status, 'ok');
    assert.equal(e.stdout, 'done\n');
    assert.ok(e.execution_count > 0);
    assert.match(textOf(end), /done\n\[ok, In \[\d+\]\]/);
    const next = ok(await cell('print(x)'));
    assert.equal(next.stdout, '2\n', 'the cell ran to its end in the kernel');
    assert.equal(next.kernel.started, false, 'the same kernel');
  });

  test('the config wait is the default wait_s', async () => {
    const t0 = Date.now();
    const r = await cell('import time\ntime.sleep(3.5)\nprint("late")');
    const sc = ok(r);
    const took = Date.now() - t0;
    assert.ok(took >= 1900 && took < 3400, `answered after ${took} ms`);
    assert.equal(sc.running, true);
    assert.match(textOf(r), /still running after 2 s \(wait_s\)/);
    const end = await wait(sc.job_id);
    assert.equal(end.structuredContent.stdout, 'late\n');
    assert.equal(end.structuredContent.state, 'exited');
  });

  test('a cell sent while an earlier one runs as a job waits behind it, as in Jupyter', async () => {
    const first = ok(await cell('import time\ntime.sleep(2.5)\nq = "first"', { wait_s: 1 }));
    assert.equal(first.running, true);
    const second = ok(await cell('print(q)', { wait_s: 4 }));
    assert.equal(second.stdout, 'first\n', 'ran after the job, which set q');
    const end = await wait(first.job_id);
    assert.equal(end.structuredContent.state, 'exited');
  });

  test('job_cancel interrupts the cell and keeps the kernel and its variables', async () => {
    ok(await cell('kept = 7'));
    const sc = ok(await cell('import time\nprint("looping", flush=True)\nwhile True:\n    time.sleep(0.05)', { wait_s: 1 }));
    assert.equal(sc.running, true);
    const c = await srv.call('job_cancel', { job_id: sc.job_id }, { timeout: 5000 });
    assert.ok(!c.isError, textOf(c));
    assert.equal(c.structuredContent.state, 'cancelled');
    assert.equal(c.structuredContent.interrupted, true);
    assert.match(textOf(c), /interrupted; the kernel keeps its state/);
    assert.match(textOf(c), /KeyboardInterrupt/);
    const after = ok(await cell('print(kept)'));
    assert.equal(after.stdout, '7\n');
    assert.equal(after.kernel.started, false, 'the same kernel');
    const st = ok(await srv.call('job_status', { job_id: sc.job_id }));
    assert.equal(st.state, 'cancelled');
  });

  test('an exception after wait_s comes back with its traceback and isError', async () => {
    const sc = ok(await cell('import time\ntime.sleep(1.5)\n1 / 0', { wait_s: 1 }));
    assert.equal(sc.running, true);
    const end = await wait(sc.job_id);
    assert.equal(end.isError, true);
    assert.equal(end.structuredContent.status, 'error');
    assert.equal(end.structuredContent.error.ename, 'ZeroDivisionError');
    assert.match(textOf(end), /ZeroDivisionError/);
    assert.match(textOf(end), /\[error: ZeroDivisionError, In \[\d+\]\]/);
  });

  test('an image made after wait_s comes back as image content from job_wait', async () => {
    const sc = ok(await cell('import time\nimport matplotlib.pyplot as plt\nprint("before")\ntime.sleep(1.5)\n' +
      'plt.plot([1, 2, 1])\nplt.show()\nprint("after")', { wait_s: 1 }));
    assert.equal(sc.running, true);
    const end = await wait(sc.job_id, { since_offset: sc.next_offset });
    assert.ok(!end.isError, textOf(end));
    const imgs = end.content.filter((c) => c.type === 'image');
    assert.equal(imgs.length, 1, JSON.stringify(end.content.map((c) => c.type)));
    assert.equal(imgs[0].mimeType, 'image/png');
    assert.deepEqual([...Buffer.from(imgs[0].data, 'base64').subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
    assert.match(textOf(end), /\[image\/png \d+x\d+, \d+ bytes: image 1\]\nafter\n/);
    // read again from its start: the image is there once
    const again = await wait(sc.job_id);
    assert.equal(again.content.filter((c) => c.type === 'image').length, 1);
    assert.match(again.structuredContent.stdout, /^before\n/);
  });

  test('the cell\'s timeout_s still applies', async () => {
    const sc = ok(await cell('import time\ntime.sleep(30)', { wait_s: 1, timeout_s: 3 }));
    assert.equal(sc.running, true);
    const end = await wait(sc.job_id);
    assert.equal(end.structuredContent.state, 'timed_out');
    assert.equal(end.structuredContent.timed_out, true);
    assert.equal(end.isError, true);
    assert.match(textOf(end), /timed out after 3 s: interrupted/);
    ok(await cell('print("still here")'));
  });

  test('job_write refuses a kernel cell', async () => {
    const sc = ok(await cell('import time\ntime.sleep(2)', { wait_s: 1 }));
    const w = await srv.call('job_write', { job_id: sc.job_id, data: 'x\n' });
    assert.equal(w.isError, true);
    assert.match(textOf(w), /kernel cell/);
    await wait(sc.job_id);
  });

  test('session_destroy ends a cell job with its kernel: a waiter is told, then the job is gone', async () => {
    const s2 = ok(await srv.call('session_create', {})).session_id;
    const sc = ok(await srv.call('execute', { language: 'python', kernel: true, session_id: s2, wait_s: 1,
      code: 'import time\nprint("up", flush=True)\ntime.sleep(60)' }, { timeout: 60000 }));
    assert.equal(sc.running, true);
    const waiting = srv.call('job_wait', { job_id: sc.job_id, timeout_s: 20 });
    ok(await srv.call('session_destroy', { session_id: s2 }));
    const w = await waiting;
    assert.equal(w.isError, true, textOf(w));
    assert.equal(w.structuredContent.running, false);
    // as a program's job that dies with its session: cancelled, saying why
    assert.equal(w.structuredContent.state, 'cancelled', JSON.stringify(w.structuredContent));
    assert.equal(w.structuredContent.session_ended, 'destroyed');
    assert.ok(['failed', 'died'].includes(w.structuredContent.status), w.structuredContent.status);
    assert.match(textOf(w), /up\n\[killed: its session was destroyed\]/);
    const st = await srv.call('job_status', { job_id: sc.job_id });
    assert.equal(st.isError, true);
    assert.match(textOf(st), /not found/);
  });
});
