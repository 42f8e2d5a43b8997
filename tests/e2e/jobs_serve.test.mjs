// Jobs across connections and restarts: `mcpbox serve` with Streamable HTTP clients (the official SDK).
// A job of an explicit session outlives the connection that started it; after the server is killed,
// the next one reports the running job as lost (with the output it wrote) and the finished one with its exit
// status and output.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServe, httpClient, textOf, sleep, makeDataDir } from './helpers.mjs';

const servers = [];
after(async () => { for (const s of servers) await s.close().catch(() => {}); });

function ok(r, what = '') {
  assert.ok(!r.isError, `${what} unexpectedly failed: ${textOf(r)}`);
  return r.structuredContent;
}

test('a reconnecting client finds its jobs; a restart reports a running job as lost', async () => {
  const dataDir = makeDataDir();
  const srv = await startServe({ dataDir });
  servers.push(srv);
  const a = await httpClient(srv);
  const sid = ok(await a.call('session_create', {})).session_id;
  const running = ok(await a.call('execute', { language: 'shell', session_id: sid, background: true,
    code: 'echo hello; sleep 0.5; echo later; sleep 300' }));
  const finished = ok(await a.call('execute', { language: 'shell', session_id: sid, background: true,
    code: 'echo done-output; echo warn >&2; exit 4' }));
  const end = await a.call('job_wait', { job_id: finished.job_id, timeout_s: 10 });
  assert.equal(end.structuredContent.exit_code, 4);
  await a.close();

  // another connection (a new MCP session) of the same key
  const b = await httpClient(srv);
  const jobs = ok(await b.call('job_list', {})).jobs;
  const mine = jobs.find((j) => j.job_id === running.job_id);
  assert.ok(mine, `the running job is listed for the new connection: ${JSON.stringify(jobs)}`);
  assert.equal(mine.state, 'running');
  assert.equal(mine.session_id, sid);
  const st = ok(await b.call('job_status', { job_id: running.job_id }));
  assert.equal(st.stdout, 'hello\n');
  await sleep(700);
  assert.equal(ok(await b.call('job_status', { job_id: running.job_id })).stdout, 'hello\nlater\n');
  await b.close();

  await sleep(1300); // records are written behind the answers (at most 50 ms later), running jobs' output every 1 s
  srv.child.kill('SIGKILL');
  await srv.waitExit(5000);

  const srv2 = await startServe({ dataDir, key: srv.key });
  servers.push(srv2);
  const c = await httpClient(srv2);
  const lost = ok(await c.call('job_status', { job_id: running.job_id }));
  assert.equal(lost.state, 'lost');
  assert.equal(lost.running, false);
  assert.equal(lost.stdout, 'hello\nlater\n', 'a lost job keeps the output it wrote before the server died');
  assert.match(textOf(await c.call('job_status', { job_id: running.job_id })), /lost/);
  // job_wait (what a reconnecting agent calls) says lost too: no exit status was ever known, so no exit_code 0
  const waited = await c.call('job_wait', { job_id: running.job_id, timeout_s: 1 });
  assert.equal(waited.isError, true, `a lost job is not a success: ${JSON.stringify(waited)}`);
  assert.equal(waited.structuredContent.state, 'lost');
  assert.equal(waited.structuredContent.exit_code, undefined);
  assert.equal(waited.structuredContent.stdout, 'hello\nlater\n');
  assert.match(textOf(waited), /lost: it was running when the server stopped; its exit status is unknown/);
  const kept = ok(await c.call('job_status', { job_id: finished.job_id }));
  assert.equal(kept.state, 'exited');
  assert.equal(kept.exit_code, 4);
  assert.equal(kept.stdout, 'done-output\n');
  assert.equal(kept.stderr, 'warn\n');
  const listed = ok(await c.call('job_list', { session_id: sid })).jobs.map((j) => `${j.job_id}:${j.state}`);
  assert.deepEqual(listed.sort(), [`${running.job_id}:lost`, `${finished.job_id}:exited`].sort());
  // destroying the session forgets its jobs, in the records too
  ok(await c.call('session_destroy', { session_id: sid }));
  assert.equal((await c.call('job_status', { job_id: finished.job_id })).isError, true);
  await c.close();
  await srv2.close();
  servers.pop();
  const srv3 = await startServe({ dataDir, key: srv.key });
  servers.push(srv3);
  const d = await httpClient(srv3);
  const after3 = ok(await d.call('job_list', {})).jobs;
  assert.equal(after3.length, 0, 'no job of the destroyed session comes back');
  await d.close();
});

test('a server that stops (SIGTERM) records its running jobs as lost, not as killed by SIGKILL', async () => {
  const dataDir = makeDataDir();
  const srv = await startServe({ dataDir });
  servers.push(srv);
  const a = await httpClient(srv);
  const sid = ok(await a.call('session_create', {})).session_id;
  const running = ok(await a.call('execute', { language: 'shell', session_id: sid, background: true,
    code: 'echo started; sleep 300' }));
  await sleep(300);
  assert.equal(ok(await a.call('job_status', { job_id: running.job_id })).stdout, 'started\n');
  ok(await a.call('execute', { language: 'shell', session_id: sid, code: 'echo before-restart' }));
  const polled = ok(await a.call('session_logs', { session_id: sid }));
  assert.ok(polled.next_offset > 0);
  await a.close();
  await srv.close({ keepData: true });
  servers.pop();

  const srv2 = await startServe({ dataDir, key: srv.key });
  servers.push(srv2);
  const c = await httpClient(srv2);
  const st = ok(await c.call('job_status', { job_id: running.job_id }));
  assert.equal(st.state, 'lost', `the job ran when the server stopped: ${JSON.stringify(st)}`);
  assert.equal(st.exit_code, undefined);
  assert.equal(st.signal, undefined);
  assert.equal(st.stdout, 'started\n', 'its output is kept');
  assert.match(textOf(await c.call('job_status', { job_id: running.job_id })), /lost/);
  const listed = ok(await c.call('job_list', { session_id: sid })).jobs;
  assert.deepEqual(listed.map((j) => j.state), ['lost']);
  const waited = await c.call('job_wait', { job_id: running.job_id, timeout_s: 1 });
  assert.equal(waited.isError, true);
  assert.equal(waited.structuredContent.state, 'lost');
  assert.equal(waited.structuredContent.exit_code, undefined);
  // the session log starts afresh with the new server: polling on with the old offset still gets what is new
  ok(await c.call('execute', { language: 'shell', session_id: sid, code: 'echo after-restart' }));
  const logs = await c.call('session_logs', { session_id: sid, since: polled.next_offset });
  assert.deepEqual(ok(logs).entries.map((e) => e.text), ['after-restart\n'], JSON.stringify(logs.structuredContent));
  assert.equal(logs.structuredContent.next_offset, logs.structuredContent.total_bytes);
  assert.match(textOf(logs), /past the end of this log/);
  await c.close();
});

test('kernel cells that became jobs: a stop records a running one as lost, a finished one keeps its end', async () => {
  const dataDir = makeDataDir();
  const srv = await startServe({ dataDir });
  servers.push(srv);
  const a = await httpClient(srv);
  const sid = ok(await a.call('session_create', {})).session_id;
  const cell = (code) => a.call('execute', { language: 'python', kernel: true, session_id: sid, wait_s: 1, code });
  ok(await cell('pass'));	// the kernel is up
  const done = ok(await cell('import time\nprint("cell-one", flush=True)\ntime.sleep(1.5)\nprint("cell-two")'));
  assert.equal(done.running, true);
  const end = await a.call('job_wait', { job_id: done.job_id, timeout_s: 10 });
  assert.equal(end.structuredContent.status, 'ok', textOf(end));
  const running = ok(await cell('import time\nprint("cell-started", flush=True)\ntime.sleep(300)'));
  assert.equal(running.running, true);
  assert.equal(running.stdout, 'cell-started\n');
  await a.close();
  await srv.close({ keepData: true });
  servers.pop();

  const srv2 = await startServe({ dataDir, key: srv.key });
  servers.push(srv2);
  const c = await httpClient(srv2);
  const st = ok(await c.call('job_status', { job_id: running.job_id }));
  assert.equal(st.state, 'lost', `the cell ran when the server stopped: ${JSON.stringify(st)}`);
  assert.equal(st.kind, 'kernel_cell');
  assert.equal(st.stdout, 'cell-started\n', 'its output is kept');
  const kept = await c.call('job_wait', { job_id: done.job_id, timeout_s: 1 });
  assert.ok(!kept.isError, textOf(kept));
  assert.equal(kept.structuredContent.kind, 'kernel_cell');
  assert.equal(kept.structuredContent.status, 'ok');
  assert.equal(kept.structuredContent.stdout, 'cell-one\ncell-two\n');
  assert.match(textOf(kept), /cell-two\n\[ok, In \[\d+\]\]/);
  await c.close();
});
